//! PromptOptimizer over the committed corpus (`tests/fixtures/prompts/<slice>/`): protected
//! spans (fences, URLs, numbers, quoted strings, `{{vars}}`) come out byte-identical and in
//! order once the repeat references are expanded, JSON values parse the same, every pass is
//! idempotent and deterministic, `compress` fits its target, and cache breakpoints obey the
//! registry's minimums. The span and marker readers here are the tests' own, not the
//! library's.

use regex::Regex;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::LazyLock;
use trinity_core::context::count::message_tokens;
use trinity_core::prompt::{
    compress, compress_with, lossless_messages, lossless_text, optimize_for_cost,
    optimize_for_model, Caching, DropReason, Prompt,
};
use trinity_core::registry::{self, Registry};
use trinity_core::tokens::encoding_for_model;
use trinity_core::{Encoding, Model};

#[path = "support/prompt_corpus.rs"]
mod prompt_corpus;
use prompt_corpus::{corpus, SLICES};

// ---------------------------------------------------------------- the tests' own readers

static URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?:https?|ftp|file)://[^\s<>"'`]+"#).unwrap());
static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d+(?:\.\d+)?").unwrap());
static QUOTED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#""(?:[^"\\\n]|\\.)*""#).unwrap());
static VAR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\{\{[^}\n]*\}\}").unwrap());
static MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\[same as (?:message (\d+), )?lines? (\d+)(?:-(\d+))?(?: above)?(?:, (\d+) times)?\]$",
    )
    .unwrap()
});

/// Protected spans of a text, by kind, in order.
#[derive(Debug, Default, PartialEq, Eq)]
struct Spans {
    fences: Vec<String>,
    urls: Vec<String>,
    numbers: Vec<String>,
    quoted: Vec<String>,
    vars: Vec<String>,
}

impl Spans {
    fn of(text: &str) -> Spans {
        let mut s = Spans::default();
        let mut rest = String::new();
        let mut fence: Option<Vec<&str>> = None;
        for line in text.split('\n') {
            let t = line.trim_start();
            let marker = t.starts_with("```") || t.starts_with("~~~");
            match fence.as_mut() {
                Some(f) => {
                    f.push(line);
                    if marker {
                        s.fences.push(fence.take().unwrap().join("\n"));
                    }
                }
                None if marker => fence = Some(vec![line]),
                None => {
                    rest.push_str(line);
                    rest.push('\n');
                }
            }
        }
        if let Some(f) = fence {
            s.fences.push(f.join("\n"));
        }
        let all = |re: &Regex| {
            re.find_iter(&rest)
                .map(|m| m.as_str().to_string())
                .collect()
        };
        s.urls = all(&URL);
        s.numbers = all(&NUMBER);
        s.quoted = all(&QUOTED);
        s.vars = all(&VAR);
        s
    }

    fn extend(&mut self, o: Spans) {
        self.fences.extend(o.fences);
        self.urls.extend(o.urls);
        self.numbers.extend(o.numbers);
        self.quoted.extend(o.quoted);
        self.vars.extend(o.vars);
    }

