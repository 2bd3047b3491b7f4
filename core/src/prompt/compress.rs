//! `compress`: the lossy tier, for a prompt that must fit `target_tokens`.
//!
//! 1. A prompt that already fits comes back unchanged; one that fits after the lossless
//!    passes comes back optimised, nothing dropped.
//! 2. Else the text (lossless passes, without repeat references: dropping would leave them
//!    dangling) is cut into units: a sentence of a line (split after `.`, `!`, `?` and a
//!    blank, or after `。！？`, never inside a protected span), or a whole table row.
//!    Code-fence lines always stay. A unit holding a protected span, or a lone quote or
//!    backtick (without it, later ones would pair anew), is never dropped, unless it repeats
//!    an earlier unit (whose copy, protected too, stays).
//! 3. Units go in this order until the text fits: repeats; then the least informative per
//!    token (the sum, over its distinct words, of their inverse document frequency among the
//!    prompt's units: words found everywhere say little); the last paragraph (usually the
//!    question) last of all, and its last sentence never. Ties: the earlier unit first.
//!    Deterministic.
//! 4. The result is counted exactly; while over the target, more units go. Then dropped
//!    units come back, most informative first, while the room left holds them (by their own
//!    counts, then checked by an exact count), so the result ends near the target rather
//!    than well under it.
//!
//! When even every droppable unit gone leaves the text over the target: `context_too_large`,
//! with `min_tokens` (what the protected content needs) in the details.

use super::dedup::Deduper;
use super::lossless::{self, Line, Passes};
use super::protect::inline_spans;
use crate::registry::Registry;
use crate::tokens::{resolve, Encoding};
use crate::{Error, ErrorKind, Result};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use std::hash::{Hash, Hasher};
use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The same text came earlier and stays.
    Duplicate,
    /// Fewest rare words per token.
    LowInformation,
}

/// One dropped unit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dropped {
    pub text: String,
    pub reason: DropReason,
    /// Its own count (the text's total may differ by a token at the seams).
    pub tokens: u64,
}

/// A prompt fitted to a token target.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Compressed {
    pub text: String,
    pub tokens_before: u64,
    pub tokens_after: u64,
    pub target_tokens: u64,
    pub encoding: &'static str,
    pub estimated: bool,
    /// True when nothing was dropped (the prompt fit, as is or after the lossless passes).
    pub lossless: bool,
    /// What was dropped, in the prompt's order.
    pub dropped: Vec<Dropped>,
}

/// `compress(prompt, targetTokens)`, counted for `model` (`None`: `o200k_base`).
pub fn compress(
    registry: &Registry,
    prompt: &str,
    target_tokens: u64,
    model: Option<&str>,
) -> Result<Compressed> {
    let (enc, estimated) = resolve(registry, model, None)?;
    let mut out = compress_with(prompt, target_tokens, enc)?;
    out.estimated = estimated;
    Ok(out)
}

/// Rounds of trying dropped units back (each costs a count of the text, or a few).
const BACKFILL_ROUNDS: usize = 3;

struct Unit {
    line: usize,
    range: Range<usize>,
    /// The blank before it in its line (kept when the unit before it is kept too).
    sep: Range<usize>,
    tokens: u64,
    droppable: bool,
    /// 0: a repeat, 1: ordinary, 2: in the last paragraph.
    class: u8,
    density: f64,
}

