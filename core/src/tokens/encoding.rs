//! Exact BPE counts for OpenAI's `cl100k_base` and `o200k_base`, identical to tiktoken
//! (special-token strings such as `<|endoftext|>` are plain text). Counting uses the
//! linear-time `bpe-openai` tokenizer over our compressed tables (`tables.rs`); large texts
//! are split at safe boundaries and counted on every core.

use crate::error::{Error, Result};
use rustc_hash::FxHashMap;
use std::cell::RefCell;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    Cl100kBase,
    O200kBase,
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
    pub const ALL: &'static [Encoding] = &[Encoding::Cl100kBase, Encoding::O200kBase];

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Cl100kBase => "cl100k_base",
            Encoding::O200kBase => "o200k_base",
        }
    }

    /// `cl100k_base` or `o200k_base`; anything else is `invalid_input`.
    pub fn from_name(name: &str) -> Result<Encoding> {
        match name.trim() {
            "cl100k_base" => Ok(Encoding::Cl100kBase),
            "o200k_base" => Ok(Encoding::O200kBase),
            other => Err(Error::invalid_input(format!(
                "unknown encoding '{other}'; known: cl100k_base, o200k_base"
            ))),
        }
    }

    fn tokenizer(self) -> &'static bpe_openai::Tokenizer {
        match self {
            Encoding::Cl100kBase => super::tables::cl100k_base(),
            Encoding::O200kBase => super::tables::o200k_base(),
        }
    }

    /// Token ids, as tiktoken's `encode(text, disallowed_special=())` gives them.
    pub fn encode(self, text: &str) -> Vec<u32> {
        self.tokenizer().encode(text)
    }

    /// The token count of `text`, using every core for large texts.
    pub fn count(self, text: &str) -> usize {
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

    /// The token count of `text` on this thread.
    pub fn count_serial(self, text: &str) -> usize {
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
