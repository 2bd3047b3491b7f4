//! `prioritize`: retrieved documents or earlier turns ordered so that the ones most relevant
//! to the question sit where models read best, first and last, and the least relevant in the
//! middle ("lost in the middle": accuracy drops when the gold document sits mid-context).
//!
//! Relevance is Okapi BM25 (k1 = 1.2, b = 0.75, the non-negative IDF `ln(1 + (N − n + ½) /
//! (n + ½))`) over lowercased runs of letters and digits, each CJK character a term of its own,
//! every distinct query term counted once. Ranks are then placed alternately: rank 1 first,
//! rank 2 last, rank 3 second, rank 4 second to last, and so on. Scores are rounded to 6
//! decimals before ranking, so what is reported explains the order; items with equal scores
//! take the places their ranks got in input order (stable: with no signal at all, nothing
//! moves). Deterministic.
//!
//! Messages: only whole earlier turns move. A turn is a user message and everything up to the
//! next user or system message; it moves when it ends on an assistant reply without tool calls
//! and every tool call in it is answered inside it (parallel calls included), so tool calls
//! keep their results and thinking blocks their turn. System messages, what comes before the
//! first user message, turns that do not qualify, and the latest user message with everything
//! after it stay where they are, and split the history into spans that are ordered each on
//! its own. Every boundary keeps its kind (a user message after an assistant reply), so a
//! conversation valid for a dialect (see [`super::validate`]) stays valid for it.

use super::shape::{shape, Kind, Shape};
use crate::{Error, Result};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// BM25's term-frequency saturation.
pub const K1: f64 = 1.2;
/// BM25's length normalisation.
pub const B: f64 = 0.75;

/// Documents ranked for a query.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ranking {
    /// Input indexes in their new order.
    pub order: Vec<usize>,
    /// Each input document's BM25 score (rounded to 6 decimals), by input index.
    pub scores: Vec<f64>,
}

/// Messages reordered (see the module docs for what moves).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PrioritizedMessages {
    pub messages: Vec<Value>,
    /// For each output message, the input index it came from.
    pub order: Vec<usize>,
    /// By input index: the BM25 score of the turn a movable message belongs to, `None` for
    /// a message that stays in place.
    pub scores: Vec<Option<f64>>,
}

/// Documents (strings) or messages (objects) reordered, as the bindings return them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prioritized {
    /// The items as given, in their new order.
    pub items: Vec<Value>,
    /// For each output item, the input index it came from.
    pub order: Vec<usize>,
    /// By input index: the item's score (`null` for a message that stays in place).
    pub scores: Vec<Option<f64>>,
}

/// Lowercased terms of `text`: runs of letters and digits; each CJK character is a term.
pub fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if is_cjk(c) {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            out.push(c.to_string());
        } else if c.is_alphanumeric() {
            cur.extend(c.to_lowercase());
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // kana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // compatibility ideographs
        | 0x20000..=0x2FA1F) // extensions B–F, supplement
}

/// Okapi BM25 score of each document (already split into [`terms`]) for `query`'s terms.
pub fn bm25(docs: &[Vec<String>], query: &[String]) -> Vec<f64> {
    let n = docs.len() as f64;
    let total: usize = docs.iter().map(Vec::len).sum();
    if docs.is_empty() || total == 0 {
        return vec![0.0; docs.len()];
    }
    let avgdl = total as f64 / n;
    // Distinct query terms, in a fixed order so that sums add up the same way every time.
    let q: BTreeSet<&str> = query.iter().map(String::as_str).collect();
    let tfs: Vec<BTreeMap<&str, f64>> = docs
        .iter()
        .map(|d| {
            let mut tf = BTreeMap::new();
            for t in d.iter().map(String::as_str).filter(|t| q.contains(t)) {
                *tf.entry(t).or_insert(0.0) += 1.0;
            }
            tf
        })
        .collect();
    let idf: BTreeMap<&str, f64> = q
        .iter()
        .map(|&t| {
            let df = tfs.iter().filter(|tf| tf.contains_key(t)).count() as f64;
            (t, (1.0 + (n - df + 0.5) / (df + 0.5)).ln())
        })
        .collect();
    docs.iter()
        .zip(&tfs)
        .map(|(d, tf)| {
            let norm = K1 * (1.0 - B + B * d.len() as f64 / avgdl);
            tf.iter()
                .map(|(t, &f)| idf[t] * f * (K1 + 1.0) / (f + norm))
                .sum()
        })
        .collect()
}

/// Rounded to 6 decimals (what is reported, and what is ranked); never `-0.0` (an empty sum
/// is `-0.0`, which JSON readers that tell zeros apart would see as another number).
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6 + 0.0
}

