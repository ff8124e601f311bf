//! loom model checks of the shmring protocol live in `tests/`; this crate has no code of its own.