    fn kinds(&self) -> [(&'static str, &Vec<String>); 5] {
        [
            ("fences", &self.fences),
            ("urls", &self.urls),
            ("numbers", &self.numbers),
            ("quoted", &self.quoted),
            ("vars", &self.vars),
        ]
    }

    fn total(&self) -> usize {
        self.kinds().iter().map(|(_, v)| v.len()).sum()
    }
}

/// Texts of a message, in order (string content, text blocks, tool results, Gemini parts).
fn text_block(b: &Value) -> Option<&str> {
    b.get("text").and_then(Value::as_str).filter(|_| {
        b.get("type")
            .and_then(Value::as_str)
            .is_none_or(|t| t == "text")
    })
}

fn slots(msg: &Value) -> Vec<&str> {
    let mut out = vec![];
    match msg.get("content") {
        Some(Value::String(s)) => out.push(s.as_str()),
        Some(Value::Array(blocks)) => {
            for b in blocks {
                if let Some(t) = text_block(b) {
                    out.push(t);
                } else if b["type"] == "tool_result" {
                    match &b["content"] {
                        Value::String(s) => out.push(s.as_str()),
                        Value::Array(inner) => out.extend(inner.iter().filter_map(text_block)),
                        _ => {}
                    }
                }
            }
        }
        _ => {}
    }
    out
}

/// The message with its texts blanked: what the optimizer must leave alone.
fn skeleton(msg: &Value) -> Value {
    fn blank(v: &mut Value, texts: &BTreeSet<String>) {
        match v {
            Value::String(s) if texts.contains(s) => *s = "<text>".into(),
            Value::Array(a) => a.iter_mut().for_each(|x| blank(x, texts)),
            Value::Object(o) => o.values_mut().for_each(|x| blank(x, texts)),
            _ => {}
        }
    }
    let texts: BTreeSet<String> = slots(msg).into_iter().map(String::from).collect();
    let mut v = msg.clone();
    blank(&mut v, &texts);
    v
}

/// Expands every repeat marker of `text` from `own` (the lines of its own scope so far,
/// itself included) or from `messages` (each message's lines, its texts one after another).
fn expand(text: &str, own_before: &[String], messages: &[Vec<String>]) -> String {
    let mut own: Vec<String> = own_before.to_vec();
    let mut out = Vec::new();
    for line in text.split('\n') {
        own.push(line.to_string());
        let Some(c) = MARKER.captures(line) else {
            out.push(line.to_string());
            continue;
        };
        let n = |i: usize| c.get(i).map(|m| m.as_str().parse::<usize>().unwrap());
        let (first, last) = (n(2).unwrap(), n(3).unwrap_or(n(2).unwrap()));
        let source = match n(1) {
            Some(m) => &messages[m - 1],
            None => &own,
        };
        for _ in 0..n(4).unwrap_or(1) {
            for k in first..=last {
                let l = &source[k - 1];
                assert!(!MARKER.is_match(l), "a marker points at a marker: {line}");
                out.push(l.clone());
            }
        }
    }
    out.join("\n")
}

fn expand_messages(msgs: &[Value]) -> Vec<Vec<String>> {
    let lines: Vec<Vec<String>> = msgs
        .iter()
        .map(|m| {
            slots(m)
                .iter()
                .flat_map(|t| t.split('\n').map(String::from))
                .collect()
        })
        .collect();
    msgs.iter()
        .map(|m| {
            let mut own: Vec<String> = Vec::new();
            slots(m)
                .iter()
                .map(|t| {
                    let e = expand(t, &own, &lines);
                    own.extend(t.split('\n').map(String::from));
                    e
                })
                .collect()
        })
        .collect()
}

fn spans_of_messages(texts: &[Vec<String>]) -> Spans {
    let mut s = Spans::default();
    texts.iter().flatten().for_each(|t| s.extend(Spans::of(t)));
    s
}

/// JSON objects and arrays that start a line and end one, outside fences, in order.
fn json_values(text: &str) -> Vec<Value> {
    json_spans(text).into_iter().map(|(_, v)| v).collect()
}

fn json_spans(text: &str) -> Vec<(&str, Value)> {
    let mut out = vec![];
    let mut at = 0;
    let mut in_fence = false;
    while at < text.len() {
        let end = text[at..].find('\n').map_or(text.len(), |k| at + k);
        let line = &text[at..end];
        let t = line.trim_start();
        if t.starts_with("```") {
            in_fence = !in_fence;
        }
        let mut next = end + 1;
        if !in_fence && (t.starts_with('{') || t.starts_with('[')) {
            let start = at + (line.len() - t.len());
            let mut it = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
            if let Some(Ok(v)) = it.next() {
                let vend = start + it.byte_offset();
                let lend = text[vend..].find('\n').map_or(text.len(), |k| vend + k);
                if text[vend..lend].trim().is_empty() {
                    out.push((&text[start..vend], v));
                    next = lend + 1;
                }
            }
        }
        at = next;
    }
    out
}

fn reg() -> std::sync::Arc<Registry> {
    registry::global()
}

fn o200k(t: &str) -> u64 {
    Encoding::O200kBase.count(t) as u64
}

// ---------------------------------------------------------------- corpus

#[test]
fn corpus_has_every_slice_and_stays_small() {
    let cases = corpus();
    assert!(cases.len() >= 35, "{} cases", cases.len());
    for slice in SLICES {
        assert!(
            cases.iter().filter(|c| c.slice == slice).count() >= 5,
            "{slice}"
        );
    }
    let bytes: usize = cases
        .iter()
        .map(|c| serde_json::to_string(&c.prompt).unwrap().len())
        .sum();
    assert!(bytes < 300_000, "{bytes} bytes");
}

// ---------------------------------------------------------------- lossless tier

#[test]
fn protected_spans_come_out_byte_identical_and_in_order() {
    let mut checked = 0;
    for case in corpus() {
        let out = optimize_for_cost(&reg(), &case.prompt, Some("gpt-4o")).unwrap();
        let (before, after) = match (&case.prompt, &out.prompt) {
            (Prompt::Text(a), Prompt::Text(b)) => (Spans::of(a), Spans::of(&expand(b, &[], &[]))),
            (Prompt::Messages(a), Prompt::Messages(b)) => {
                let a_texts: Vec<Vec<String>> = a
                    .iter()
                    .map(|m| slots(m).into_iter().map(String::from).collect())
                    .collect();
                (
                    spans_of_messages(&a_texts),
                    spans_of_messages(&expand_messages(b)),
                )
            }
            _ => panic!("{}: the prompt changed kind", case.name),
        };
        for ((kind, a), (_, b)) in before.kinds().iter().zip(after.kinds()) {
            assert_eq!(a, &b, "{}: {kind} changed", case.name);
        }
        checked += before.total();
        assert!(
            out.tokens_after <= out.tokens_before,
            "{}: {} -> {} tokens",
            case.name,
            out.tokens_before,
            out.tokens_after
        );
    }
    assert!(checked > 1000, "only {checked} spans checked");
}

#[test]
fn lossless_passes_are_idempotent_and_deterministic() {
    for case in corpus() {
        let once = optimize_for_cost(&reg(), &case.prompt, None).unwrap();
        let twice = optimize_for_cost(&reg(), &once.prompt, None).unwrap();
        assert_eq!(twice.prompt, once.prompt, "{}: f(f(x)) != f(x)", case.name);
        assert_eq!(twice.passes, Default::default(), "{}", case.name);
        let again = optimize_for_cost(&reg(), &case.prompt, None).unwrap();
        assert_eq!(again, once, "{}: not deterministic", case.name);
    }
}

#[test]
fn json_values_parse_the_same_and_keep_key_order() {
    let mut values = 0;
    for case in corpus() {
        match &case.prompt {
            Prompt::Text(t) => {
                let (out, _) = lossless_text(t);
                let before = json_values(t);
                assert_eq!(
                    json_values(&expand(&out, &[], &[])),
                    before,
                    "{}",
                    case.name
                );
                values += before.len();
            }
            Prompt::Messages(m) => {
                let (out, _) = lossless_messages(m).unwrap();
                let expanded = expand_messages(&out);
                for (i, msg) in m.iter().enumerate() {
                    for (k, t) in slots(msg).iter().enumerate() {
                        let before = json_values(t);
                        assert_eq!(json_values(&expanded[i][k]), before, "{}", case.name);
                        values += before.len();
                    }
                }
            }
        }
    }
    assert!(values >= 10, "only {values} JSON values in the corpus");
    // Key order, string bytes and number spellings stay as written.
    let (out, p) =
        lossless_text("{\n  \"zeta\": 1.50,\n  \"alpha\": \"a  b\\\"c\",\n  \"n\": [1e3, -0.0]\n}");
    assert_eq!(out, r#"{"zeta":1.50,"alpha":"a  b\"c","n":[1e3,-0.0]}"#);
    assert_eq!(p.json_values, 1);
    // Not JSON (a trailing comma), so not touched beyond whitespace.
    let (out, _) = lossless_text("{\n  \"a\": 1,\n}");
    assert_eq!(out, "{\n  \"a\": 1,\n}");
}

#[test]
fn conversations_keep_everything_but_their_texts() {
    for case in corpus() {
        let Prompt::Messages(m) = &case.prompt else {
            continue;
        };
        let (out, _) = lossless_messages(m).unwrap();
        assert_eq!(out.len(), m.len());
        for (a, b) in m.iter().zip(&out) {
            assert_eq!(skeleton(a), skeleton(b), "{}", case.name);
        }
    }
    // A signed thinking block keeps its bytes, blanks included.
    let msgs = json!([{"role": "assistant", "content": [
        {"type": "thinking", "thinking": "a   b\n\n\n\nc  ", "signature": "sig"},
        {"type": "text", "text": "x   y  "}]}]);
    let (out, _) = lossless_messages(msgs.as_array().unwrap()).unwrap();
    assert_eq!(out[0]["content"][0], msgs[0]["content"][0]);
    assert_eq!(out[0]["content"][1]["text"], "x y");
    let err = lossless_messages(&[json!("hi")]).unwrap_err();
    assert_eq!(err.code(), "invalid_input");
}

#[test]
fn repeats_refer_back_across_messages_and_the_prefix_stays_stable() {
    let cases = corpus();
    let agent = cases
        .iter()
        .find(|c| c.name == "agent_repeated_tool.messages.json")
        .unwrap();
    let Prompt::Messages(m) = &agent.prompt else {
        unreachable!()
    };
    let (out, passes) = lossless_messages(m).unwrap();
    // The second, identical tool result points at the first (message 4, compacted to a line).
    assert_eq!(out[7]["content"], "[same as message 4, line 1]");
    assert!(passes.repeats >= 1);
    for case in &cases {
        let Prompt::Messages(m) = &case.prompt else {
            continue;
        };
        let (full, _) = lossless_messages(m).unwrap();
        for k in 1..m.len() {
            let (head, _) = lossless_messages(&m[..k]).unwrap();
            assert_eq!(head[..], full[..k], "{}: prefix of {k} changed", case.name);
        }
    }
}

#[test]
fn lossless_savings_by_slice() {
    // Exact o200k counts; the bench prints the medians and p90s.
    let mut by_slice = std::collections::BTreeMap::<&str, (u64, u64)>::new();
    for case in corpus() {
        let out = optimize_for_cost(&reg(), &case.prompt, None).unwrap();
        let e = by_slice.entry(case.slice).or_default();
        e.0 += out.tokens_before;
        e.1 += out.tokens_after;
    }
    let saving = |(b, a): (u64, u64)| 1.0 - a as f64 / b as f64;
    let redundant = ["json", "logs", "history", "boilerplate"]
        .iter()
        .map(|s| by_slice[s])
        .fold((0, 0), |x, y| (x.0 + y.0, x.1 + y.1));
    // Whole prompts of the JSON slice (questions and a fenced, untouched JSON included): 26.8%
    // measured on the 14 prompts; the floors catch a pass that stops compacting.
    assert!(
        saving(by_slice["json"]) >= 0.26,
        "json {:?}",
        by_slice["json"]
    );
    assert!(saving(redundant) >= 0.15, "redundant {redundant:?}");
    // The pretty JSON values alone: 28.9% measured (TOON's benchmark measured 32.9% for
    // json-compact on its own data). Compact JSON is the smallest form that keeps every string
    // and number byte-identical, and o200k reads a newline with its indent as one token, so
    // 4-space indents save no more than 2-space ones.
    let mut values = (0, 0);
    for case in corpus().iter().filter(|c| c.slice == "json") {
        let Prompt::Text(t) = &case.prompt else {
            continue;
        };
        for (raw, _) in json_spans(t) {
            values.0 += o200k(raw);
            values.1 += o200k(&lossless_text(raw).0);
        }
    }
    assert!(saving(values) >= 0.28, "json values {values:?}");
}

// ---------------------------------------------------------------- compress

#[test]
fn compress_fits_the_target_and_keeps_protected_spans() {
    let (mut lossy, mut refused, mut near) = (0, 0, 0);
    for case in corpus() {
        let Prompt::Text(text) = &case.prompt else {
            continue;
        };
        let full = o200k(&lossless_text(text).0);
        for pct in [95, 80, 60, 40, 20] {
            let target = full * pct / 100;
            match compress(&reg(), text, target, Some("gpt-4o")) {
                Ok(out) => {
                    assert_eq!(o200k(&out.text), out.tokens_after, "{}", case.name);
                    assert!(out.tokens_after <= target, "{} at {pct}%", case.name);
                    let (a, b) = (Spans::of(text), Spans::of(&out.text));
                    assert_eq!(a.fences, b.fences, "{}: fences", case.name);
                    for ((kind, x), (_, y)) in a.kinds().iter().zip(b.kinds()) {
                        // Every distinct span survives; the order is kept.
                        let xs: BTreeSet<_> = x.iter().collect();
                        let ys: BTreeSet<_> = y.iter().collect();
                        assert_eq!(xs, ys, "{} at {pct}%: {kind}", case.name);
                        let mut it = x.iter();
                        assert!(
                            y.iter().all(|s| it.any(|t| t == s)),
                            "{}: {kind} order",
                            case.name
                        );
                    }
                    if !out.lossless {
                        lossy += 1;
                        assert!(!out.dropped.is_empty());
                        assert!(!out.text.trim().is_empty(), "{}", case.name);
                        // Near the target, unless every dropped unit is bigger than the gap
                        // (two tokens of slack for the seams).
                        let gap = target - out.tokens_after;
                        let fits_back = out
                            .dropped
                            .iter()
                            .filter(|d| d.reason == DropReason::LowInformation)
                            .any(|d| d.tokens + 2 <= gap);
                        assert!(!fits_back, "{} at {pct}%: {gap} tokens left", case.name);
                        near += usize::from(out.tokens_after * 10 >= target * 9);
                    }
                }
                Err(e) => {
                    assert_eq!(e.code(), "context_too_large", "{}", case.name);
                    let min = e.details.as_ref().unwrap()["min_tokens"].as_u64().unwrap();
                    assert!(min > target, "{}", case.name);
                    refused += 1;
                }
            }
        }
    }
    assert!(lossy >= 30, "only {lossy} lossy fits");
    assert!(refused >= 1, "no target was refused");
    assert!(
        near * 10 >= lossy * 6,
        "{near} of {lossy} within 10% of the target"
    );
}

#[test]
fn compress_drops_repeats_and_filler_first_and_is_idempotent() {
    let text = "Please read the notes below and answer the question at the end.\n\n\
        The weather was nice and everybody had a good time at the picnic. \
        The weather was nice and everybody had a good time at the picnic. \
        Our quarterly revenue grew 12% to 4.1 million euros, driven by the Nordic launch. \
        It was a day like many others, nothing special happened at all. \
        Churn fell from 3.2% to 2.7% after the onboarding redesign.\n\n\
        Question: by how much did revenue grow, and what happened to churn?";
    let enc = Encoding::O200kBase;
    let target = o200k(text) * 7 / 10;
    let out = compress_with(text, target, enc).unwrap();
    assert!(out.tokens_after <= target);
    assert!(out
        .dropped
        .iter()
        .any(|d| d.reason == DropReason::Duplicate));
    assert!(out.text.contains("12% to 4.1 million") && out.text.contains("3.2% to 2.7%"));
    assert!(out.text.ends_with("what happened to churn?"));
    assert_eq!(
        compress_with(&out.text, target, enc).unwrap().text,
        out.text
    );
    // A prompt that fits comes back as it is.
    let fits = compress_with(text, 10_000, enc).unwrap();
    assert_eq!((fits.text.as_str(), fits.lossless), (text, true));
    // Nothing but protected content: refused with the smallest reachable count.
    let err = compress_with("1 2 3 4 5 6 7 8 9 10 11 12 https://a.example/x", 5, enc).unwrap_err();
    assert_eq!(err.code(), "context_too_large");
    assert!(err.details.unwrap()["min_tokens"].as_u64().unwrap() > 5);
}

// ---------------------------------------------------------------- cache layout

#[test]
fn registry_carries_the_cache_minimums() {
    let r = reg();
    let min = |m: &str| r.get(m).unwrap().cache_min_tokens;
    assert_eq!(min("claude-haiku-4-5"), Some(4096));
    assert_eq!(min("claude-sonnet-4-5"), Some(1024));
    assert_eq!(min("claude-opus-5"), Some(512));
    assert_eq!(min("gpt-4o"), Some(1024));
    assert_eq!(min("gpt-3.5-turbo"), None);
    assert_eq!(min("ollama/llama3.1:8b"), None);
    let mut m = serde_json::to_value(&*r.get("gpt-4o").unwrap()).unwrap();
    m["cache_min_tokens"] = json!(0);
    assert_eq!(Model::from_json(m).unwrap_err().code(), "invalid_input");
}

/// A system prompt of about `words` words, with a per-request date line in it.
fn system_prompt(words: usize) -> String {
    let rules: Vec<String> = (0..words / 12)
        .map(|i| format!("Rule {i}: answer politely, cite the handbook section, and keep the customer's data private."))
        .collect();
    format!(
        "You are the support agent for Acme.\nCurrent date: 2026-05-01 10:42 UTC\n{}",
        rules.join("\n")
    )
}

fn agent_loop(turns: usize, system_words: usize) -> Vec<Value> {
    let mut m = vec![json!({"role": "system", "content": system_prompt(system_words)})];
    for t in 0..turns {
        m.push(json!({"role": "user", "content": format!("Step {t}: check order A-{} and report its status.", 1000 + t)}));
        m.push(json!({"role": "assistant", "content": [
            {"type": "text", "text": format!("Looking up order A-{}.", 1000 + t)},
            {"type": "tool_use", "id": format!("toolu_{t}"), "name": "lookup", "input": {"id": format!("A-{}", 1000 + t)}}]}));
        m.push(json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": format!("toolu_{t}"),
            "content": format!("status: shipped on 2026-04-{:02}, carrier DHL, tracking JD0146000{t:04}", 1 + t % 28)}]}));
    }
    m
}

