//! Token tables for `cl100k_base` and `o200k_base`, built from OpenAI's published vocabularies
//! (`data/*.tiktoken.gz`) into `bpe`'s encoder and stored zstd-compressed in `OUT_DIR`; the
//! library decodes one on first use (`src/tokens/tables.rs`).
//!
//! `bpe-openai` embeds the same tables uncompressed with two Aho-Corasick automata that only
//! its other encoders read (all-prefix and appendable/prependable): 47 MB of a 63 MB library.
//! Counting and encoding use the backtracking encoder, which reads neither, so they are
//! replaced by a one-pattern automaton before compressing: 10.8 MB for both tables.

use bpe::byte_pair_encoding::{read_tiktoken, BytePairEncoding};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// `bpe-openai`'s hash factor for these vocabularies (no collisions among their tokens).
const HASH_FACTOR: u64 = 17846336922010275747;
/// zstd level: 19 gives 10.8 MB (level 9: 11.8 MB) for about 9 s of build time, once.
const ZSTD_LEVEL: i32 = 19;

/// `BytePairEncoding`'s fields in their serialized order (bpe 0.2.3, pinned in Cargo.toml);
/// `check` below fails the build if a new bpe lays them out differently. The maps are sorted
/// (`BTreeMap`): a `HashMap` would write them in a random order and no two builds of the
/// library would be byte-identical.
#[derive(Serialize, Deserialize)]
struct Fields {
    all_tokens: Vec<u8>,
    token_starts: Vec<u32>,
    bytes_hash_to_token: BTreeMap<u32, u32>,
    split_table: Vec<(u32, u32)>,
    pair_lookup: BTreeMap<(u32, u32), u32>,
    #[serde(with = "serde_bytes")]
    longest_searcher: Vec<u8>,
    #[serde(with = "serde_bytes")]
    overlapping_searcher: Vec<u8>,
    #[serde(with = "serde_bytes")]
    overlapping_searcher_rev: Vec<u8>,
    next_prefix_match: Vec<u32>,
    hash_factor: u64,
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::thread::scope(|s| {
        for name in ["cl100k_base", "o200k_base"] {
            let out = &out;
            s.spawn(move || build_table(name, out));
        }
    });
}

fn build_table(name: &str, out: &Path) {
    let source = format!("data/{name}.tiktoken.gz");
    println!("cargo::rerun-if-changed={source}");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&source).expect("vocabulary present"))
        .read_to_string(&mut text)
        .expect("vocabulary is gzip'd text");
    let tokens = read_tiktoken(&text).expect("vocabulary in tiktoken's format");
    let full = BytePairEncoding::from_dictionary(tokens, Some(HASH_FACTOR));

    let mut fields: Fields =
        rmp_serde::from_slice(&rmp_serde::to_vec(&full).expect("serializes")).expect("layout");
    let unused = aneubeck_daachorse::DoubleArrayAhoCorasick::<u32>::new([[0u8]])
        .expect("one pattern")
        .serialize();
    fields.overlapping_searcher = unused.clone();
    fields.overlapping_searcher_rev = unused;
    let table = rmp_serde::to_vec(&fields).expect("serializes");
    check(name, &full, &table);

    let packed = zstd::bulk::compress(&table, ZSTD_LEVEL).expect("compresses");
    std::fs::write(out.join(format!("{name}.bpe.zst")), packed).expect("OUT_DIR writable");
}

/// The stripped table encodes like the full one: every token of the vocabulary by itself, and
/// a text that joins them.
fn check(name: &str, full: &BytePairEncoding, table: &[u8]) {
    let stripped: BytePairEncoding = rmp_serde::from_slice(table).expect("reads back");
    let mut joined = Vec::new();
    for id in (0..full.num_tokens() as u32).step_by(7) {
        let bytes = full.token_bytes(id);
        assert_eq!(
            stripped.encode_via_backtracking(bytes),
            full.encode_via_backtracking(bytes),
            "{name}: token {id} encodes differently from the stripped table"
        );
        joined.extend_from_slice(bytes);
    }
    assert_eq!(
        stripped.count(&joined),
        full.count(&joined),
        "{name}: the stripped table counts differently"
    );
}