/// The "lost in the middle" order of items with `scores`: input indexes, best first, second
/// best last, and so on toward the middle; equal scores fill their places in input order.
pub fn middle_out_order(scores: &[f64]) -> Vec<usize> {
    let n = scores.len();
    let mut ranked: Vec<usize> = (0..n).collect();
    ranked.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let place = |rank: usize| match rank % 2 {
        0 => rank / 2,
        _ => n - 1 - rank / 2,
    };
    let mut out = vec![0; n];
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && scores[ranked[end]] == scores[ranked[start]] {
            end += 1;
        }
        // A tie group: its members (in input order) take its places (in position order).
        let mut places: Vec<usize> = (start..end).map(place).collect();
        places.sort_unstable();
        for (p, &i) in places.into_iter().zip(&ranked[start..end]) {
            out[p] = i;
        }
        start = end;
    }
    out
}

/// `docs` ranked for `query` and placed first/last by relevance.
pub fn prioritize_documents<S: AsRef<str>>(docs: &[S], query: &str) -> Ranking {
    let terms_of: Vec<Vec<String>> = docs.iter().map(|d| terms(d.as_ref())).collect();
    let scores: Vec<f64> = bm25(&terms_of, &terms(query))
        .into_iter()
        .map(round6)
        .collect();
    Ranking {
        order: middle_out_order(&scores),
        scores,
    }
}

/// Keys whose strings are structure or payload, not prose to score: ids, roles, types,
/// signatures, base64 data, URLs, names of tools.
const NOT_TEXT: &[&str] = &[
    "role",
    "type",
    "id",
    "name",
    "tool_call_id",
    "tool_use_id",
    "signature",
    "thinking",
    "data",
    "url",
    "media_type",
    "mime_type",
    "mimeType",
    "cache_control",
];

/// The prose of a message (or any JSON): its string leaves, except under [`NOT_TEXT`] keys,
/// joined by newlines.
pub fn text_of(v: &Value) -> String {
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::String(s) => out.push(s),
            Value::Array(items) => items.iter().for_each(|x| walk(x, out)),
            Value::Object(m) => m
                .iter()
                .filter(|(k, _)| !NOT_TEXT.contains(&k.as_str()))
                .for_each(|(_, x)| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out.join("\n")
}

/// Reads every message, or says which one is not a message.
pub(crate) fn shapes_of(messages: &[Value]) -> Result<Vec<Shape>> {
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            shape(m).ok_or_else(|| {
                Error::invalid_input(format!("messages[{i}]: expected an object with a 'role'"))
                    .with_details(serde_json::json!({ "path": format!("messages[{i}]") }))
            })
        })
        .collect()
}