/// Tokens of the prefix that ends with `msgs[i].content[b]`, counted independently.
fn prefix_tokens(enc: Encoding, msgs: &[Value], i: usize, b: usize) -> u64 {
    // The marks are request metadata, not prompt text.
    let unmarked: Vec<Value> = msgs[..=i]
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if let Some(blocks) = m["content"].as_array_mut() {
                blocks.iter_mut().for_each(|b| {
                    b.as_object_mut().unwrap().remove("cache_control");
                });
            }
            m
        })
        .collect();
    let mut last = unmarked[i].clone();
    let blocks: Vec<Value> = last["content"].as_array().unwrap()[..=b].to_vec();
    last["content"] = json!(blocks);
    unmarked[..i]
        .iter()
        .map(|m| message_tokens(enc, m))
        .sum::<u64>()
        + message_tokens(enc, &last)
}

fn marks(msgs: &[Value]) -> usize {
    msgs.iter()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|b| b.get("cache_control").is_some())
        .count()
}

#[test]
fn anthropic_breakpoints_at_most_four_each_over_the_minimum() {
    let r = reg();
    let mut placed = 0;
    for model in r.by_provider("anthropic") {
        let Some(min) = model.cache_min_tokens else {
            continue;
        };
        let (enc, _) = encoding_for_model(&r, &model.id).unwrap();
        for (turns, words) in [(1, 60), (2, 900), (12, 1500), (40, 3000), (80, 200)] {
            let msgs = agent_loop(turns, words);
            let out = optimize_for_model(&r, &Prompt::Messages(msgs.clone()), &model.id).unwrap();
            assert_eq!(out.caching, Caching::Breakpoints);
            let Prompt::Messages(om) = &out.prompt else {
                panic!()
            };
            assert!(out.breakpoints.len() <= 4 && marks(om) == out.breakpoints.len());
            for bp in &out.breakpoints {
                let (i, b) = (bp.message.unwrap(), bp.block.unwrap());
                assert!(om[i]["content"][b].get("cache_control").is_some());
                let p = prefix_tokens(enc, om, i, b);
                assert_eq!(p, bp.prefix_tokens, "{} {turns}", model.id);
                assert!(p >= u64::from(min), "{}: {p} < {min}", model.id);
            }
            placed += out.breakpoints.len();
            // The date line moved after the stable system text, into its own block, and no
            // breakpoint covers it unless it also covers the conversation.
            assert_eq!(out.moved, ["Current date: 2026-05-01 10:42 UTC"]);
            let sys = om[0]["content"].as_array().unwrap();
            assert_eq!(
                sys.last().unwrap()["text"],
                "Current date: 2026-05-01 10:42 UTC"
            );
            assert!(sys.last().unwrap().get("cache_control").is_none());
            // Laying out again changes nothing.
            let again = optimize_for_model(&r, &out.prompt, &model.id).unwrap();
            assert_eq!(again.prompt, out.prompt, "{} {turns}", model.id);
        }
    }
    assert!(placed >= 20, "only {placed} breakpoints placed");

    // Marks already there count toward the 4.
    let mut msgs = agent_loop(40, 3000);
    for i in [2, 5, 8] {
        msgs[i]["content"][0]["cache_control"] = json!({"type": "ephemeral"});
    }
    let out = optimize_for_model(&r, &Prompt::Messages(msgs), "claude-sonnet-4-5").unwrap();
    let Prompt::Messages(om) = &out.prompt else {
        panic!()
    };
    assert_eq!(out.existing_breakpoints, 3);
    assert_eq!(marks(om), 4);
}

