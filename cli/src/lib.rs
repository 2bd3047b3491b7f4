//! `trinity`: command-line tools around trinity-core: `trinity mock-server`,
//! `trinity cache validate|purge`, `trinity heal`, `trinity report`,
//! `trinity tokenizers list|fetch`, `trinity batch run|status`. One module per subcommand.
//!
//! One implementation for every way the command ships: the `trinity` binary (src/main.rs), the
//! Python wheel's `trinity` console script and the npm package's `trinity` bin all call [`run`]
//! with their argv.

mod batch;
mod cache;
mod heal;
mod mock_server;
mod report;
mod tokenizers;

use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::io::Write;

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
    /// The performance report (HTML or PDF) from request-log JSON Lines files.
    Report(report::Args),
    /// Crash-safe batch runs: `run INPUT -o OUTPUT [--resume]`, `status OUTPUT`.
    Batch(batch::Args),
    /// Install or list the open-model tokenizers (Llama 3, Qwen 3, DeepSeek V3, Gemma 3, Mistral).
    Tokenizers(tokenizers::Args),
}

/// Runs the command line `args` (the first item is the program name) and returns the process
/// exit status: 0 on success, 2 for bad input or flags (as clap does), 1 otherwise. Never exits
/// the process itself, so a host (Python, Node) keeps control; stdout is flushed before it returns.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let status = match Cli::try_parse_from(args) {
        // --help and --version arrive here too, with exit code 0.
        Err(e) => {
            let _ = e.print();
            u8::try_from(e.exit_code()).unwrap_or(2)
        }
        Ok(cli) => {
            let result = match cli.command {
                Command::MockServer(args) => mock_server::run(args).map(|()| 0),
                Command::Cache(args) => cache::run(args).map(|()| 0),
                Command::Heal(args) => heal::run(args),
                Command::Report(args) => report::run(args).map(|()| 0),
                Command::Batch(args) => batch::run(args),
                Command::Tokenizers(args) => tokenizers::run(args).map(|()| 0),
            };
            match result {
                Ok(status) => status,
                Err(e) => {
                    eprintln!("trinity: error [{}]: {}", e.code(), e.message);
                    // 2 for bad input (as clap does for bad flags), 1 for everything else.
                    match e.kind {
                        trinity_core::ErrorKind::Config | trinity_core::ErrorKind::InvalidInput => {
                            2
                        }
                        _ => 1,
                    }
                }
            }
        }
    };
    let _ = std::io::stdout().flush();
    status
}
