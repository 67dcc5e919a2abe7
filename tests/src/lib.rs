//! End-to-end tests of the whole system live in `tests/tests/`; this library is empty. The test
//! vectors shared by Rust and Solidity live in `tests/vectors/`.