/// Earlier turns of `messages` reordered by relevance to `query` (default: the latest user
/// message's text). See the module docs for what moves.
pub fn prioritize_messages(messages: &[Value], query: Option<&str>) -> Result<PrioritizedMessages> {
    let shapes = shapes_of(messages)?;
    let n = messages.len();
    let identity = |scores| PrioritizedMessages {
        messages: messages.to_vec(),
        order: (0..n).collect(),
        scores,
    };
    let Some(latest) = shapes.iter().rposition(|s| s.kind == Kind::User) else {
        return Ok(identity(vec![None; n]));
    };
    // Units: a pinned message (None) or a movable turn (Some(range)), in order.
    let mut units: Vec<(std::ops::Range<usize>, bool)> = Vec::new();
    let mut i = 0;
    while i < latest {
        if shapes[i].kind != Kind::User {
            units.push((i..i + 1, false));
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < latest && !matches!(shapes[j].kind, Kind::User | Kind::System) {
            j += 1;
        }
        units.push((i..j, movable(&shapes[i..j])));
        i = j;
    }
    let turns: Vec<&std::ops::Range<usize>> =
        units.iter().filter(|(_, m)| *m).map(|(r, _)| r).collect();
    let query = match query {
        Some(q) => q.to_owned(),
        None => text_of(&messages[latest]),
    };
    let docs: Vec<Vec<String>> = turns
        .iter()
        .map(|r| terms(&text_of(&Value::Array(messages[(*r).clone()].to_vec()))))
        .collect();
    let turn_scores: Vec<f64> = bm25(&docs, &terms(&query))
        .into_iter()
        .map(round6)
        .collect();
    let mut scores = vec![None; n];
    for (r, &s) in turns.iter().zip(&turn_scores) {
        for k in (*r).clone() {
            scores[k] = Some(s);
        }
    }
    // Each span of consecutive movable turns, ordered on its own.
    let mut order: Vec<usize> = Vec::with_capacity(n);
    let mut t = 0; // index into `turns` / `turn_scores`
    let mut u = 0;
    while u < units.len() {
        if !units[u].1 {
            order.extend(units[u].0.clone());
            u += 1;
            continue;
        }
        let first = t;
        while u < units.len() && units[u].1 {
            u += 1;
            t += 1;
        }
        for k in middle_out_order(&turn_scores[first..t]) {
            order.extend(turns[first + k].clone());
        }
    }
    order.extend(latest..n);
    Ok(PrioritizedMessages {
        messages: order.iter().map(|&k| messages[k].clone()).collect(),
        order,
        scores,
    })
}

/// A turn may move when it ends on a plain assistant reply and its tool calls and results
/// all pair up inside it.
fn movable(turn: &[Shape]) -> bool {
    let Some(last) = turn.last() else {
        return false;
    };
    if turn.len() < 2 || last.kind != Kind::Assistant || !last.calls.is_empty() {
        return false;
    }
    let calls: Vec<&String> = turn.iter().flat_map(|s| &s.calls).collect();
    let mut results: Vec<&String> = turn.iter().flat_map(|s| &s.results).collect();
    let mut calls_sorted = calls.clone();
    calls_sorted.sort();
    results.sort();
    calls_sorted == results
}

/// Documents (all strings; `query` required) or messages (all objects; `query` defaults to
/// the latest user message), reordered.
pub fn prioritize(items: &[Value], query: Option<&str>) -> Result<Prioritized> {
    if items.iter().all(Value::is_string) {
        let docs: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
        let query = match (query, docs.is_empty()) {
            (Some(q), _) => q,
            (None, true) => "",
            (None, false) => {
                return Err(Error::invalid_input(
                    "query: documents are ranked against a query; none was given",
                )
                .with_details(serde_json::json!({ "path": "query" })))
            }
        };
        let r = prioritize_documents(&docs, query);
        return Ok(Prioritized {
            items: r.order.iter().map(|&i| items[i].clone()).collect(),
            order: r.order,
            scores: r.scores.into_iter().map(Some).collect(),
        });
    }
    if let Some(i) = items.iter().position(|v| !v.is_object()) {
        return Err(Error::invalid_input(format!(
            "items[{i}]: expected all documents (strings) or all messages (objects)"
        ))
        .with_details(serde_json::json!({ "path": format!("items[{i}]") })));
    }
    let p = prioritize_messages(items, query)?;
    Ok(Prioritized {
        items: p.messages,
        order: p.order,
        scores: p.scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn terms_split_words_digits_and_cjk() {
        assert_eq!(
            terms("Hello, World! GPT-4o 数据 naïve"),
            ["hello", "world", "gpt", "4o", "数", "据", "naïve"]
        );
    }

    #[test]
    fn the_best_goes_first_the_second_last_and_ties_keep_their_order() {
        // Ranks 1..5 are inputs 1, 3, 2, 4, 0: placed first, last, second, fourth, middle.
        assert_eq!(
            middle_out_order(&[1.0, 5.0, 3.0, 4.0, 2.0]),
            [1, 2, 0, 4, 3]
        );
        assert_eq!(middle_out_order(&[0.0; 5]), [0, 1, 2, 3, 4]);
        // Two equally best: the earlier first, the later last.
        assert_eq!(middle_out_order(&[0.0, 2.0, 0.0, 2.0]), [1, 0, 2, 3]);
        assert_eq!(middle_out_order(&[]), Vec::<usize>::new());
    }

    #[test]
    fn bm25_finds_the_needle() {
        let docs = [
            "The Eiffel Tower is in Paris.",
            "Bananas are yellow and rich in potassium.",
            "The capital of Australia is Canberra, not Sydney.",
            "Rust has no garbage collector.",
        ];
        let r = prioritize_documents(&docs, "What is the capital of Australia?");
        assert_eq!(r.order[0], 2);
        assert!(r.scores[2] > r.scores[0] && r.scores[1] == 0.0);
        // Made-up data: the same with the query's words inside a long document.
        let r = prioritize_documents(&["x"; 3], "nothing");
        assert_eq!((r.order, r.scores), (vec![0, 1, 2], vec![0.0; 3]));
    }

    #[test]
    fn turns_move_whole_and_the_latest_stays() {
        let msgs = vec![
            json!({"role": "system", "content": "Be brief."}),
            json!({"role": "user", "content": "do cats like rain"}),
            json!({"role": "assistant", "content": "cats hate rain"}),
            json!({"role": "user", "content": "tell me about bananas"}),
            json!({"role": "assistant", "content": "bananas are yellow"}),
            json!({"role": "user", "content": "and the weather in Oslo?"}),
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}]}),
            json!({"role": "tool", "tool_call_id": "a", "content": "Oslo: rain, 4 degrees"}),
            json!({"role": "assistant", "content": "rain in Oslo"}),
            json!({"role": "user", "content": "so, will it rain in Oslo tomorrow?"}),
        ];
        let p = prioritize_messages(&msgs, None).unwrap();
        // The Oslo turn (with its tool exchange) first, the rain-and-cats turn last, bananas
        // in the middle; the system message and the latest question stay where they were.
        assert_eq!(p.order, [0, 5, 6, 7, 8, 3, 4, 1, 2, 9]);
        assert_eq!((p.scores[0], p.scores[9]), (None, None));
        assert!(p.scores[5] > p.scores[1] && p.scores[1] > p.scores[3]);
        assert_eq!(p.scores[3], Some(0.0));
        super::super::validate(&p.messages, super::super::Dialect::Openai).unwrap();
    }
}