/// [`compress`] with an encoding.
pub fn compress_with(prompt: &str, target_tokens: u64, enc: Encoding) -> Result<Compressed> {
    let tokens_before = enc.count(prompt) as u64;
    let mut out = Compressed {
        text: prompt.to_string(),
        tokens_before,
        tokens_after: tokens_before,
        target_tokens,
        encoding: enc.name(),
        estimated: false,
        lossless: true,
        dropped: Vec::new(),
    };
    if tokens_before <= target_tokens {
        return Ok(out);
    }
    let mut passes = Passes::default();
    let lines = lossless::normalize(prompt, &mut passes);
    let text = Deduper::default()
        .doc(None, lines.clone(), &mut passes)
        .join("\n");
    let tokens = enc.count(&text) as u64;
    if tokens <= target_tokens {
        out.text = text;
        out.tokens_after = tokens;
        return Ok(out);
    }
    let units = units(&lines, enc);
    let mut order: Vec<usize> = (0..units.len()).filter(|&u| units[u].droppable).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&units[a], &units[b]);
        (x.class, x.density, a)
            .partial_cmp(&(y.class, y.density, b))
            .expect("densities are finite")
    });

    let mut dropped = vec![false; units.len()];
    let mut next = 0;
    let mut est = enc.count(&render(&lines, &units, &dropped)) as u64;
    let (text, count) = loop {
        while est > target_tokens && next < order.len() {
            dropped[order[next]] = true;
            est = est.saturating_sub(units[order[next]].tokens);
            next += 1;
        }
        let text = render(&lines, &units, &dropped);
        let count = enc.count(&text) as u64;
        if count <= target_tokens {
            break (text, count);
        }
        if next == order.len() {
            return Err(Error::new(
                ErrorKind::ContextTooLarge,
                format!("the prompt's protected content needs {count} tokens, over the target of {target_tokens}"),
            )
            .with_details(serde_json::json!({"target_tokens": target_tokens, "min_tokens": count})));
        }
        est = count;
    };

    // Back-fill the room left, most informative dropped units first: added by their own
    // counts (a token more each for the seams), then the text counted exactly; the latest
    // additions go back while it is over. A few rounds, each from the exact count.
    let (mut text, mut count) = (text, count);
    for _ in 0..BACKFILL_ROUNDS {
        let mut added = Vec::new();
        let mut est = count;
        for &u in order[..next].iter().rev() {
            if dropped[u] && units[u].class > 0 && est + units[u].tokens < target_tokens {
                dropped[u] = false;
                est += units[u].tokens + 1;
                added.push(u);
            }
        }
        if added.is_empty() {
            break;
        }
        loop {
            let t = render(&lines, &units, &dropped);
            let c = enc.count(&t) as u64;
            if c <= target_tokens {
                (text, count) = (t, c);
                break;
            }
            match added.pop() {
                Some(u) => dropped[u] = true,
                None => break,
            }
        }
    }

    out.dropped = (0..units.len())
        .filter(|&u| dropped[u])
        .map(|u| Dropped {
            text: lines[units[u].line].text[units[u].range.clone()].to_string(),
            reason: if units[u].class == 0 {
                DropReason::Duplicate
            } else {
                DropReason::LowInformation
            },
            tokens: units[u].tokens,
        })
        .collect();
    out.lossless = out.dropped.is_empty();
    out.text = text;
    out.tokens_after = count;
    Ok(out)
}

fn is_blank(l: &Line) -> bool {
    !l.fence && l.text.is_empty()
}

/// The units of `lines` (fence lines are none: they always stay), scored.
fn units(lines: &[Line], enc: Encoding) -> Vec<Unit> {
    let last_para = lines.iter().rposition(is_blank).map_or(0, |i| i + 1);
    let mut units = Vec::new();
    for (li, line) in lines.iter().enumerate() {
        if line.fence || line.text.is_empty() {
            continue;
        }
        let indent = line.text.len() - line.text.trim_start_matches([' ', '\t']).len();
        let spans = inline_spans(&line.text);
        let whole = line.text[indent..].starts_with('|');
        let mut prev_end = indent;
        for r in sentences(&line.text, indent, &spans, whole) {
            let protected = spans.iter().any(|s| s.start < r.end && r.start < s.end)
                || line.text[r.clone()].contains(['"', '“', '”', '`']);
            units.push(Unit {
                line: li,
                sep: prev_end..r.start,
                tokens: 0,
                droppable: !protected,
                class: if li >= last_para { 2 } else { 1 },
                density: 0.0,
                range: r.clone(),
            });
            prev_end = r.end;
        }
    }
    score(lines, &mut units, enc);
    // The last sentence, usually the question or the instruction, always stays.
    if let Some(last) = units.last_mut() {
        last.droppable = false;
    }
    units
}

