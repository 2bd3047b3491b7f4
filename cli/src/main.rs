//! `trinity`: command-line tools around trinity-core: `trinity mock-server`,
//! `trinity cache validate|purge`, `trinity heal`. One module per subcommand.

mod cache;
mod heal;
mod mock_server;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "trinity", version, about = "trinity-core command-line tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the mock LLM provider (OpenAI, Anthropic and Gemini wire formats) on loopback.
    MockServer(mock_server::Args),
    /// Maintain the response cache: `validate` counts, `purge` removes.
    Cache(cache::Args),
    /// Heal a page (or .css file) so it never scrolls sideways; --guardian checks it in Chromium.
    Heal(heal::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::MockServer(args) => mock_server::run(args),
        Command::Cache(args) => cache::run(args),
        Command::Heal(args) => heal::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trinity: error [{}]: {}", e.code(), e.message);
            // 2 for bad input (as clap does for bad flags), 1 for everything else.
            match e.kind {
                trinity_core::ErrorKind::Config | trinity_core::ErrorKind::InvalidInput => {
                    ExitCode::from(2)
                }
                _ => ExitCode::FAILURE,
            }
        }
    }
}