#[test]
fn breakpoints_follow_the_registry_minimum() {
    let r = Registry::builtin();
    let mut m = serde_json::to_value(&*r.get("claude-sonnet-4-5").unwrap()).unwrap();
    m["id"] = json!("test-claude");
    m["aliases"] = json!([]);
    m["cache_min_tokens"] = json!(50);
    r.add_json(m.clone()).unwrap();
    let msgs = Prompt::Messages(agent_loop(2, 60));
    let low = optimize_for_model(&r, &msgs, "test-claude").unwrap();
    assert!(!low.breakpoints.is_empty());
    assert!(low.breakpoints.iter().all(|b| b.prefix_tokens >= 50));
    m["cache_min_tokens"] = json!(100_000);
    r.update("test-claude", json!({"cache_min_tokens": 100_000}))
        .unwrap();
    let high = optimize_for_model(&r, &msgs, "test-claude").unwrap();
    assert!(high.breakpoints.is_empty());
    assert_eq!(high.reaches_minimum, Some(false));
    // No minimum known: no breakpoints, nothing claimed.
    r.update("test-claude", json!({"cache_min_tokens": null}))
        .unwrap();
    let none = optimize_for_model(&r, &msgs, "test-claude").unwrap();
    assert_eq!(
        (none.caching, none.reaches_minimum),
        (Caching::Unknown, None)
    );
    assert!(none.breakpoints.is_empty());
}

