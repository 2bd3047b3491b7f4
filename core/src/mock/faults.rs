//! Latency distributions and fault injection, deterministic for a seed.
//!
//! Each request draws one `Decision` under a mutex: the next script entry if the script is not
//! used up, else a fault by rate. Faults and latencies come from two separate ChaCha streams,
//! so turning latency on or off never changes which requests fail.

use crate::error::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

/// No sampled latency exceeds this: a heavy-tailed distribution must not hang a test run.
pub const MAX_LATENCY: Duration = Duration::from_secs(60);

/// z-score of the 99th percentile of the standard normal distribution.
const Z99: f64 = 2.326_347_874_040_841;

/// A latency distribution, in milliseconds: `{dist: fixed, ms: 5}`,
/// `{dist: uniform, min_ms: 1, max_ms: 9}`, `{dist: normal, mean_ms: 20, stddev_ms: 5}`
/// (clipped at 0) or `{dist: lognormal, p50_ms: 20, p99_ms: 400}` (the long tail real
/// providers show, given by the two percentiles people actually know).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    Fixed { ms: f64 },
    Uniform { min_ms: f64, max_ms: f64 },
    Normal { mean_ms: f64, stddev_ms: f64 },
    Lognormal { p50_ms: f64, p99_ms: f64 },
}

/// A standard normal draw (Box–Muller; `rand` alone has no normal distribution).
fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // (0, 1]: ln(0) would be -inf
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl Latency {
    pub fn fixed_ms(ms: f64) -> Latency {
        Latency::Fixed { ms }
    }

    /// Rejects negative, non-finite or inverted parameters, naming the field.
    pub fn validate(&self, path: &str) -> Result<()> {
        let bad = |field: &str, what: &str| {
            Err(Error::config(format!("{path}.{field}: {what}"))
                .with_details(serde_json::json!({ "path": format!("{path}.{field}") })))
        };
        let params: &[(&str, f64)] = match self {
            Latency::Fixed { ms } => &[("ms", *ms)],
            Latency::Uniform { min_ms, max_ms } => &[("min_ms", *min_ms), ("max_ms", *max_ms)],
            Latency::Normal { mean_ms, stddev_ms } => {
                &[("mean_ms", *mean_ms), ("stddev_ms", *stddev_ms)]
            }
            Latency::Lognormal { p50_ms, p99_ms } => &[("p50_ms", *p50_ms), ("p99_ms", *p99_ms)],
        };
        for (field, v) in params {
            if !v.is_finite() || *v < 0.0 {
                return bad(field, "expected a non-negative number of milliseconds");
            }
        }
        match self {
            Latency::Uniform { min_ms, max_ms } if max_ms < min_ms => {
                bad("max_ms", "expected max_ms >= min_ms")
            }
            Latency::Lognormal { p50_ms, .. } if *p50_ms <= 0.0 => {
                bad("p50_ms", "expected a positive number")
            }
            Latency::Lognormal { p50_ms, p99_ms } if p99_ms < p50_ms => {
                bad("p99_ms", "expected p99_ms >= p50_ms")
            }
            _ => Ok(()),
        }
    }

    /// One draw, clipped to [0, MAX_LATENCY].
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        let ms = match *self {
            Latency::Fixed { ms } => ms,
            Latency::Uniform { min_ms, max_ms } if max_ms > min_ms => {
                rng.random_range(min_ms..=max_ms)
            }
            Latency::Uniform { min_ms, .. } => min_ms,
            Latency::Normal { mean_ms, stddev_ms } => mean_ms + stddev_ms * standard_normal(rng),
            Latency::Lognormal { p50_ms, p99_ms } => {
                // ln X ~ N(mu, sigma): the median is e^mu, the 99th percentile e^(mu + Z99 sigma).
                let mu = p50_ms.ln();
                let sigma = (p99_ms.ln() - mu) / Z99;
                (mu + sigma * standard_normal(rng)).exp()
            }
        };
        Duration::from_secs_f64((ms / 1000.0).clamp(0.0, MAX_LATENCY.as_secs_f64()))
    }
}

