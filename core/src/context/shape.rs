//! What one chat message is, whatever its provider's wire shape: OpenAI chat (`system`,
//! `developer`, `user`, `assistant` with `tool_calls`, `tool` with `tool_call_id`), Anthropic
//! (content blocks: `tool_use` in the assistant's turn, `tool_result` in the user's next,
//! `thinking` / `redacted_thinking`), Gemini (`user` / `model` with `parts`:
//! `functionCall`, `functionResponse`). Pruning and validation work on this, never on the
//! dialect's own fields.

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `system` or `developer`: kept verbatim.
    System,
    /// A user message that starts a turn.
    User,
    Assistant,
    /// Tool results: an OpenAI `tool` message, an Anthropic user message of `tool_result`
    /// blocks, a Gemini turn of `functionResponse` parts.
    ToolResult,
}

/// One message, read.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    pub kind: Kind,
    /// The role as written (`model` for Gemini's assistant).
    pub role: String,
    /// Tool calls it makes (ids; Gemini's calls have none: `name#n`, counted per turn).
    pub calls: Vec<String>,
    /// Tool results it carries, by the id of the call they answer.
    pub results: Vec<String>,
    /// Anthropic `thinking` / `redacted_thinking` blocks: they stay with their turn.
    pub thinking: bool,
    /// No text, parts or calls at all.
    pub empty: bool,
}

/// Reads `msg`; `None` when it is not a message object with a role.
pub fn shape(msg: &Value) -> Option<Shape> {
    let obj = msg.as_object()?;
    let role = obj.get("role")?.as_str()?.to_owned();
    let mut s = Shape {
        kind: Kind::User,
        role: role.clone(),
        calls: Vec::new(),
        results: Vec::new(),
        thinking: false,
        empty: true,
    };
    // OpenAI fields.
    if let Some(calls) = obj.get("tool_calls").and_then(Value::as_array) {
        for c in calls {
            s.calls
                .push(c.get("id").and_then(Value::as_str).unwrap_or("").to_owned());
        }
    }
    if let Some(id) = obj.get("tool_call_id").and_then(Value::as_str) {
        s.results.push(id.to_owned());
    }
    let mut text = false;
    match obj.get("content") {
        Some(Value::String(t)) => text |= !t.is_empty(),
        Some(Value::Array(blocks)) => blocks.iter().for_each(|b| block(b, &mut s, &mut text)),
        _ => {}
    }
    // Gemini: `parts` of text, functionCall, functionResponse.
    if let Some(parts) = obj.get("parts").and_then(Value::as_array) {
        for p in parts {
            if let Some(call) = p.get("functionCall") {
                let n = s.calls.len();
                s.calls.push(format!("{}#{n}", name_of(call)));
            } else if let Some(resp) = p.get("functionResponse") {
                let n = s.results.len();
                s.results.push(format!("{}#{n}", name_of(resp)));
            } else {
                text = true;
            }
        }
    }
    s.empty = !text && s.calls.is_empty() && s.results.is_empty() && !s.thinking;
    s.kind = match role.as_str() {
        "system" | "developer" => Kind::System,
        "assistant" | "model" => Kind::Assistant,
        "tool" | "function" => Kind::ToolResult,
        _ if !s.results.is_empty() => Kind::ToolResult,
        _ => Kind::User,
    };
    Some(s)
}

fn name_of(v: &Value) -> &str {
    v.get("name").and_then(Value::as_str).unwrap_or("")
}

/// One Anthropic-style content block (or an OpenAI content part).
fn block(b: &Value, s: &mut Shape, text: &mut bool) {
    match b.get("type").and_then(Value::as_str) {
        Some("tool_use") => s
            .calls
            .push(b.get("id").and_then(Value::as_str).unwrap_or("").to_owned()),
        Some("tool_result") => s.results.push(
            b.get("tool_use_id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        ),
        Some("thinking" | "redacted_thinking") => s.thinking = true,
        Some("text") => {
            *text |= b
                .get("text")
                .and_then(Value::as_str)
                .is_some_and(|t| !t.is_empty())
        }
        // Images, documents and other parts count as content.
        _ => *text = true,
    }
}
