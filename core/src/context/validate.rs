//! Each provider's rules for a conversation, as local checks: what a pruned conversation must
//! pass so the provider never answers 400. The rules and the error texts they prevent are in
//! `shared/research/context-prompt.md` §1.2.

use super::shape::{shape, Kind, Shape};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;

/// Whose rules a conversation must follow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// OpenAI chat: tool results follow their call; every call answered.
    #[default]
    Openai,
    /// Anthropic: also the first message is a user's, roles alternate, and when thinking is on
    /// the last assistant turn with tool calls starts with its thinking.
    Anthropic,
    /// Gemini: a function response turn right after its call turn, with as many parts.
    Gemini,
    /// Chat templates that want system first, then user/assistant strictly alternating
    /// (Mistral, vLLM), ending on a user or tool turn; tool results one message each.
    Strict,
}

/// The first rule a conversation breaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub index: usize,
    pub rule: &'static str,
}

/// Checks `messages` against `dialect`'s rules.
pub fn validate(messages: &[Value], dialect: Dialect) -> Result<(), Violation> {
    let shapes: Vec<Shape> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            shape(m).ok_or(Violation {
                index: i,
                rule: "a message is an object with a role",
            })
        })
        .collect::<Result<_, _>>()?;
    let fail = |index, rule| Err(Violation { index, rule });
    // Calls waiting for their results, and where they were made.
    let mut open: Option<(usize, BTreeSet<String>)> = None;
    let alternates = dialect != Dialect::Openai;
    let mut last_side: Option<bool> = None; // true: user side (user or tool results)
    let mut seen_other = false;
    for (i, s) in shapes.iter().enumerate() {
        if s.kind == Kind::System {
            if dialect == Dialect::Strict && seen_other {
                return fail(i, "system messages only at the start");
            }
            if open.is_some() {
                return fail(i, "every tool call is answered before the next message");
            }
            continue;
        }
        if !seen_other && alternates && s.kind != Kind::User {
            return fail(i, "the first message after the system is a user message");
        }
        seen_other = true;
        match s.kind {
            Kind::ToolResult => {
                let Some((at, waiting)) = open.as_mut() else {
                    return fail(i, "a tool result follows the call it answers");
                };
                let spread = matches!(dialect, Dialect::Openai | Dialect::Strict);
                if !spread && *at + 1 != i {
                    return fail(i, "tool results come in the message right after the calls");
                }
                for r in &s.results {
                    if !waiting.remove(r) {
                        return fail(i, "a tool result answers a call of the message before");
                    }
                }
                let done = waiting.is_empty();
                if spread {
                    if done {
                        open = None;
                    }
                } else if !done {
                    return fail(i, "as many tool results as calls");
                } else {
                    open = None;
                }
            }
            _ => {
                if open.is_some() {
                    return fail(i, "every tool call is answered before the next message");
                }
                if s.kind == Kind::Assistant && !s.calls.is_empty() {
                    open = Some((i, s.calls.iter().cloned().collect()));
                }
            }
        }
        // One tool message per result (OpenAI's shape, also in strict templates): a run of
        // them is one turn.
        let run_of_results =
            s.kind == Kind::ToolResult && i > 0 && shapes[i - 1].kind == Kind::ToolResult;
        if alternates && !run_of_results {
            let user_side = s.kind != Kind::Assistant;
            if last_side == Some(user_side) {
                return fail(i, "user and assistant turns alternate");
            }
            last_side = Some(user_side);
        }
    }
    if let Some((at, _)) = open {
        return fail(at, "every tool call is answered");
    }
    if dialect == Dialect::Anthropic && shapes.iter().any(|s| s.thinking) {
        // With thinking on, the assistant turn of the open tool loop starts with thinking.
        if let Some((i, s)) = shapes
            .iter()
            .enumerate()
            .rev()
            .find(|(_, s)| s.kind == Kind::Assistant)
        {
            let in_loop = !s.calls.is_empty();
            if in_loop && !starts_with_thinking(&messages[i]) {
                return fail(
                    i,
                    "the last assistant turn of a tool loop starts with its thinking",
                );
            }
        }
    }
    if dialect == Dialect::Strict {
        if let Some((i, s)) = shapes.iter().enumerate().next_back() {
            if s.kind == Kind::Assistant {
                return fail(i, "the last message is a user or tool message");
            }
        }
    }
    Ok(())
}

fn starts_with_thinking(msg: &Value) -> bool {
    msg.get("content")
        .and_then(Value::as_array)
        .and_then(|b| b.first())
        .and_then(|b| b.get("type"))
        .and_then(Value::as_str)
        .is_some_and(|t| t == "thinking" || t == "redacted_thinking")
}