macro_rules! faults {
    ($($variant:ident = $name:literal $(| $alias:literal)*, $doc:literal;)+) => {
        /// What a request gets instead of (or on top of) its normal answer.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Fault { $(#[doc = $doc] $variant,)+ }

        impl Fault {
            pub const ALL: &'static [Fault] = &[$(Fault::$variant,)+];

            /// The name used in scripts, rates and stats (`"429"`, `"reset"`...).
            pub const fn name(self) -> &'static str {
                match self { $(Fault::$variant => $name,)+ }
            }

            pub fn parse(s: &str) -> Result<Fault> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($name $(| $alias)* => Ok(Fault::$variant),)+
                    other => Err(Error::config(format!(
                        "unknown fault '{other}'; known: {}",
                        [$($name),+].join(", ")
                    ))),
                }
            }
        }
    };
}

faults! {
    Ok = "ok" | "200", "The normal answer.";
    RateLimited = "429" | "rate_limited", "429 with `Retry-After` (seconds) and `retry-after-ms`.";
    ServerError = "500" | "server_error", "500 in the provider's error envelope.";
    Unavailable = "503" | "unavailable" | "overloaded", "503 in the provider's error envelope.";
    BadRequest = "400" | "bad_request", "400 in the provider's error envelope (a final error: never retried).";
    Timeout = "timeout", "Accept the request and never answer (up to the hold time), then drop it.";
    Reset = "reset", "Close the TCP connection with a reset, no response.";
    Cut = "cut", "Start the answer (stream or body) and drop the connection half-way.";
    Malformed = "malformed", "200 with a body that is not valid JSON (or invalid SSE data).";
    JsonBody = "json_body", "A stream request answered with the complete JSON body, not SSE (LiteLLM's proxy does this with mock answers).";
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Fault {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Accepts names and bare status numbers: in YAML, `[429, ok]` and `{429: 0.1}` have integers.
impl<'de> Deserialize<'de> for Fault {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Fault;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a fault name (ok, 429, 500, 503, timeout, reset, cut, malformed, json_body)",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Fault, E> {
                Fault::parse(v).map_err(|e| E::custom(e.message))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Fault, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Fault, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

fn default_retry_after_ms() -> u64 {
    1000
}

fn default_timeout_hold_ms() -> u64 {
    60_000
}

/// `faults:` in the mock config. The script is played first, one entry per LLM request;
/// after it, faults are drawn by rate (no rates: every request is `ok`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Probability per request of each fault; the sum must be at most 1.
    pub rates: BTreeMap<Fault, f64>,
    pub script: Vec<Fault>,
    /// What a 429 asks the client to wait (`retry-after-ms`; `Retry-After` is this rounded up
    /// to whole seconds).
    pub retry_after_ms: u64,
    /// How long a `timeout` fault holds the request before dropping the connection.
    pub timeout_hold_ms: u64,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            rates: BTreeMap::new(),
            script: vec![],
            retry_after_ms: default_retry_after_ms(),
            timeout_hold_ms: default_timeout_hold_ms(),
        }
    }
}

impl FaultConfig {
    pub fn validate(&self) -> Result<()> {
        let mut sum = 0.0;
        for (fault, p) in &self.rates {
            if !(0.0..=1.0).contains(p) {
                return Err(Error::config(format!(
                    "faults.rates.{fault}: expected a probability between 0 and 1"
                ))
                .with_details(serde_json::json!({ "path": format!("faults.rates.{fault}") })));
            }
            if *fault != Fault::Ok {
                sum += p;
            }
        }
        if sum > 1.0 + 1e-9 {
            return Err(Error::config(format!(
                "faults.rates: probabilities sum to {sum}, more than 1"
            ))
            .with_details(serde_json::json!({ "path": "faults.rates" })));
        }
        Ok(())
    }
}

/// What one request gets: a fault (or `Ok`) and the delay before its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub fault: Fault,
    pub delay: Duration,
}

struct State {
    fault_rng: ChaCha8Rng,
    latency_rng: ChaCha8Rng,
    script_pos: usize,
}

impl State {
    fn new(seed: u64) -> State {
        State {
            fault_rng: ChaCha8Rng::seed_from_u64(seed),
            latency_rng: ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15),
            script_pos: 0,
        }
    }
}

/// The per-server fault and latency source.
pub struct FaultPlan {
    /// Replaced at run time by `PUT /_mock/faults` (a provider that goes down mid-test).
    config: std::sync::RwLock<std::sync::Arc<FaultConfig>>,
    latency: Option<Latency>,
    chunk_latency: Option<Latency>,
    seed: u64,
    state: Mutex<State>,
}

