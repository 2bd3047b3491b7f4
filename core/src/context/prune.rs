//! `prune`: a conversation cut to a token budget so that the provider still accepts it.
//!
//! The conversation is read into groups that are kept or dropped whole: each system message
//! (pinned, kept verbatim and in place), each user message, each assistant reply, and each
//! tool exchange (an assistant message with tool calls and every result answering them,
//! parallel calls included; thinking blocks live inside the assistant message, so they stay
//! with their turn). Groups make turns, each starting at a user message. Then, until the
//! conversation fits:
//! 1. whole turns go, oldest first (`keep_first_last`: the first turn goes last), never the
//!    latest;
//! 2. inside the latest turn, its older replies and tool exchanges go, never the newest;
//! 3. the latest user message is cut in the middle, with a marker saying so;
//! 4. else `context_too_large`.
//!
//! Broken groups in the input (a result without its call, calls without all their results)
//! are dropped first: no provider takes them. For dialects that need it, a conversation
//! starts with a user message (leading assistant messages are dropped, nothing is invented)
//! and same-side neighbours left by the drops are merged. Deterministic: the same input gives
//! the same output.

use super::shape::{shape, Kind, Shape};
use super::validate::Dialect;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;

/// Tokens that prime the reply, counted once per conversation (as OpenAI documents).
pub const REPLY_PRIMING: u64 = 3;
/// Put where the latest user message was cut.
pub const TRUNCATION_MARKER: &str =
    "\n[… trinity-core cut this message here to fit the context window …]\n";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Oldest turns first.
    #[default]
    DropOldest,
    /// Oldest turns first, but the first turn (often the task) only after all the others.
    KeepFirstLast,
    /// As `drop_oldest`, and what was dropped comes back as a summary (the caller's
    /// function) at the head of the first kept user message.
    Summarize,
}

/// How to prune.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PruneOptions {
    pub strategy: Strategy,
    pub dialect: Dialect,
    /// A budget below the window for the conversation itself.
    pub max_input_tokens: Option<u64>,
    /// Room kept for the answer (default: the request's `max_tokens`, else the model's max
    /// output, at most half the window).
    pub reserve_output_tokens: Option<u64>,
}

/// A pruned conversation and what happened to it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pruned {
    pub messages: Vec<Value>,
    /// Input indexes of the messages dropped (whole), in order.
    pub dropped: Vec<usize>,
    pub tokens_before: u64,
    pub tokens_after: u64,
    pub budget: u64,
    /// The latest user message was cut (marked with [`TRUNCATION_MARKER`]).
    pub truncated: bool,
    /// A summary of dropped turns was added.
    pub summarized: bool,
}

/// Summarises dropped messages into one text.
pub type Summarizer<'a> = &'a mut dyn FnMut(&[Value]) -> Result<String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GroupKind {
    System,
    User,
    Reply,
    Exchange,
    Broken,
}

#[derive(Clone, Debug)]
struct Group {
    kind: GroupKind,
    /// Input indexes.
    members: Vec<usize>,
}

/// Groups of `shapes`, in order; each message in exactly one.
fn groups(shapes: &[Shape]) -> Vec<Group> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < shapes.len() {
        let s = &shapes[i];
        let g = match s.kind {
            Kind::System => Group {
                kind: GroupKind::System,
                members: vec![i],
            },
            Kind::User => Group {
                kind: GroupKind::User,
                members: vec![i],
            },
            Kind::ToolResult => Group {
                kind: GroupKind::Broken,
                members: vec![i],
            },
            Kind::Assistant if s.calls.is_empty() => Group {
                kind: GroupKind::Reply,
                members: vec![i],
            },
            Kind::Assistant => {
                let mut waiting: BTreeSet<&str> = s.calls.iter().map(String::as_str).collect();
                let mut members = vec![i];
                let mut ok = waiting.len() == s.calls.len();
                while !waiting.is_empty() && ok {
                    match shapes.get(i + members.len()) {
                        Some(r) if r.kind == Kind::ToolResult => {
                            ok = r.results.iter().all(|id| waiting.remove(id.as_str()));
                            members.push(i + members.len());
                        }
                        _ => break,
                    }
                }
                let kind = match ok && waiting.is_empty() {
                    true => GroupKind::Exchange,
                    false => GroupKind::Broken,
                };
                Group { kind, members }
            }
        };
        i += g.members.len();
        out.push(g);
    }
    out
}

