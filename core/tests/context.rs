//! `prune` against each provider's rules: seeded conversations (2–400 messages, parallel tool
//! calls, tool results at the tail, thinking blocks, images, empty content, a message larger
//! than the budget, system messages mid-history) in four dialects, pruned to 20 budgets each;
//! every result passes the dialect's validator and fits its budget, or is `context_too_large`
//! only when the instructions and the latest user message cannot fit.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use trinity_core::context::prune::{prune_to, TRUNCATION_MARKER};
use trinity_core::context::shape::{shape, Kind};
use trinity_core::context::{validate, Dialect, PruneOptions, Strategy};
use trinity_core::ErrorKind;

const DIALECTS: [Dialect; 4] = [
    Dialect::Openai,
    Dialect::Anthropic,
    Dialect::Gemini,
    Dialect::Strict,
];

fn words(rng: &mut StdRng, n: usize) -> String {
    const W: [&str; 12] = [
        "alpha",
        "the",
        "budget",
        "token",
        "model",
        "42",
        "https://example.com/x",
        "naïve",
        "数据",
        "🙂",
        "{\"k\": 1}",
        "window",
    ];
    (0..n)
        .map(|_| W[rng.random_range(0..W.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

/// Between `lo` and `hi` (exclusive) words.
fn some(rng: &mut StdRng, lo: usize, hi: usize) -> String {
    let n = rng.random_range(lo..hi);
    words(rng, n)
}

/// One conversation in `dialect`'s shape, valid for it.
fn conversation(rng: &mut StdRng, dialect: Dialect) -> Vec<Value> {
    let thinking = dialect == Dialect::Anthropic && rng.random_bool(0.4);
    let mut out = vec![];
    if dialect != Dialect::Gemini && rng.random_bool(0.8) {
        out.push(json!({"role": "system", "content": words(rng, 30)}));
    }
    let turns = rng.random_range(1..=40);
    let mut call_id = 0;
    for t in 0..turns {
        // A system message mid-history (OpenAI allows them anywhere).
        if dialect == Dialect::Openai && rng.random_bool(0.05) {
            out.push(json!({"role": "developer", "content": words(rng, 8)}));
        }
        let size = match rng.random_range(0..20) {
            0 => 0,     // empty content
            1 => 3_000, // larger than most budgets
            _ => rng.random_range(1..60),
        };
        let text = words(rng, size);
        out.push(match dialect {
            Dialect::Gemini => json!({"role": "user", "parts": [{"text": text}]}),
            _ if rng.random_bool(0.1) => json!({"role": "user", "content": [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}),
            _ => json!({"role": "user", "content": text}),
        });
        let last = t + 1 == turns;
        // Tool loops: 0–3 exchanges of 1–8 parallel calls.
        let loops = if dialect == Dialect::Strict {
            rng.random_range(0..2)
        } else {
            rng.random_range(0..4)
        };
        for _ in 0..loops {
            let n = rng.random_range(1..=8);
            let ids: Vec<String> = (0..n)
                .map(|_| {
                    call_id += 1;
                    format!("call_{call_id}")
                })
                .collect();
            match dialect {
                Dialect::Openai | Dialect::Strict => {
                    let calls: Vec<Value> = ids.iter().map(|id| json!({"id": id, "type": "function",
                        "function": {"name": "lookup", "arguments": format!("{{\"q\": \"{}\"}}", words(rng, 3))}})).collect();
                    out.push(json!({"role": "assistant", "content": null, "tool_calls": calls}));
                    for id in &ids {
                        out.push(json!({"role": "tool", "tool_call_id": id, "content": some(rng, 0, 80)}));
                    }
                }
                Dialect::Anthropic => {
                    let mut blocks = vec![];
                    if thinking {
                        blocks.push(json!({"type": "thinking", "thinking": words(rng, 20), "signature": "sig"}));
                    }
                    blocks.extend(ids.iter().map(|id| json!({"type": "tool_use", "id": id, "name": "lookup", "input": {"q": words(rng, 2)}})));
                    out.push(json!({"role": "assistant", "content": blocks}));
                    let results: Vec<Value> = ids
                        .iter()
                        .map(|id| {
                            json!({"type": "tool_result", "tool_use_id": id,
                        "content": some(rng, 0, 80)})
                        })
                        .collect();
                    out.push(json!({"role": "user", "content": results}));
                }
                Dialect::Gemini => {
                    let calls: Vec<Value> = (0..n)
                        .map(|_| json!({"functionCall": {"name": "lookup", "args": {"q": "x"}}}))
                        .collect();
                    out.push(json!({"role": "model", "parts": calls}));
                    let resps: Vec<Value> = (0..n).map(|_| json!({"functionResponse": {"name": "lookup", "response": {"r": words(rng, 5)}}})).collect();
                    out.push(json!({"role": "user", "parts": resps}));
                }
            }
        }
        // The last turn may end on tool results (the loop goes on); strict ends on a user.
        let tail_on_results = last && loops > 0 && rng.random_bool(0.5);
        if !(tail_on_results || (last && dialect == Dialect::Strict)) {
            let reply = some(rng, 1, 40);
            out.push(match dialect {
                Dialect::Gemini => json!({"role": "model", "parts": [{"text": reply}]}),
                Dialect::Anthropic if thinking => json!({"role": "assistant", "content": [
                    {"type": "thinking", "thinking": words(rng, 10), "signature": "sig"},
                    {"type": "text", "text": reply}]}),
                _ => json!({"role": "assistant", "content": reply}),
            });
        }
        if last
            && dialect == Dialect::Strict
            && out.last().is_some_and(|m| m["role"] == "assistant")
        {
            out.push(json!({"role": "user", "content": words(rng, 5)}));
        }
    }
    out
}

/// A cheap stand-in for a tokenizer: the invariants do not depend on which counter it is.
fn count(m: &Value) -> u64 {
    3 + m.to_string().len() as u64 / 4
}

#[test]
fn pruned_conversations_pass_their_providers_rules_and_fit_in_every_case() {
    const CONVERSATIONS: u64 = 10_000;
    // Two workers (the machine's cores), each conversation seeded by its number.
    let tallies: Vec<[u64; 4]> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2u64)
            .map(|w| {
                scope.spawn(move || {
                    (w..CONVERSATIONS)
                        .step_by(2)
                        .map(prune_one)
                        .fold([0; 4], |a, b| {
                            [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]]
                        })
                })
            })
            .collect();
        workers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let [runs, fitted, truncated, too_large] = tallies.iter().fold([0; 4], |a, b| {
        [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]]
    });
    assert_eq!(runs, CONVERSATIONS * 20);
    assert!(
        fitted > runs / 2 && truncated > 0 && too_large > 0,
        "the cases cover each outcome"
    );
    eprintln!("{runs} prunes of {CONVERSATIONS} conversations: {fitted} fitted ({truncated} with the last user message cut), {too_large} context_too_large");
}

/// Conversation `c` pruned to 20 budgets: [runs, fitted, truncated, too large].
fn prune_one(c: u64) -> [u64; 4] {
    let mut rng = StdRng::seed_from_u64(c);
    let dialect = DIALECTS[c as usize % 4];
    let msgs = conversation(&mut rng, dialect);
    validate(&msgs, dialect)
        .unwrap_or_else(|v| panic!("generated input invalid: {v:?}\n{msgs:#?}"));
    let full = 3 + msgs.iter().map(count).sum::<u64>();
    let strategy = [Strategy::DropOldest, Strategy::KeepFirstLast][c as usize / 4 % 2];
    let opts = PruneOptions {
        strategy,
        dialect,
        ..PruneOptions::default()
    };
    // Each input message counted once for the 20 budgets (a tokenizer would be cached the
    // same way by its caller); messages made by the pruning are counted afresh.
    let known: std::collections::HashMap<*const Value, u64> =
        msgs.iter().map(|m| (m as *const Value, count(m))).collect();
    let counted = |m: &Value| {
        known
            .get(&(m as *const Value))
            .copied()
            .unwrap_or_else(|| count(m))
    };
    let mut tally = [0u64; 4];
    for step in 1..=20u64 {
        let budget = full * step / 20;
        tally[0] += 1;
        match prune_to(&msgs, budget, &opts, &counted, None) {
            Ok(p) => {
                tally[1] += 1;
                tally[2] += u64::from(p.truncated);
                check(
                    &msgs,
                    &p.messages,
                    budget,
                    dialect,
                    p.tokens_after,
                    step % 4 == 0,
                );
                if step == 20 {
                    assert!(
                        p.dropped.is_empty() && !p.truncated,
                        "a whole conversation that fits stays whole"
                    );
                }
            }
            Err(e) => {
                assert_eq!(e.kind, ErrorKind::ContextTooLarge, "{e:?}");
                tally[3] += 1;
                assert!(
                    budget < floor(&msgs, dialect),
                    "refused though it could fit: budget {budget}"
                );
            }
        }
    }
    tally
}

/// The least a result can hold: the system messages, the latest user message with its text
/// cut down to the marker, and the newest reply or tool exchange after it.
fn floor(msgs: &[Value], dialect: Dialect) -> u64 {
    let shapes: Vec<_> = msgs.iter().map(|m| shape(m).unwrap()).collect();
    let sys: u64 = msgs
        .iter()
        .zip(&shapes)
        .filter(|(_, s)| s.kind == Kind::System)
        .map(|(m, _)| count(m))
        .sum();
    let Some(last_user) = shapes.iter().rposition(|s| s.kind == Kind::User) else {
        return 3 + sys;
    };
    let mut cut = msgs[last_user].clone();
    let slot = match cut.get_mut("content") {
        Some(Value::String(s)) => Some(s),
        Some(Value::Array(b)) => b
            .iter_mut()
            .filter_map(|x| match x.get_mut("text") {
                Some(Value::String(s)) => Some(s),
                _ => None,
            })
            .max_by_key(|s| s.len()),
        _ => cut
            .get_mut("parts")
            .and_then(Value::as_array_mut)
            .and_then(|b| {
                b.iter_mut()
                    .filter_map(|x| match x.get_mut("text") {
                        Some(Value::String(s)) => Some(s),
                        _ => None,
                    })
                    .max_by_key(|s| s.len())
            }),
    };
    if let Some(s) = slot {
        *s = TRUNCATION_MARKER.into();
    }
    // The newest group after it: from the last assistant message on.
    let newest = shapes[last_user + 1..]
        .iter()
        .rposition(|s| s.kind == Kind::Assistant)
        .map_or(0, |k| msgs[last_user + 1 + k..].iter().map(count).sum());
    let _ = dialect;
    3 + sys + count(&cut).min(count(&msgs[last_user])) + newest
}

/// `recount`: the result counted again from scratch must equal what prune reported (every
/// 4th budget: counting is most of the test's time).
fn check(
    input: &[Value],
    out: &[Value],
    budget: u64,
    dialect: Dialect,
    tokens_after: u64,
    recount: bool,
) {
    validate(out, dialect).unwrap_or_else(|v| {
        panic!("{dialect:?} rules broken: {v:?}\nin: {input:#?}\nout: {out:#?}")
    });
    if recount {
        assert_eq!(3 + out.iter().map(count).sum::<u64>(), tokens_after);
    }
    assert!(tokens_after <= budget, "{tokens_after} > {budget}");
    // System messages kept verbatim.
    for m in input
        .iter()
        .filter(|m| shape(m).unwrap().kind == Kind::System)
    {
        assert!(out.contains(m), "system message lost: {m}");
    }
    // The latest user message kept: whole, cut with the marker, or merged into the last one.
    let last_user = |msgs: &[Value]| {
        msgs.iter()
            .rev()
            .find(|m| shape(m).unwrap().kind == Kind::User)
            .cloned()
    };
    if let Some(want) = last_user(input) {
        let got = last_user(out).expect("the latest user message is kept");
        let (want, got) = (want.to_string(), got.to_string());
        assert!(
            got == want || got.contains("trinity-core cut this message") || got.len() >= want.len(),
            "latest user message lost:\nwant {want}\ngot {got}"
        );
    }
}

#[test]
fn pruning_is_deterministic_and_summaries_replace_what_was_dropped() {
    let mut rng = StdRng::seed_from_u64(11);
    let msgs = conversation(&mut rng, Dialect::Openai);
    let full = 3 + msgs.iter().map(count).sum::<u64>();
    let opts = PruneOptions::default();
    let a = prune_to(&msgs, full / 2, &opts, &count, None).unwrap();
    let b = prune_to(&msgs, full / 2, &opts, &count, None).unwrap();
    assert_eq!(a, b);
    let opts = PruneOptions {
        strategy: Strategy::Summarize,
        ..PruneOptions::default()
    };
    let mut seen = 0;
    let mut summarize = |gone: &[Value]| {
        seen = gone.len();
        Ok("they talked about budgets".to_owned())
    };
    let s = prune_to(&msgs, full / 2, &opts, &count, Some(&mut summarize)).unwrap();
    if !a.dropped.is_empty() {
        assert!(s.summarized && seen > 0);
        assert!(s
            .messages
            .iter()
            .any(|m| m.to_string().contains("they talked about budgets")));
        validate(&s.messages, Dialect::Openai).unwrap();
    }
}

#[test]
fn the_models_window_and_exact_counts() {
    let reg = trinity_core::registry::global();
    let w = trinity_core::context::available_window(&reg, "gpt-4o-mini", None, None).unwrap();
    assert_eq!(w.available, w.context_window - w.reserved_output);
    assert!(w.exact);
    let w = trinity_core::context::available_window(&reg, "gpt-4o-mini", Some(1000), Some(5000))
        .unwrap();
    assert_eq!((w.reserved_output, w.available), (1000, 5000));
    // A model whose max output is its whole window keeps half of it for the answer, not all.
    let w =
        trinity_core::context::available_window(&reg, "mistral-large-2512", None, None).unwrap();
    assert_eq!((w.reserved_output, w.available), (131_072, 131_072));
    let mut rng = StdRng::seed_from_u64(3);
    let mut fitted = 0;
    for _ in 0..50 {
        let msgs = conversation(&mut rng, Dialect::Openai);
        let opts = PruneOptions {
            max_input_tokens: Some(2_000),
            ..PruneOptions::default()
        };
        match trinity_core::context::prune(&reg, &msgs, "gpt-4o-mini", &opts, None) {
            Ok(p) => {
                // Counted again from scratch by the token counter: the same, within the budget.
                let exact =
                    trinity_core::tokens::count_message_tokens(&json!(p.messages), "gpt-4o-mini")
                        .unwrap();
                assert_eq!(exact.tokens as u64, p.tokens_after);
                assert!(p.tokens_after <= 2_000);
                validate(&p.messages, Dialect::Openai).unwrap();
                fitted += 1;
            }
            Err(e) => assert_eq!(e.kind, ErrorKind::ContextTooLarge),
        }
    }
    assert!(fitted > 25, "{fitted} of 50 fitted");
}

/// Every generated conversation, reordered by relevance, is a permutation that keeps system
/// messages and the latest user message (with all after it) in place, stays valid for its
/// dialect, and comes out the same twice.
#[test]
fn prioritized_conversations_stay_valid_in_every_dialect() {
    use trinity_core::context::prioritize_messages;
    let mut moved = 0;
    for c in 0..2_000u64 {
        let mut rng = StdRng::seed_from_u64(c);
        let dialect = DIALECTS[c as usize % 4];
        let msgs = conversation(&mut rng, dialect);
        let p = prioritize_messages(&msgs, None).unwrap();
        validate(&p.messages, dialect).unwrap_or_else(|v| {
            panic!(
                "{dialect:?} rules broken: {v:?}\nin: {msgs:#?}\nout: {:#?}",
                p.messages
            )
        });
        let mut sorted = p.order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..msgs.len()).collect::<Vec<_>>());
        for (k, &i) in p.order.iter().enumerate() {
            assert_eq!(p.messages[k], msgs[i]);
        }
        let latest = msgs
            .iter()
            .rposition(|m| shape(m).unwrap().kind == Kind::User)
            .unwrap();
        for (i, m) in msgs.iter().enumerate() {
            if i >= latest || shape(m).unwrap().kind == Kind::System {
                assert_eq!(p.order[i], i, "message {i} moved");
                assert_eq!(p.scores[i], None);
            }
        }
        assert_eq!(prioritize_messages(&msgs, None).unwrap(), p);
        moved += usize::from(p.order.iter().enumerate().any(|(k, &i)| k != i));
    }
    assert!(moved > 500, "only {moved} of 2,000 conversations reordered");
}

