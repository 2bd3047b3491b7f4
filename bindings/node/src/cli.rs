//! `runCli(argv)`: the npm package's `trinity` bin (node/bin/trinity.js) runs the CLI crate
//! (cli/) — the same code as the `trinity` binary, not a second implementation.

use napi_derive::napi;

/// Runs the `trinity` command line `argv` (argv[0] is the program name) on the calling thread and
/// returns its exit status (0 ok, 1 failure, 2 bad input). For the command-line entry only: it
/// blocks the event loop until the command ends.
#[napi]
pub fn run_cli(argv: Vec<String>) -> u32 {
    u32::from(trinity_cli::run(argv))
}
