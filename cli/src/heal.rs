//! `trinity heal page.html -o out.html [--guardian]` or `trinity heal SITE_DIR [-o OUT_DIR]`: the
//! core's heal, or with `--guardian` the Python guardian (a real Chromium check → targeted heal →
//! re-check, pages loaded with their stylesheets), which needs `pip install trinity-core[guardian]`;
//! the Rust CLI only hands the page or site over to it.
//!
//! A site directory is healed page by page with its assets in place: in place by default, or into
//! `-o OUT_DIR` (a copy of the whole site, assets included, so the healed pages keep their links).
//! Without `--guardian` and without options, nothing changes: the core heals only guardian
//! findings unless `--options '{"safety_net": true}'` (or `viewport`, `grid`) asks for more.

use clap::Args as ClapArgs;
use std::path::{Path, PathBuf};
use std::process::Command;
use trinity_core::healer::{self, HealOptions};
use trinity_core::{Error, Result};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The page to heal (UTF-8 HTML; `.css` files are healed as a stylesheet), or a site directory
    /// (every `.html`/`.htm` page under it).
    input: PathBuf,
    /// Where to write the healed page (default: standard output), or for a site the directory to
    /// write a healed copy of it to (default: heal the site in place).
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

/// Returns the exit status: 0, or the guardian's 1 when the page still overflows.
pub fn run(args: Args) -> Result<u8> {
    if args.guardian {
        return guardian(&args);
    }
    let options = match &args.options {
        Some(text) => HealOptions::from_json(
            serde_json::from_str(text)
                .map_err(|e| Error::invalid_input(format!("--options: invalid JSON ({e})")))?,
        )?,
        None => HealOptions::default(),
    };
    if args.input.is_dir() {
        return site(&args.input, args.output.as_deref(), &options).map(|()| 0);
    }
    let (text, fixes) = heal_file(&args.input, &options)?;
    match &args.output {
        Some(path) => write(path, &text)?,
        None => print!("{text}"),
    }
    for f in &fixes {
        eprintln!("trinity heal: {} {} — {}", f.rule, f.selector, f.reason);
    }
    eprintln!("trinity heal: {} fixes", fixes.len());
    Ok(0)
}

/// One page (or `.css` stylesheet): the healed text and the fixes.
fn heal_file(path: &Path, options: &HealOptions) -> Result<(String, Vec<healer::Fix>)> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::io(&format!("reading {}", path.display()), e))?;
    let source = healer::utf8(&bytes, &path.display().to_string())?;
    if has_ext(path, &["css"]) {
        let h = healer::heal_css(source, options)?;
        Ok((h.css, h.fixes))
    } else {
        let h = healer::heal_html(source, options)?;
        Ok((h.html, h.fixes))
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(&format!("writing {}", path.display()), e))
}

fn has_ext(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Every file under `dir`, sorted (symbolic links are not followed).
fn files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let read = |e| Error::io(&format!("reading {}", dir.display()), e);
    let mut entries = std::fs::read_dir(dir)
        .map_err(read)?
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(read)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let kind = entry.file_type().map_err(read)?;
        if kind.is_dir() {
            files(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// Heals every page of a site; with `out`, first copies the whole site there so assets stay
/// beside the pages. Pages the heal leaves as they were are not rewritten.
fn site(dir: &Path, out: Option<&Path>, options: &HealOptions) -> Result<()> {
    let mut all = Vec::new();
    files(dir, &mut all)?;
    let (mut pages, mut changed, mut fixes) = (0, 0, 0);
    for path in &all {
        let rel = path.strip_prefix(dir).unwrap_or(path);
        let dest = out.map_or_else(|| path.clone(), |o| o.join(rel));
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io(&format!("creating {}", parent.display()), e))?;
        }
        if !has_ext(path, &["html", "htm"]) {
            if out.is_some() {
                std::fs::copy(path, &dest)
                    .map_err(|e| Error::io(&format!("copying {}", path.display()), e))?;
            }
            continue;
        }
        pages += 1;
        let (text, f) = heal_file(path, options)?;
        fixes += f.len();
        let same = f.is_empty() && std::fs::read(path).is_ok_and(|b| b == text.as_bytes());
        if !same {
            changed += 1;
        }
        if !same || out.is_some() {
            write(&dest, &text)?;
        }
    }
    eprintln!("trinity heal: {pages} pages, {changed} changed, {fixes} fixes");
    Ok(())
}

fn guardian(args: &Args) -> Result<u8> {
    let python = std::env::var("TRINITY_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "trinity_core.guardian", "heal"])
        .arg(&args.input);
    if let Some(out) = &args.output {
        cmd.arg("-o").arg(out);
    }
    if let Some(options) = &args.options {
        cmd.arg("--options").arg(options);
    }
    let status = cmd.status().map_err(|e| {
        Error::config(format!(
            "--guardian runs `{python} -m trinity_core.guardian` ({e}): pip install trinity-core[guardian], or set TRINITY_PYTHON"
        ))
    })?;
    match status.code() {
        Some(0) => Ok(0),
        // The guardian wrote the page and said it still overflows: same exit status, no error.
        Some(1) => Ok(1),
        _ => Err(Error::config(format!(
            "the guardian failed ({status}): pip install trinity-core[guardian] and a Chromium (apt-get install chromium)"
        ))),
    }
}