impl FaultPlan {
    pub fn new(
        seed: u64,
        config: FaultConfig,
        latency: Option<Latency>,
        chunk_latency: Option<Latency>,
    ) -> Result<Self> {
        config.validate()?;
        if let Some(l) = &latency {
            l.validate("latency")?;
        }
        if let Some(l) = &chunk_latency {
            l.validate("chunk_latency")?;
        }
        Ok(FaultPlan {
            config: std::sync::RwLock::new(config.into()),
            latency,
            chunk_latency,
            seed,
            state: Mutex::new(State::new(seed)),
        })
    }

    pub fn config(&self) -> std::sync::Arc<FaultConfig> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// New faults from now on: the script starts over; latencies are unchanged.
    pub fn set_faults(&self, config: FaultConfig) -> Result<()> {
        config.validate()?;
        let mut st = self.state();
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config.into();
        st.script_pos = 0;
        Ok(())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the RNG half-updated in a harmful way.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next request's fault and first-byte delay.
    pub fn next(&self) -> Decision {
        let mut st = self.state();
        let config = self.config();
        let fault = if let Some(&f) = config.script.get(st.script_pos) {
            st.script_pos += 1;
            f
        } else if config.rates.is_empty() {
            Fault::Ok
        } else {
            // Exactly one draw per request, so the sequence depends only on the seed.
            let u: f64 = st.fault_rng.random();
            let mut acc = 0.0;
            config
                .rates
                .iter()
                .filter(|(f, _)| **f != Fault::Ok)
                .find(|(_, p)| {
                    acc += **p;
                    u < acc
                })
                .map_or(Fault::Ok, |(f, _)| *f)
        };
        let delay = match &self.latency {
            Some(l) => l.sample(&mut st.latency_rng),
            None => Duration::ZERO,
        };
        Decision { fault, delay }
    }

    /// The pause before the next stream chunk.
    pub fn chunk_delay(&self) -> Duration {
        match &self.chunk_latency {
            Some(Latency::Fixed { ms }) => Duration::from_secs_f64(ms / 1000.0),
            Some(l) => l.sample(&mut self.state().latency_rng),
            None => Duration::ZERO,
        }
    }

    pub fn has_chunk_delay(&self) -> bool {
        self.chunk_latency.is_some()
    }

    /// Back to the start: the script replays and the RNGs restart from the seed.
    pub fn reset(&self) {
        *self.state() = State::new(self.seed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(l: &Latency, n: usize) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut v: Vec<f64> = (0..n)
            .map(|_| l.sample(&mut rng).as_secs_f64() * 1000.0)
            .collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v
    }

    fn mean(v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len() as f64
    }

    #[test]
    fn fixed_and_uniform() {
        assert!(samples(&Latency::fixed_ms(5.0), 10)
            .iter()
            .all(|&x| (x - 5.0).abs() < 1e-6));
        let v = samples(
            &Latency::Uniform {
                min_ms: 10.0,
                max_ms: 20.0,
            },
            20_000,
        );
        assert!(v[0] >= 10.0 && *v.last().unwrap() <= 20.0);
        assert!((mean(&v) - 15.0).abs() < 0.2);
    }

    #[test]
    fn normal_is_centred_and_clipped_at_zero() {
        let v = samples(
            &Latency::Normal {
                mean_ms: 50.0,
                stddev_ms: 10.0,
            },
            20_000,
        );
        assert!((mean(&v) - 50.0).abs() < 0.5);
        let sd = (v.iter().map(|x| (x - 50.0).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        assert!((sd - 10.0).abs() < 0.5);
        let v = samples(
            &Latency::Normal {
                mean_ms: 1.0,
                stddev_ms: 10.0,
            },
            1000,
        );
        assert!(v[0] >= 0.0);
    }

    #[test]
    fn lognormal_hits_its_percentiles() {
        let v = samples(
            &Latency::Lognormal {
                p50_ms: 20.0,
                p99_ms: 400.0,
            },
            50_000,
        );
        let p50 = v[v.len() / 2];
        let p99 = v[v.len() * 99 / 100];
        assert!((p50 - 20.0).abs() < 1.0, "p50 {p50}");
        assert!((p99 - 400.0).abs() < 50.0, "p99 {p99}");
        assert!(*v.last().unwrap() <= MAX_LATENCY.as_secs_f64() * 1000.0);
    }

    #[test]
    fn bad_distributions_are_rejected() {
        assert!(Latency::Uniform {
            min_ms: 5.0,
            max_ms: 1.0
        }
        .validate("latency")
        .is_err());
        assert!(Latency::Fixed { ms: -1.0 }.validate("latency").is_err());
        assert!(Latency::Lognormal {
            p50_ms: 0.0,
            p99_ms: 1.0
        }
        .validate("latency")
        .is_err());
        let e = Latency::Normal {
            mean_ms: f64::NAN,
            stddev_ms: 1.0,
        }
        .validate("latency")
        .unwrap_err();
        assert!(e.message.starts_with("latency.mean_ms"));
    }

    #[test]
    fn parses_yaml_shapes() {
        let l: Latency =
            serde_norway::from_str("{dist: lognormal, p50_ms: 20, p99_ms: 300}").unwrap();
        assert_eq!(
            l,
            Latency::Lognormal {
                p50_ms: 20.0,
                p99_ms: 300.0
            }
        );
        let c: FaultConfig = serde_norway::from_str(
            "{script: [429, ok, '500', reset], rates: {503: 0.1, cut: 0.2}}",
        )
        .unwrap();
        assert_eq!(
            c.script,
            [
                Fault::RateLimited,
                Fault::Ok,
                Fault::ServerError,
                Fault::Reset
            ]
        );
        assert_eq!(c.rates[&Fault::Unavailable], 0.1);
        assert!(serde_norway::from_str::<FaultConfig>("{script: [418]}").is_err());
    }

    #[test]
    fn script_plays_in_order_then_rates() {
        let cfg = FaultConfig {
            script: vec![Fault::RateLimited, Fault::Ok, Fault::Reset],
            ..Default::default()
        };
        let plan = FaultPlan::new(1, cfg, None, None).unwrap();
        let got: Vec<Fault> = (0..5).map(|_| plan.next().fault).collect();
        assert_eq!(
            got,
            [
                Fault::RateLimited,
                Fault::Ok,
                Fault::Reset,
                Fault::Ok,
                Fault::Ok
            ]
        );
        plan.reset();
        assert_eq!(plan.next().fault, Fault::RateLimited);
    }

    #[test]
    fn rates_are_deterministic_per_seed_and_roughly_right() {
        let cfg = FaultConfig {
            rates: [(Fault::RateLimited, 0.2), (Fault::Reset, 0.1)]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let run = |seed| {
            let plan =
                FaultPlan::new(seed, cfg.clone(), Some(Latency::fixed_ms(1.0)), None).unwrap();
            (0..10_000).map(|_| plan.next().fault).collect::<Vec<_>>()
        };
        let a = run(42);
        assert_eq!(a, run(42));
        assert_ne!(a, run(43));
        let share = |f| a.iter().filter(|&&x| x == f).count() as f64 / a.len() as f64;
        assert!((share(Fault::RateLimited) - 0.2).abs() < 0.02);
        assert!((share(Fault::Reset) - 0.1).abs() < 0.02);
        assert!((share(Fault::Ok) - 0.7).abs() < 0.02);
    }

    #[test]
    fn latency_does_not_shift_the_fault_sequence() {
        let cfg = FaultConfig {
            rates: [(Fault::ServerError, 0.5)].into_iter().collect(),
            ..Default::default()
        };
        let with = FaultPlan::new(
            9,
            cfg.clone(),
            Some(Latency::Uniform {
                min_ms: 0.0,
                max_ms: 5.0,
            }),
            None,
        )
        .unwrap();
        let without = FaultPlan::new(9, cfg, None, None).unwrap();
        for _ in 0..100 {
            with.chunk_delay();
            assert_eq!(with.next().fault, without.next().fault);
        }
    }

    #[test]
    fn rates_over_one_are_rejected() {
        let cfg = FaultConfig {
            rates: [(Fault::RateLimited, 0.7), (Fault::Reset, 0.7)]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        assert!(FaultPlan::new(0, cfg, None, None).is_err());
        let cfg = FaultConfig {
            rates: [(Fault::Cut, 1.5)].into_iter().collect(),
            ..Default::default()
        };
        assert!(cfg.validate().is_err());
    }
}
