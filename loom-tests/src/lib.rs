//! loom model checks of the shmpipe protocol live in `tests/`; this crate has no code of its own.
