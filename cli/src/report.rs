//! `trinity report LOG... [-o FILE]`: the performance report (HTML or PDF) from request-log
//! files written by the JSON Lines sink, replayed through the provider monitor on the log's own
//! clock (`trinity_core::observe::replay`).

use clap::Args as ClapArgs;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;
use trinity_core::config::{Config, EnvOverrides, MonitorConfig};
use trinity_core::observe::{iso8601_ms, replay};
use trinity_core::{Error, Result};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Request-log JSON Lines files (rotated ones too, in any order).
    #[arg(required = true)]
    logs: Vec<PathBuf>,
    /// Where to write the report; `-` or none: standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// `html` or `pdf`; by default from the output's extension, else html.
    #[arg(long)]
    format: Option<String>,
    /// Config file whose `monitor` section sets the thresholds for states.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long, default_value = "trinity-core performance report")]
    title: String,
}

pub fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    let monitor = match &args.config {
        Some(file) => Config::from_file(&file.to_string_lossy(), EnvOverrides::Apply)?.monitor,
        None => MonitorConfig::default(),
    };
    let to_file = args.output.as_ref().filter(|p| p.as_os_str() != "-");
    let format = args.format.clone().unwrap_or_else(|| {
        let pdf =
            to_file.is_some_and(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf")));
        if pdf { "pdf" } else { "html" }.to_owned()
    });
    let (bytes, summary) = replay::report_from_logs(&args.logs, &monitor, &format, &args.title)?;
    match to_file {
        Some(path) => {
            std::fs::write(path, &bytes).map_err(|e| Error::io(&path.display().to_string(), e))?
        }
        None => std::io::stdout()
            .write_all(&bytes)
            .map_err(|e| Error::io("stdout", e))?,
    }
    eprintln!(
        "trinity report: {} calls, {} attempts, providers {} from {} to {}; {format} {} bytes{} in {:.1} s",
        summary.records,
        summary.attempts,
        summary.providers.join(", "),
        iso8601_ms(summary.first_ms),
        iso8601_ms(summary.last_ms),
        bytes.len(),
        to_file.map(|p| format!(" to {}", p.display())).unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
