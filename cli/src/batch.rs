//! `trinity batch run INPUT -o OUTPUT` and `trinity batch status OUTPUT`: the core's crash-safe
//! batch runner (trinity_core::batch) with signals, a progress bar on terminals and the engine's
//! log lines on stderr.
//!
//! The first SIGINT/SIGTERM admits nothing new, lets in-flight requests finish within
//! `--grace-s` (else cancels them), writes what finished and exits 130/143; a second one exits
//! at once, the journal still valid.

use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;
use trinity_core::batch::{self, BatchOptions, Control, Progress, Summary};
use trinity_core::config::{Config, EnvOverrides, LogFormat, LogLevel};
use trinity_core::llm::Client;
use trinity_core::{rt, Error, Result};

#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ShowProgress {
    /// On a terminal, unless logs are JSON or TERM=dumb.
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

#[derive(Subcommand, Debug)]
enum Action {
    /// Send every request of a JSON Lines file (OpenAI Batch lines accepted), results by custom_id.
    Run {
        input: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        /// Config file (YAML or JSON): providers, routes, limits, budgets ($TRINITY_CONFIG).
        #[arg(long, env = "TRINITY_CONFIG")]
        config: PathBuf,
        /// Continue the run into OUTPUT: requests already done are not sent again.
        #[arg(long)]
        resume: bool,
        /// With --resume, send the requests that failed again.
        #[arg(long, requires = "resume")]
        retry_failed: bool,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// After a signal, seconds in-flight requests may take before they are cancelled.
        #[arg(long)]
        grace_s: Option<f64>,
        /// Print the request ids of failed requests.
        #[arg(long)]
        trace_ids: bool,
        /// Engine logs and the summary as JSON lines (no progress bar).
        #[arg(long)]
        json_logs: bool,
        #[arg(long, value_enum, default_value_t = ShowProgress::Auto)]
        progress: ShowProgress,
        /// Engine log lines on stderr at this level and above (one line per call at info).
        #[arg(long, value_enum, default_value_t = Level::Warn)]
        log_level: Level,
    },
    /// Done, failed, remaining and cost of the run into OUTPUT (from its journal).
    Status {
        output: PathBuf,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        trace_ids: bool,
    },
}

/// The exit status of a run stopped by a signal: 128 + its number.
static SIGNALLED: AtomicU8 = AtomicU8::new(0);

pub fn run(args: Args) -> Result<u8> {
    match args.action {
        Action::Status {
            output,
            json,
            trace_ids,
        } => {
            let s = batch::status(&output)?;
            print_summary(&s, json, trace_ids);
            Ok(0)
        }
        Action::Run {
            input,
            output,
            config,
            resume,
            retry_failed,
            concurrency,
            grace_s,
            trace_ids,
            json_logs,
            progress,
            log_level,
        } => {
            let mut cfg = Config::from_file(&config.to_string_lossy(), EnvOverrides::Apply)?;
            if json_logs {
                cfg.logging.format = LogFormat::Json;
            }
            cfg.logging.level = match log_level {
                Level::Error => LogLevel::Error,
                Level::Warn => LogLevel::Warn,
                Level::Info => LogLevel::Info,
                Level::Debug => LogLevel::Debug,
            };
            let grace = match grace_s {
                Some(s) if !(s.is_finite() && s >= 0.0) => {
                    return Err(Error::invalid_input(
                        "--grace-s: expected seconds, at least 0",
                    ))
                }
                s => s.map(Duration::from_secs_f64),
            };
            let client = Arc::new(Client::new(cfg)?);
            let opts = BatchOptions {
                resume,
                retry_failed,
                concurrency,
                grace,
                ..BatchOptions::new(input, output)
            };
            let show = match progress {
                ShowProgress::Always => true,
                ShowProgress::Never => false,
                ShowProgress::Auto => {
                    !json_logs
                        && std::io::stderr().is_terminal()
                        && std::env::var("TERM").map_or(true, |t| t != "dumb")
                }
            };
            let bar = show.then(progress_bar);
            let sink_bar = bar.clone();
            client.on_log(Arc::new(move |records| {
                let write = || {
                    for r in records {
                        eprintln!("{}", r.line);
                    }
                };
                match &sink_bar {
                    Some(b) => b.suspend(write),
                    None => write(),
                }
            }));
            let control = Control::new();
            let counters = Arc::new(Progress::default());
            rt::spawn(watch_signals(control.clone()));
            let drawing = bar.map(|b| draw(b, counters.clone()));
            let result = rt::block_on(batch::run(client, &opts, control, counters));
            if let Some((b, stop)) = drawing {
                stop.cancel();
                b.finish_and_clear();
            }
            trinity_core::observe::log::flush(Duration::from_secs(2));
            let summary = result?;
            print_summary(&summary, json_logs, trace_ids);
            Ok(match SIGNALLED.load(Ordering::SeqCst) {
                0 if summary.stopped.is_some() => 1,
                0 => 0,
                n => n,
            })
        }
    }
}

