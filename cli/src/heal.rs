//! `trinity heal page.html -o out.html [--guardian]`: the core's heal, or with `--guardian` the
//! Python guardian (a real Chromium check → targeted heal → re-check), which needs
//! `pip install trinity-core[guardian]`; the Rust CLI only hands the page over to it.

use clap::Args as ClapArgs;
use std::path::PathBuf;
use std::process::Command;
use trinity_core::healer::{self, HealOptions};
use trinity_core::{Error, Result};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The page to heal (UTF-8 HTML; `.css` files are healed as a stylesheet).
    input: PathBuf,
    /// Where to write the healed page (default: standard output).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Check in headless Chromium and heal what still overflows (runs `python3 -m
    /// trinity_core.guardian`; set TRINITY_PYTHON to pick the interpreter).
    #[arg(long)]
    guardian: bool,
    /// Heal options as JSON (e.g. guardian findings): `{"findings": [...], "viewport": false}`.
    #[arg(long, value_name = "JSON")]
    options: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    if args.guardian {
        return guardian(&args);
    }
    let bytes = std::fs::read(&args.input)
        .map_err(|e| Error::io(&format!("reading {}", args.input.display()), e))?;
    let options = match &args.options {
        Some(text) => HealOptions::from_json(
            serde_json::from_str(text)
                .map_err(|e| Error::invalid_input(format!("--options: invalid JSON ({e})")))?,
        )?,
        None => HealOptions::default(),
    };
    let source = healer::utf8(&bytes, &args.input.display().to_string())?;
    let is_css = args
        .input
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("css"));
    let (text, fixes) = if is_css {
        let h = healer::heal_css(source, &options)?;
        (h.css, h.fixes)
    } else {
        let h = healer::heal_html(source, &options)?;
        (h.html, h.fixes)
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| Error::io(&format!("writing {}", path.display()), e))?,
        None => print!("{text}"),
    }
    for f in &fixes {
        eprintln!("trinity heal: {} {} — {}", f.rule, f.selector, f.reason);
    }
    eprintln!("trinity heal: {} fixes", fixes.len());
    Ok(())
}

fn guardian(args: &Args) -> Result<()> {
    let python = std::env::var("TRINITY_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "trinity_core.guardian", "heal"])
        .arg(&args.input);
    if let Some(out) = &args.output {
        cmd.arg("-o").arg(out);
    }
    let status = cmd.status().map_err(|e| {
        Error::config(format!(
            "--guardian runs `{python} -m trinity_core.guardian` ({e}): pip install trinity-core[guardian], or set TRINITY_PYTHON"
        ))
    })?;
    match status.code() {
        Some(0) => Ok(()),
        // The guardian wrote the page and said it still overflows: same exit status, no error.
        Some(1) => std::process::exit(1),
        _ => Err(Error::config(format!(
            "the guardian failed ({status}): pip install trinity-core[guardian] and a Chromium (apt-get install chromium)"
        ))),
    }
}