/// Prunes `messages` to `budget` tokens (the conversation's, the reply priming included),
/// each message counted by `count`.
pub fn prune_to(
    messages: &[Value],
    budget: u64,
    opts: &PruneOptions,
    count: &dyn Fn(&Value) -> u64,
    mut summarize: Option<Summarizer<'_>>,
) -> Result<Pruned> {
    let shapes: Vec<Shape> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            shape(m).ok_or_else(|| {
                Error::invalid_input(format!("messages[{i}]: expected an object with a 'role'"))
                    .with_details(serde_json::json!({ "path": format!("messages[{i}]") }))
            })
        })
        .collect::<Result<_>>()?;
    let tokens: Vec<u64> = messages.iter().map(count).collect();
    let tokens_before = REPLY_PRIMING + tokens.iter().sum::<u64>();
    let groups = groups(&shapes);
    let mut keep: Vec<bool> = groups.iter().map(|g| g.kind != GroupKind::Broken).collect();
    let alternates = opts.dialect != Dialect::Openai;
    // Turns: the group indexes from one user message to the next; what comes before the first
    // user message (not system) is turn 0's preamble.
    let mut turns: Vec<Vec<usize>> = vec![Vec::new()];
    for (gi, g) in groups.iter().enumerate() {
        match g.kind {
            GroupKind::System | GroupKind::Broken => {}
            GroupKind::User => {
                let prev_is_user = turns
                    .last()
                    .and_then(|t| t.last())
                    .is_some_and(|&p| groups[p].kind == GroupKind::User);
                match prev_is_user {
                    true => turns.last_mut().expect("one turn at least").push(gi),
                    false => turns.push(vec![gi]),
                }
            }
            _ => turns.last_mut().expect("one turn at least").push(gi),
        }
    }
    let preamble = turns.remove(0);
    if alternates {
        // Nothing is invented: a conversation that must start with a user loses what came
        // before the first user message.
        preamble.iter().for_each(|&g| keep[g] = false);
    }
    let total = |keep: &[bool]| -> u64 {
        REPLY_PRIMING
            + groups
                .iter()
                .zip(keep)
                .filter(|(_, k)| **k)
                .flat_map(|(g, _)| &g.members)
                .map(|&i| tokens[i])
                .sum::<u64>()
    };
    // 1. Whole turns, in the strategy's order; never the latest.
    let mut order: Vec<&Vec<usize>> = std::iter::once(&preamble).collect();
    let older = turns.len().saturating_sub(1);
    match opts.strategy {
        Strategy::KeepFirstLast if older > 1 => {
            order.extend(&turns[1..older]);
            order.push(&turns[0]);
        }
        _ => order.extend(&turns[..older]),
    }
    let mut dropped_turns: Vec<usize> = Vec::new();
    for turn in order {
        if total(&keep) <= budget {
            break;
        }
        for &g in turn {
            if keep[g] {
                keep[g] = false;
                dropped_turns.extend(&groups[g].members);
            }
        }
    }
    // 2. Inside the latest turn: older replies and exchanges, never the newest.
    if let Some(last) = turns.last() {
        let after_user: Vec<usize> = last
            .iter()
            .copied()
            .filter(|&g| groups[g].kind != GroupKind::User)
            .collect();
        for &g in after_user.iter().rev().skip(1).rev() {
            if total(&keep) <= budget {
                break;
            }
            keep[g] = false;
            dropped_turns.extend(&groups[g].members);
        }
    }
    let mut out: Vec<(usize, Value)> = groups
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .flat_map(|(g, _)| g.members.iter().map(|&i| (i, messages[i].clone())))
        .collect();
    let mut out_tokens: Vec<u64> = out.iter().map(|(i, _)| tokens[*i]).collect();
    let sum = |t: &[u64]| REPLY_PRIMING + t.iter().sum::<u64>();
    // The summary of what was dropped, at the head of the first kept user message.
    let mut summarized = false;
    if let (Strategy::Summarize, Some(f), false) =
        (opts.strategy, summarize.as_mut(), dropped_turns.is_empty())
    {
        dropped_turns.sort_unstable();
        let gone: Vec<Value> = dropped_turns.iter().map(|&i| messages[i].clone()).collect();
        let text = f(&gone)?;
        if let Some(pos) = out.iter().position(|(i, _)| shapes[*i].kind == Kind::User) {
            let mut with = out[pos].1.clone();
            prepend_text(
                &mut with,
                &format!("[Summary of the earlier conversation]\n{text}\n\n"),
            );
            let t = count(&with);
            if sum(&out_tokens) - out_tokens[pos] + t <= budget {
                out[pos].1 = with;
                out_tokens[pos] = t;
                summarized = true;
            }
        }
    }
    // 3. The latest user message, cut in the middle.
    let mut truncated = false;
    if sum(&out_tokens) > budget {
        let pos = out
            .iter()
            .rposition(|(i, _)| shapes[*i].kind == Kind::User)
            .ok_or_else(|| too_large(sum(&out_tokens), budget))?;
        let others = sum(&out_tokens) - out_tokens[pos];
        let room = budget
            .checked_sub(others)
            .ok_or_else(|| too_large(sum(&out_tokens), budget))?;
        let cut =
            cut_to(&out[pos].1, room, count).ok_or_else(|| too_large(sum(&out_tokens), budget))?;
        out_tokens[pos] = count(&cut);
        out[pos].1 = cut;
        truncated = true;
    }
    if opts.dialect == Dialect::Strict {
        // System messages only at the start: moved there, in order, unchanged.
        let mut paired: Vec<((usize, Value), u64)> = out.into_iter().zip(out_tokens).collect();
        paired.sort_by_key(|((i, _), _)| shapes[*i].kind != Kind::System);
        (out, out_tokens) = paired.into_iter().unzip();
    }
    // Same-side neighbours left by the drops, merged where the dialect wants alternation.
    if alternates {
        merge_neighbours(&mut out, &mut out_tokens, &shapes, count);
    }
    let tokens_after = sum(&out_tokens);
    if tokens_after > budget {
        return Err(too_large(tokens_after, budget));
    }
    let kept: BTreeSet<usize> = out.iter().map(|(i, _)| *i).collect();
    Ok(Pruned {
        dropped: (0..messages.len()).filter(|i| !kept.contains(i)).collect(),
        messages: out.into_iter().map(|(_, m)| m).collect(),
        tokens_before,
        tokens_after,
        budget,
        truncated,
        summarized,
    })
}