/// First signal: stop admitting (the run ends itself); second: exit now.
async fn watch_signals(control: Arc<Control>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    let mut seen = 0;
    loop {
        let (name, code) = tokio::select! {
            _ = int.recv() => ("SIGINT", 130u8),
            _ = term.recv() => ("SIGTERM", 143u8),
        };
        seen += 1;
        if seen == 1 {
            SIGNALLED.store(code, Ordering::SeqCst);
            eprintln!("trinity batch: {name}: finishing what is in flight (again to stop at once)");
            control.stop(&format!("signal: {name}"));
        } else {
            eprintln!("trinity batch: {name} again: stopping now; --resume continues");
            std::process::exit(i32::from(code));
        }
    }
}

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(10));
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} {per_sec} eta {eta}")
            .expect("valid template"),
    );
    bar
}

/// Redraws from the counters ten times a second, on its own thread.
fn draw(bar: ProgressBar, c: Arc<Progress>) -> (ProgressBar, tokio_util_token::Token) {
    let stop = tokio_util_token::Token::default();
    let (b, s) = (bar.clone(), stop.clone());
    std::thread::spawn(move || {
        while !s.is_cancelled() {
            let p = c.snapshot();
            b.set_length(p.total as u64);
            b.set_position((p.total - p.remaining) as u64);
            b.set_message(format!(
                "failed {} in flight {} ${:.4}",
                p.failed, p.in_flight, p.cost_usd
            ));
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    (bar, stop)
}

/// A flag the drawing thread polls.
mod tokio_util_token {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[derive(Clone, Default)]
    pub struct Token(Arc<AtomicBool>);

    impl Token {
        pub fn cancel(&self) {
            self.0.store(true, Ordering::Relaxed);
        }
        pub fn is_cancelled(&self) -> bool {
            self.0.load(Ordering::Relaxed)
        }
    }
}

fn print_summary(s: &Summary, json: bool, trace_ids: bool) {
    if json {
        println!("{}", serde_json::to_string(s).expect("plain data"));
        return;
    }
    println!(
        "total {}  succeeded {}  failed {}  remaining {}  cost ${:.6}",
        s.total, s.succeeded, s.failed, s.remaining, s.cost_usd
    );
    if s.skipped > 0 {
        println!("resumed: {} were done before this run", s.skipped);
    }
    if s.journal_bytes_dropped > 0 {
        println!(
            "dropped a torn journal tail of {} bytes",
            s.journal_bytes_dropped
        );
    }
    match (&s.stopped, s.complete) {
        (Some(why), _) => println!("stopped ({why}); --resume continues"),
        (None, true) => println!("complete: {}", s.output),
        (None, false) => println!("not complete; --resume continues"),
    }
    if trace_ids {
        for f in &s.failed_requests {
            println!(
                "failed {} request_id {} {}",
                f.custom_id, f.request_id, f.error
            );
        }
    }
}
