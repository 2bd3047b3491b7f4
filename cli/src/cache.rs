//! `trinity cache validate|purge`: maintenance of the response cache's tiers (seed 002),
//! with the same calls the bindings offer. The cache comes from `--config` (its `cache`
//! section) or from `--path` (a filesystem tier) and `--redis` (a Redis tier).

use clap::{Args as ClapArgs, Subcommand};
use std::path::PathBuf;
use trinity_core::cache::{config, Cache, Purge};
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::{rt, Error, Result};

#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    /// Config file (YAML or JSON) whose `cache` section names the tiers.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Filesystem tier directory (instead of, or on top of, the config).
    #[arg(long, global = true)]
    path: Option<PathBuf>,
    /// Redis tier URL, `redis://host:port/db`.
    #[arg(long, global = true)]
    redis: Option<String>,
    /// Print the report as JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum Action {
    /// Count valid, corrupt, expired and orphaned entries; change nothing.
    Validate,
    /// Remove entries: all, expired, one namespace or a glob pattern (corrupt and orphaned
    /// files always go).
    Purge {
        #[arg(long, group = "what")]
        all: bool,
        #[arg(long, group = "what")]
        expired: bool,
        #[arg(long, group = "what")]
        namespace: Option<String>,
        #[arg(long, group = "what")]
        pattern: Option<String>,
    },
}

fn open(args: &Args) -> Result<Cache> {
    let mut cfg = match &args.config {
        Some(file) => {
            let path = file.to_string_lossy();
            Config::from_file(&path, EnvOverrides::Apply)?.cache
        }
        None => config::from_json(serde_json::json!({"memory": null}))?,
    };
    if let Some(p) = &args.path {
        cfg.filesystem = Some(trinity_core::config::FilesystemTier {
            path: p.to_string_lossy().into_owned(),
            ttl_s: None,
        });
    }
    if let Some(url) = &args.redis {
        let mut value = serde_json::json!({"url": url});
        if let Some(r) = &cfg.redis {
            value = serde_json::to_value(r).unwrap_or(value);
            value["url"] = serde_json::json!(url);
        }
        cfg.redis = Some(serde_json::from_value(value).map_err(|e| Error::config(e.to_string()))?);
    }
    if cfg.filesystem.is_none() && cfg.redis.is_none() {
        return Err(Error::invalid_input(
            "no cache tier to maintain: give --path, --redis or a --config with cache.filesystem or cache.redis",
        ));
    }
    Cache::new(&cfg)
}

pub fn run(args: Args) -> Result<()> {
    let cache = open(&args)?;
    let report = match &args.action {
        Action::Validate => serde_json::to_value(cache.validate()?),
        Action::Purge {
            all,
            expired,
            namespace,
            pattern,
        } => {
            let what = if *all {
                Some("all")
            } else if *expired {
                Some("expired")
            } else {
                None
            };
            let purge = Purge::from_parts(what, namespace.clone(), pattern.clone())?;
            serde_json::to_value(rt::wait(cache.purge(purge))?)
        }
    }
    .map_err(|e| Error::internal(e.to_string()))?;
    if args.json {
        println!("{report}");
    } else {
        print_counts("", &report);
    }
    Ok(())
}

/// `filesystem.corrupt: 2` lines, one per count.
fn print_counts(prefix: &str, v: &serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                print_counts(&format!("{prefix}{k}."), v);
            }
        }
        serde_json::Value::Null => println!("{}: none", prefix.trim_end_matches('.')),
        other => println!("{}: {other}", prefix.trim_end_matches('.')),
    }
}
