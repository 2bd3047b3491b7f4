//! What a count is made with. Exact BPE counts for OpenAI's `cl100k_base` and `o200k_base`,
//! identical to tiktoken (special-token strings such as `<|endoftext|>` are plain text):
//! the linear-time `bpe-openai` tokenizer over our compressed tables (`tables.rs`), large texts
//! split at safe boundaries and counted on every core. Open-model families count with their
//! own tokenizer.json once installed (`open.rs`); Claude models with calibrated estimates
//! (`claude.rs`).

use super::claude::{self, Generation};
use super::open::Family;
use crate::error::{Error, Result};
use rustc_hash::FxHashMap;
use std::cell::RefCell;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    Cl100kBase,
    O200kBase,
    Llama3,
    Qwen3,
    DeepSeekV3,
    Gemma3,
    MistralTekken,
    /// Claude 3 to 4.6, estimated.
    Claude,
    /// Claude Opus 4.7 and later, estimated.
    Claude47,
}

/// Texts shorter than this are counted on the calling thread.
const PARALLEL_MIN_BYTES: usize = 256 * 1024;
/// How far past a target offset to look for a safe split point.
const SPLIT_SEARCH_BYTES: usize = 64 * 1024;
/// Pre-tokens up to this many bytes have their counts remembered per thread: natural text
/// repeats the same short pieces (" the", ",", " of") and a hash lookup beats running BPE.
const CACHE_MAX_PIECE: usize = 24;
/// Entries per encoding per thread (a few MiB at most); the cache is cleared when full.
const CACHE_MAX_ENTRIES: usize = 1 << 16;

thread_local! {
    static PIECE_COUNTS: RefCell<[FxHashMap<Box<[u8]>, u32>; 2]> = RefCell::default();
}

