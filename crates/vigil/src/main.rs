//! The `vigil` binary: command line and wiring only.
fn main() {}
