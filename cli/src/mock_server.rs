//! `trinity mock-server`: start the mock provider, print `listening on URL`, serve until
//! SIGINT, SIGTERM or the end of stdin (so a test harness that dies takes the server with it).

use clap::Args as ClapArgs;
use std::io::Write;
use std::path::PathBuf;
use trinity_core::mock::{DefaultResponse, Fault, Latency, MockConfig, MockServer};
use trinity_core::secret::Secret;
use trinity_core::{rt, Error, Result};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Port on 127.0.0.1 (0: a free port, printed on the `listening on` line).
    #[arg(long)]
    port: Option<u16>,
    /// Fixtures file (YAML or JSON): name → {prompt_hash | prompt | match, response, ...}.
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// Mock config file (YAML or JSON); the flags below override its fields.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seed for fault rates and latency draws.
    #[arg(long)]
    seed: Option<u64>,
    /// Fixed delay before the first byte of every LLM answer.
    #[arg(long, value_name = "MS")]
    latency_ms: Option<f64>,
    /// Fixed delay between stream chunks.
    #[arg(long, value_name = "MS")]
    chunk_delay_ms: Option<f64>,
    /// A fault drawn with probability P per request (repeatable), e.g. `--fault-rate 429=0.1`.
    #[arg(long = "fault-rate", value_name = "KIND=P")]
    fault_rates: Vec<String>,
    /// Faults played in order, one per LLM request, e.g. `--script 429,ok,500,reset,ok`.
    #[arg(long, value_delimiter = ',', value_name = "KIND,...")]
    script: Vec<String>,
    /// What a 429 asks clients to wait (`retry-after-ms`; `Retry-After` rounded up to seconds).
    #[arg(long, value_name = "MS")]
    retry_after_ms: Option<u64>,
    /// Answer for unmatched prompts: `echo`, `not_found`, or any other text to answer with.
    #[arg(long, value_name = "echo|not_found|TEXT")]
    default_response: Option<String>,
    /// Require this API key (else 401 in the provider's error envelope).
    #[arg(long, env = "TRINITY_MOCK_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Keep serving when stdin closes (for running in the background).
    #[arg(long)]
    ignore_stdin: bool,
}

impl Args {
    fn into_config(self) -> Result<MockConfig> {
        let mut config = match &self.config {
            Some(path) => MockConfig::from_file(path)?,
            None => MockConfig::default(),
        };
        if let Some(port) = self.port {
            config.port = port;
        }
        if let Some(file) = self.fixtures {
            config.fixtures = None;
            config.fixtures_file = Some(file);
        }
        if let Some(seed) = self.seed {
            config.seed = seed;
        }
        if let Some(ms) = self.latency_ms {
            config.latency = Some(Latency::fixed_ms(ms));
        }
        if let Some(ms) = self.chunk_delay_ms {
            config.chunk_latency = Some(Latency::fixed_ms(ms));
        }
        for spec in &self.fault_rates {
            let (kind, p) = spec.split_once('=').ok_or_else(|| {
                Error::invalid_input(format!(
                    "--fault-rate {spec}: expected KIND=P, e.g. 429=0.1"
                ))
            })?;
            let p: f64 = p.trim().parse().map_err(|_| {
                Error::invalid_input(format!("--fault-rate {spec}: '{p}' is not a probability"))
            })?;
            config.faults.rates.insert(Fault::parse(kind)?, p);
        }
        if !self.script.is_empty() {
            config.faults.script = self
                .script
                .iter()
                .map(|s| Fault::parse(s))
                .collect::<Result<_>>()?;
        }
        if let Some(ms) = self.retry_after_ms {
            config.faults.retry_after_ms = ms;
        }
        if let Some(d) = self.default_response {
            config.default_response = match d.as_str() {
                "echo" => DefaultResponse::Echo,
                "not_found" => DefaultResponse::NotFound,
                _ => DefaultResponse::Text(d),
            };
        }
        if let Some(key) = self.api_key {
            config.api_key = Some(Secret::new(key));
        }
        Ok(config)
    }
}

pub fn run(args: Args) -> Result<()> {
    let watch_stdin = !args.ignore_stdin;
    let mut server = MockServer::start(args.into_config()?)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", server.url())
        .and_then(|_| out.flush())
        .map_err(|e| Error::io("stdout", e))?;
    drop(out);
    rt::block_on(wait_for_exit(watch_stdin))?;
    server.stop();
    Ok(())
}

/// Returns on SIGINT, SIGTERM, or (when watched) the end of stdin.
async fn wait_for_exit(watch_stdin: bool) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| Error::io("SIGTERM handler", e))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Error::io("SIGINT handler", e))?;
    let stdin_closed = async {
        if !watch_stdin {
            return std::future::pending().await;
        }
        use tokio::io::AsyncReadExt;
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 256];
        // Input is ignored; only its end matters.
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = stdin_closed => {}
    }
    Ok(())
}