impl Encoding {
    /// The built-in exact encodings (OpenAI's); the others depend on installed files or estimate.
    pub const ALL: &'static [Encoding] = &[Encoding::Cl100kBase, Encoding::O200kBase];

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Cl100kBase => "cl100k_base",
            Encoding::O200kBase => "o200k_base",
            Encoding::Claude => "claude_estimate",
            Encoding::Claude47 => "claude47_estimate",
            open => open.family().map_or("", Family::name),
        }
    }

    /// The open-model family this encoding is, if any.
    pub fn family(self) -> Option<Family> {
        Some(match self {
            Encoding::Llama3 => Family::Llama3,
            Encoding::Qwen3 => Family::Qwen3,
            Encoding::DeepSeekV3 => Family::DeepSeekV3,
            Encoding::Gemma3 => Family::Gemma3,
            Encoding::MistralTekken => Family::MistralTekken,
            _ => return None,
        })
    }

    pub fn of_family(family: Family) -> Encoding {
        match family {
            Family::Llama3 => Encoding::Llama3,
            Family::Qwen3 => Encoding::Qwen3,
            Family::DeepSeekV3 => Encoding::DeepSeekV3,
            Family::Gemma3 => Encoding::Gemma3,
            Family::MistralTekken => Encoding::MistralTekken,
        }
    }

    /// True when counts are exact: OpenAI's encodings, and open families (which only resolve
    /// once their tokenizer is installed).
    pub fn is_exact(self) -> bool {
        !matches!(self, Encoding::Claude | Encoding::Claude47)
    }

    /// `cl100k_base`, `o200k_base`, an installed open family (`llama3`, `qwen3`, `deepseek_v3`,
    /// `gemma3`, `mistral_tekken`) or `claude_estimate` / `claude47_estimate`. An unknown name is
    /// `invalid_input`; an open family whose file is not installed is `not_found`.
    pub fn from_name(name: &str) -> Result<Encoding> {
        match name.trim() {
            "cl100k_base" => Ok(Encoding::Cl100kBase),
            "o200k_base" => Ok(Encoding::O200kBase),
            "claude_estimate" => Ok(Encoding::Claude),
            "claude47_estimate" => Ok(Encoding::Claude47),
            other => match Family::from_name(other) {
                Some(f) if f.tokenizer().is_some() => Ok(Encoding::of_family(f)),
                Some(f) => Err(Error::not_found(format!(
                    "the {} tokenizer is not installed in {}; run `trinity tokenizers fetch {}`",
                    f.name(),
                    super::open::dir().display(),
                    f.name()
                ))),
                None => Err(Error::invalid_input(format!(
                    "unknown encoding '{other}'; known: cl100k_base, o200k_base, llama3, qwen3, \
                     deepseek_v3, gemma3, mistral_tekken, claude_estimate, claude47_estimate"
                ))),
            },
        }
    }

    /// Tokens the chat template adds around each message besides its role: OpenAI documents 3;
    /// Llama 3's `<|start_header_id|>`, `<|end_header_id|>`, "\n\n" and `<|eot_id|>` are 4, as
    /// are Gemma's `<start_of_turn>`, "\n", `<end_of_turn>`, "\n"; ChatML (Qwen) is 3.
    pub fn message_overhead(self) -> usize {
        match self {
            Encoding::Llama3 | Encoding::Gemma3 => 4,
            _ => 3,
        }
    }

    fn tokenizer(self) -> &'static bpe_openai::Tokenizer {
        match self {
            Encoding::Cl100kBase => super::tables::cl100k_base(),
            _ => super::tables::o200k_base(),
        }
    }

    /// Token ids, as tiktoken's `encode(text, disallowed_special=())` gives them, or the open
    /// family's own ids. Claude estimates have no ids of their own: these are o200k's.
    pub fn encode(self, text: &str) -> Vec<u32> {
        if let Some(ids) = self.family().and_then(|f| f.encode(text)) {
            return ids;
        }
        self.tokenizer().encode(text)
    }

    /// The token count of `text`, using every core for large texts.
    pub fn count(self, text: &str) -> usize {
        if let Some(n) = self.other_count(text, false) {
            return n;
        }
        if text.len() < PARALLEL_MIN_BYTES {
            return self.count_serial(text);
        }
        let parts = split_at_safe_points(text, workers());
        if parts.len() == 1 {
            return self.count_serial(text);
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = parts
                .iter()
                .map(|p| s.spawn(move || self.count_serial(p)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("counting does not panic"))
                .sum()
        })
    }

    /// Counts that are not OpenAI BPE: an open family (cl100k when its file went missing, which
    /// `resolve` never hands out) or a Claude estimate.
    fn other_count(self, text: &str, serial: bool) -> Option<usize> {
        match self {
            Encoding::Cl100kBase | Encoding::O200kBase => None,
            Encoding::Claude => Some(claude::estimate(text, Generation::Claude3, serial)),
            Encoding::Claude47 => Some(claude::estimate(text, Generation::Claude47, serial)),
            open => Some(
                open.family()
                    .and_then(|f| f.count(text))
                    .unwrap_or_else(|| Encoding::Cl100kBase.count(text)),
            ),
        }
    }

    /// The token count of `text` on this thread.
    pub fn count_serial(self, text: &str) -> usize {
        if let Some(n) = self.other_count(text, true) {
            return n;
        }
        let tokenizer = self.tokenizer();
        PIECE_COUNTS.with_borrow_mut(|caches| {
            let cache = &mut caches[self as usize];
            let mut total = 0;
            for piece in tokenizer.split(text) {
                let bytes = piece.as_bytes();
                if bytes.len() > CACHE_MAX_PIECE {
                    total += tokenizer.bpe.count(bytes);
                } else if let Some(&n) = cache.get(bytes) {
                    total += n as usize;
                } else {
                    let n = tokenizer.bpe.count(bytes);
                    if cache.len() >= CACHE_MAX_ENTRIES {
                        cache.clear();
                    }
                    cache.insert(bytes.into(), n as u32);
                    total += n;
                }
            }
            total
        })
    }

    /// Counts many texts, spread over every core when there is enough work.
    pub fn count_batch<S: AsRef<str> + Sync>(self, texts: &[S]) -> Vec<usize> {
        let total: usize = texts.iter().map(|t| t.as_ref().len()).sum();
        let workers = workers();
        if workers == 1 || total < PARALLEL_MIN_BYTES / 4 || texts.len() < 2 {
            return texts.iter().map(|t| self.count(t.as_ref())).collect();
        }
        let chunk = texts.len().div_ceil(workers);
        std::thread::scope(|s| {
            let handles: Vec<_> = texts
                .chunks(chunk)
                .map(|c| {
                    s.spawn(move || {
                        c.iter()
                            .map(|t| self.count_serial(t.as_ref()))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("counting does not panic"))
                .collect()
        })
    }
}

fn workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
}

/// Splits `text` into about `parts` pieces at points where both encodings' pre-tokenizers
/// always split: an ASCII letter, then a space, then an ASCII letter. No pre-token of either
/// pattern contains a letter followed by a space, and matching restarts at the space with no
/// look-behind, so the counts of the pieces add up to the count of the whole.
pub(crate) fn split_at_safe_points(text: &str, parts: usize) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut pieces = Vec::with_capacity(parts);
    let mut start = 0;
    for k in 1..parts {
        let target = (text.len() * k / parts).max(start + 1);
        let end = (target + SPLIT_SEARCH_BYTES).min(bytes.len().saturating_sub(1));
        let found = (target.max(1)..end).find(|&i| {
            bytes[i] == b' '
                && bytes[i - 1].is_ascii_alphabetic()
                && bytes[i + 1].is_ascii_alphabetic()
        });
        if let Some(i) = found {
            pieces.push(&text[start..i]);
            start = i;
        }
    }
    pieces.push(&text[start..]);
    pieces
}
