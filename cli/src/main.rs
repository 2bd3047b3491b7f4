//! The `trinity` binary: everything is in the library ([`trinity_cli::run`]), which the Python
//! and npm packages call as well.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(trinity_cli::run(std::env::args_os()))
}

/// Whole-program allocator: see [`trinity_core::Allocator`].
#[global_allocator]
static ALLOCATOR: trinity_core::Allocator = trinity_core::Allocator;