/// A locally generated NQ-style set: 20 documents about capitals, the question's document at
/// each of the 20 positions; the output puts it first (or last) every time.
#[test]
fn the_needle_goes_first_wherever_it_was() {
    use trinity_core::context::prioritize_documents;
    const PLACES: [(&str, &str); 20] = [
        ("France", "Paris"),
        ("Japan", "Tokyo"),
        ("Kenya", "Nairobi"),
        ("Peru", "Lima"),
        ("Norway", "Oslo"),
        ("Egypt", "Cairo"),
        ("Chile", "Santiago"),
        ("Canada", "Ottawa"),
        ("India", "New Delhi"),
        ("Ghana", "Accra"),
        ("Poland", "Warsaw"),
        ("Vietnam", "Hanoi"),
        ("Morocco", "Rabat"),
        ("Austria", "Vienna"),
        ("Cuba", "Havana"),
        ("Iceland", "Reykjavik"),
        ("Nepal", "Kathmandu"),
        ("Portugal", "Lisbon"),
        ("Turkey", "Ankara"),
        ("Mongolia", "Ulaanbaatar"),
    ];
    let mut rng = StdRng::seed_from_u64(20);
    let mut first_or_last = 0;
    for (q, (country, _)) in PLACES.iter().enumerate() {
        for pos in 0..20 {
            // The documents in a shuffled order with the question's document at `pos`.
            let mut others: Vec<usize> = (0..20).filter(|&i| i != q).collect();
            for i in (1..others.len()).rev() {
                others.swap(i, rng.random_range(0..=i));
            }
            others.insert(pos, q);
            let docs: Vec<String> = others
                .iter()
                .map(|&i| {
                    let (c, city) = PLACES[i];
                    format!(
                        "The capital of {c} is {city}. {} people live in {c}; the {} is its river.",
                        rng.random_range(1..90),
                        words(&mut rng, 6)
                    )
                })
                .collect();
            let r = prioritize_documents(&docs, &format!("What is the capital of {country}?"));
            let (first, last) = (r.order[0], r.order[19]);
            first_or_last += usize::from(first == pos || last == pos);
        }
    }
    assert_eq!(
        first_or_last, 400,
        "the needle was first or last {first_or_last} of 400 times"
    );
}