#[test]
fn openai_reports_whether_the_stable_prefix_reaches_its_minimum() {
    let r = reg();
    for (words, reaches) in [(120, false), (1500, true)] {
        let msgs = Prompt::Messages(agent_loop(3, words));
        let out = optimize_for_model(&r, &msgs, "gpt-4o").unwrap();
        assert_eq!(out.caching, Caching::Automatic);
        assert_eq!(out.cache_min_tokens, Some(1024));
        assert_eq!(out.reaches_minimum, Some(reaches), "{words} words");
        let Prompt::Messages(om) = &out.prompt else {
            panic!()
        };
        assert_eq!(marks(om), 0);
        // The stable prefix is the system text before the moved date line.
        let sys = om[0]["content"].as_str().unwrap();
        assert!(sys.ends_with("\n\nCurrent date: 2026-05-01 10:42 UTC"));
        let stable = json!({"role": "system", "content": sys.rsplit_once("\n\n").unwrap().0});
        assert_eq!(
            out.stable_prefix_tokens,
            message_tokens(Encoding::O200kBase, &stable)
        );
        assert_eq!(
            optimize_for_model(&r, &out.prompt, "gpt-4o")
                .unwrap()
                .prompt,
            out.prompt
        );
    }
}

#[test]
fn text_prompts_put_metadata_last_and_mark_the_stable_end() {
    let r = reg();
    let text = format!(
        "Session ID: 5f0c2a9e-8d1b-4c3e-9f2a-1b2c3d4e5f60\n{}\n\nQuestion: which rule covers refunds?",
        system_prompt(2000)
    );
    let out = optimize_for_model(&r, &Prompt::Text(text), "claude-sonnet-4-5").unwrap();
    let Prompt::Text(t) = &out.prompt else {
        panic!()
    };
    assert_eq!(out.moved.len(), 2);
    assert!(t.ends_with(
        "\n\nSession ID: 5f0c2a9e-8d1b-4c3e-9f2a-1b2c3d4e5f60\nCurrent date: 2026-05-01 10:42 UTC"
    ));
    let bp = &out.breakpoints[..];
    assert_eq!(bp.len(), 1);
    let cut = bp[0].offset.unwrap();
    assert!(t[..cut].ends_with("which rule covers refunds?"));
    let (enc, _) = encoding_for_model(&r, "claude-sonnet-4-5").unwrap();
    assert_eq!(bp[0].prefix_tokens, enc.count(&t[..cut]) as u64);
    assert!(bp[0].prefix_tokens >= 1024);
    assert_eq!(
        optimize_for_model(&r, &out.prompt, "claude-sonnet-4-5")
            .unwrap()
            .prompt,
        out.prompt
    );
}
