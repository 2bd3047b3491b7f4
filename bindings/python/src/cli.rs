//! `_native.run_cli(argv)`: the wheel's `trinity` console script (trinity_core/_cli.py) runs the
//! CLI crate (cli/) — the same code as the `trinity` binary, not a second implementation.

use pyo3::prelude::*;

/// Runs the `trinity` command line `argv` (argv[0] is the program name) with the GIL released and
/// returns its exit status (0 ok, 1 failure, 2 bad input).
#[pyfunction]
pub fn run_cli(py: Python<'_>, argv: Vec<String>) -> u8 {
    py.detach(|| trinity_cli::run(argv))
}