fn too_large(tokens: u64, budget: u64) -> Error {
    Error::new(
        crate::ErrorKind::ContextTooLarge,
        format!(
            "the instructions and the latest user message need {tokens} tokens, over the budget of {budget}"
        ),
    )
    .with_details(serde_json::json!({ "tokens": tokens, "budget": budget }))
}

/// `msg` with `text` before its content.
fn prepend_text(msg: &mut Value, text: &str) {
    match msg.get_mut("content") {
        Some(Value::String(s)) => s.insert_str(0, text),
        Some(Value::Array(blocks)) => {
            blocks.insert(0, serde_json::json!({"type": "text", "text": text}))
        }
        _ => {
            if let Some(parts) = msg.get_mut("parts").and_then(Value::as_array_mut) {
                parts.insert(0, serde_json::json!({"text": text}));
            } else {
                msg["content"] = Value::String(text.to_owned());
            }
        }
    }
}

/// The text of `msg` to cut: its string content, or its longest text block / part.
fn text_slot(msg: &mut Value) -> Option<&mut String> {
    if msg.get("content").is_some_and(Value::is_string) {
        return match msg.get_mut("content") {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
    }
    let blocks = match msg.get("content").is_some_and(Value::is_array) {
        true => msg.get_mut("content")?.as_array_mut()?,
        false => msg.get_mut("parts")?.as_array_mut()?,
    };
    blocks
        .iter_mut()
        .filter_map(|b| match b.get_mut("text") {
            Some(Value::String(s)) => Some(s),
            _ => None,
        })
        .max_by_key(|s| s.len())
}

/// `msg` with its text cut in the middle (head two thirds, tail one third, the marker
/// between) so that it counts at most `room`; `None` when even no text is too much.
fn cut_to(msg: &Value, room: u64, count: &dyn Fn(&Value) -> u64) -> Option<Value> {
    let mut probe = msg.clone();
    let original: Vec<char> = text_slot(&mut probe)?.chars().collect();
    let with = |keep: usize| -> Value {
        let mut m = msg.clone();
        if let Some(s) = text_slot(&mut m) {
            let head = keep * 2 / 3;
            let tail = keep - head;
            let mut t: String = original[..head].iter().collect();
            t.push_str(TRUNCATION_MARKER);
            t.extend(&original[original.len() - tail..]);
            *s = t;
        }
        m
    };
    if count(&with(0)) > room {
        return None;
    }
    // The most characters that fit: counts grow with the characters kept.
    let (mut lo, mut hi) = (0usize, original.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        match count(&with(mid)) <= room {
            true => lo = mid,
            false => hi = mid - 1,
        }
    }
    Some(with(lo))
}

/// Merges neighbours on the same side (two user messages, two assistant replies) into one.
fn merge_neighbours(
    out: &mut Vec<(usize, Value)>,
    out_tokens: &mut Vec<u64>,
    shapes: &[Shape],
    count: &dyn Fn(&Value) -> u64,
) {
    let mut i = 1;
    while i < out.len() {
        let (a, b) = (&shapes[out[i - 1].0], &shapes[out[i].0]);
        // Thinking opens an assistant turn: such a turn is never appended to another.
        let mergeable = a.kind == b.kind
            && matches!(a.kind, Kind::User | Kind::Assistant)
            && a.calls.is_empty()
            && b.calls.is_empty()
            && !b.thinking;
        if mergeable {
            let (_, next) = out.remove(i);
            out_tokens.remove(i);
            append(&mut out[i - 1].1, next);
            out_tokens[i - 1] = count(&out[i - 1].1);
        } else {
            i += 1;
        }
    }
}

/// `next`'s content after `msg`'s: strings joined by a blank line, block lists concatenated.
fn append(msg: &mut Value, next: Value) {
    let blocks = |v: &Value| -> Vec<Value> {
        match v.get("content").or_else(|| v.get("parts")) {
            Some(Value::String(s)) => vec![serde_json::json!({"type": "text", "text": s})],
            Some(Value::Array(b)) => b.clone(),
            _ => Vec::new(),
        }
    };
    let key = if msg.get("parts").is_some() {
        "parts"
    } else {
        "content"
    };
    match (msg.get(key), next.get(key)) {
        (Some(Value::String(a)), Some(Value::String(b))) => {
            let joined = format!("{a}\n\n{b}");
            msg[key] = Value::String(joined);
        }
        _ => {
            let mut all = blocks(msg);
            all.extend(blocks(&next));
            msg[key] = Value::Array(all);
        }
    }
}