/// No false negatives on generated requests: `over_window` exactly when the prompt (counted
/// message by message as pruning counts it) plus `max_tokens` is over the window, else
/// `near_window` exactly when over 90% of it. `max_tokens` is drawn around what is left of the
/// window, so that all three outcomes come up.
#[test]
fn window_warnings_have_no_false_negatives() {
    use trinity_core::context::count::message_tokens_cached;
    use trinity_core::context::{warn_if_too_large, WarningCode};
    const WINDOW: u64 = 200_000;
    let reg = trinity_core::Registry::builtin();
    reg.add_json(
        json!({"id": "test-window", "provider": "openai", "context_window": WINDOW,
        "max_output_tokens": 1_000, "input_per_1m": 1.0, "output_per_1m": 1.0,
        "capabilities": ["chat"], "tokenizer": "o200k_base"}),
    )
    .unwrap();
    // Two workers (the machine's cores), each request seeded by its number.
    let one = |c: u64| -> usize {
        let mut rng = StdRng::seed_from_u64(c);
        let msgs = conversation(&mut rng, Dialect::Openai);
        let prompt = 3 + msgs
            .iter()
            .map(|m| message_tokens_cached(trinity_core::Encoding::O200kBase, m))
            .sum::<u64>();
        let left = WINDOW - prompt;
        let max_tokens = (left + rng.random_range(0..WINDOW * 3 / 10)).saturating_sub(WINDOW / 5);
        let req = json!({"messages": msgs, "max_tokens": max_tokens});
        let w = warn_if_too_large(&reg, &req, Some("test-window")).unwrap();
        let has = |code| w.iter().any(|w| w.code == code);
        let needed = prompt + max_tokens;
        let (over, near) = (
            needed > WINDOW,
            needed > WINDOW / 10 * 9 && needed <= WINDOW,
        );
        assert_eq!(has(WarningCode::OverWindow), over, "case {c}: {needed}");
        assert_eq!(has(WarningCode::NearWindow), near, "case {c}: {needed}");
        usize::from(over) * 2 + usize::from(near)
    };
    let seen = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2u64)
            .map(|w| scope.spawn(move || (w..10_000).step_by(2).map(one).collect::<Vec<_>>()))
            .collect();
        let mut seen = [0; 3];
        for outcome in workers.into_iter().flat_map(|h| h.join().unwrap()) {
            seen[outcome] += 1;
        }
        seen
    });
    assert!(
        seen.iter().all(|&n| n > 1_000),
        "{seen:?} (fits, near, over)"
    );
}

/// The shared fixture's pruned conversations pass their dialect's rules and fit their budget
/// (the exact outputs are compared in every language by the conformance runners).
#[test]
fn the_shared_fixtures_pruned_results_are_valid() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/context.json"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut checked = 0;
    for case in doc["cases"].as_array().unwrap() {
        let Some(r) = case["expect"].get("result") else {
            continue;
        };
        if case["op"] == "prune_context" {
            let dialect: Dialect =
                serde_json::from_value(case["input"]["options"]["dialect"].clone())
                    .unwrap_or_default();
            let out: Vec<Value> = serde_json::from_value(r["messages"].clone()).unwrap();
            validate(&out, dialect).unwrap_or_else(|v| panic!("{}: {v:?}", case["id"]));
            assert!(r["tokens_after"].as_u64() <= r["budget"].as_u64());
            checked += 1;
        }
    }
    assert!(checked >= 8, "{checked}");
}
