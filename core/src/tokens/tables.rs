//! The `cl100k_base` and `o200k_base` tokenizers: bpe-openai's pre-tokenizer over the tables
//! `build.rs` compressed into the library (10.8 MB for both), each decoded once on first use
//! (about 20 ms and 50 ms).

use bpe::byte_pair_encoding::BytePairEncoding;
use bpe_openai::Tokenizer;
use std::sync::LazyLock;

// The patterns are bpe-openai 0.3's: tiktoken's, with each negative look-ahead `\s+(?!\S)`
// rewritten as a look-ahead of one character (`\s+\s`, flagged `true`) that the splitter drops.
static CL100K_BASE: LazyLock<Tokenizer> = LazyLock::new(|| {
    let words = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+$";
    tokenizer(
        include_bytes!(concat!(env!("OUT_DIR"), "/cl100k_base.bpe.zst")),
        words,
    )
});

static O200K_BASE: LazyLock<Tokenizer> = LazyLock::new(|| {
    let words = [
        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
        "\\p{N}{1,3}",
        " ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*",
        "\\s*[\\r\\n]+",
        "\\s+$",
    ]
    .join("|");
    tokenizer(
        include_bytes!(concat!(env!("OUT_DIR"), "/o200k_base.bpe.zst")),
        &words,
    )
});

pub(crate) fn cl100k_base() -> &'static Tokenizer {
    &CL100K_BASE
}

pub(crate) fn o200k_base() -> &'static Tokenizer {
    &O200K_BASE
}

fn tokenizer(packed: &[u8], words: &str) -> Tokenizer {
    let table = zstd::decode_all(packed).expect("build.rs wrote a valid zstd frame");
    let bpe: BytePairEncoding = rmp_serde::from_slice(&table).expect("build.rs wrote the table");
    let patterns = [(words, false), ("\\s+\\s", true), ("\\s+", false)];
    Tokenizer::new_lookahead(bpe, &patterns, false).expect("valid patterns")
}