/// Sentence ranges of `text` after its indentation.
fn sentences(text: &str, start: usize, spans: &[Range<usize>], whole: bool) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    if whole {
        out.push(start..text.len());
        return out;
    }
    let mut from = start;
    let mut iter = text[start..].char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let at = start + i;
        let end = at + c.len_utf8();
        let next = iter.peek().map(|&(_, n)| n);
        let split = match c {
            '.' | '!' | '?' => matches!(next, Some(' ' | '\t')),
            '。' | '！' | '？' => next.is_some(),
            _ => false,
        };
        if split && !spans.iter().any(|s| s.start <= at && at < s.end) {
            out.push(from..end);
            // The next sentence starts after the blanks.
            while let Some(&(_, ' ' | '\t')) = iter.peek() {
                iter.next();
            }
            from = iter.peek().map_or(text.len(), |&(k, _)| start + k);
        }
    }
    if from < text.len() {
        out.push(from..text.len());
    }
    out
}

fn word_hash(w: &str) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    for c in w.chars().flat_map(char::to_lowercase) {
        c.hash(&mut h);
    }
    h.finish()
}

/// Token counts, repeats, and information per token.
fn score(lines: &[Line], units: &mut [Unit], enc: Encoding) {
    let mut seen: FxHashSet<&str> = FxHashSet::default();
    let mut words: Vec<Vec<u64>> = Vec::with_capacity(units.len());
    let mut df: FxHashMap<u64, u32> = FxHashMap::default();
    for u in units.iter_mut() {
        let text = &lines[u.line].text[u.range.clone()];
        u.tokens = enc.count(text) as u64;
        if !seen.insert(text) {
            u.class = 0;
            u.droppable = true;
        }
        let mut w: Vec<u64> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(word_hash)
            .collect();
        w.sort_unstable();
        w.dedup();
        for &h in &w {
            *df.entry(h).or_default() += 1;
        }
        words.push(w);
    }
    let n = units.len() as f64;
    for (u, w) in units.iter_mut().zip(&words) {
        let info: f64 = w.iter().map(|h| (n / f64::from(df[h])).ln()).sum();
        u.density = info / u.tokens.max(1) as f64;
    }
}

/// The text with the dropped units left out; lines left empty go, blank runs become one.
fn render(lines: &[Line], units: &[Unit], dropped: &[bool]) -> String {
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let blank = |o: &Vec<String>, fence: &Vec<bool>| {
        o.last().is_none_or(|l| l.is_empty() && !fence[o.len() - 1])
    };
    let mut fence = Vec::with_capacity(lines.len());
    let mut u = 0;
    for (li, line) in lines.iter().enumerate() {
        if line.fence {
            out.push(line.text.clone());
            fence.push(true);
            continue;
        }
        if line.text.is_empty() {
            if !blank(&out, &fence) {
                out.push(String::new());
                fence.push(false);
            }
            continue;
        }
        let indent = line.text.len() - line.text.trim_start_matches([' ', '\t']).len();
        let mut text = String::new();
        while u < units.len() && units[u].line == li {
            if !dropped[u] {
                if text.is_empty() {
                    text.push_str(&line.text[..indent]);
                } else {
                    text.push_str(&line.text[units[u].sep.clone()]);
                }
                text.push_str(&line.text[units[u].range.clone()]);
            }
            u += 1;
        }
        if !text.is_empty() {
            out.push(text);
            fence.push(false);
        }
    }
    while out.last().is_some_and(String::is_empty) && fence.last() == Some(&false) {
        out.pop();
        fence.pop();
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_outside_spans() {
        let t = r#"  One. Two "a. b" three! Four"#;
        let spans = inline_spans(t);
        let got: Vec<&str> = sentences(t, 2, &spans, false)
            .into_iter()
            .map(|r| &t[r])
            .collect();
        assert_eq!(got, ["One.", r#"Two "a. b" three!"#, "Four"]);
    }
}
