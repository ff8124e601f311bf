//! # shmpipe-c
//!
//! The C API of [shmpipe](https://docs.rs/shmpipe): the functions declared in
//! `include/shmpipe.h`, built as `libshmpipe_c.so` and `libshmpipe_c.a`. See this crate's
//! README for how to build and link a C or C++ program against it.
//!
//! As a Rust library it also gives the other bindings (`python/`) the two things they share
//! with C: the [status codes](code) every Rust error maps to, and [handles that hold a
//! reservation or a lent record across calls](held).

pub mod code;
pub mod ffi;
pub mod held;
