//! Loop detection without an LLM: four rules over the last few steps' fingerprints.
//!
//! | rule | fires when | default |
//! |---|---|---|
//! | `same_error` | one tool fails with the same error (code and normalised message) N times in a row, whatever its arguments | 3 (OpenHands) |
//! | `same_action` | the same action (name and arguments, key order aside) gets the same result N times in a row | 5 (Gemini CLI) |
//! | `near_duplicate` | as `same_action`, once cosmetic differences are normalised away (see `normalize`) | 5 |
//! | `alternation` | two different steps take turns, A-B-A-B-A-B, for N full cycles | 3 (OpenHands) |
//!
//! Results count: the same call answered differently is progress, not a loop — polling a job
//! whose status moves, re-reading a file someone is writing. (Polling that keeps getting the very
//! same answer does trip `same_action` at its threshold: raise it for slow jobs.) The rules are
//! checked in that order after each step; the first that fires is reported with its steps.

use super::config::LoopConfig;
use super::normalize::{normalize_text, parsed, Fingerprint, Normalizer};
use super::step::{Action, StepOutcome};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Which loop rule fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoopRule {
    SameAction,
    NearDuplicate,
    Alternation,
    SameError,
}

impl LoopRule {
    pub const ALL: [LoopRule; 4] = [
        LoopRule::SameAction,
        LoopRule::NearDuplicate,
        LoopRule::Alternation,
        LoopRule::SameError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LoopRule::SameAction => "same_action",
            LoopRule::NearDuplicate => "near_duplicate",
            LoopRule::Alternation => "alternation",
            LoopRule::SameError => "same_error",
        }
    }

    pub fn from_name(s: &str) -> Option<LoopRule> {
        LoopRule::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A loop found: the rule, the steps that make it up (oldest first) and the actions involved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoopDetection {
    pub rule: LoopRule,
    pub steps: Vec<u64>,
    /// Distinct action names in the loop, in order of first appearance.
    pub actions: Vec<String>,
    /// The rule's threshold (repeats, or cycles for `alternation`).
    pub threshold: u32,
    pub description: String,
}

/// What the rules compare of one step.
#[derive(Clone, Debug)]
pub struct StepSignature {
    pub step: u64,
    pub name: String,
    /// Name and arguments as given (key order aside).
    pub exact: Fingerprint,
    /// Name and arguments normalised.
    pub normalized: Fingerprint,
    /// The result normalised (an error by code and message).
    pub outcome: Fingerprint,
    /// For a failed step: its code and normalised message.
    pub error: Option<Fingerprint>,
}

/// The rules and the recent steps they look at.
#[derive(Clone, Debug)]
pub struct LoopDetector {
    config: LoopConfig,
    normalizer: Normalizer,
    history: VecDeque<StepSignature>,
    keep: usize,
}

impl LoopDetector {
    pub fn new(config: &LoopConfig) -> LoopDetector {
        let keep = [
            config.same_action,
            config.near_duplicate,
            config.same_error,
            config.alternation_cycles * 2,
        ]
        .into_iter()
        .max()
        .unwrap_or(0) as usize;
        LoopDetector {
            config: config.clone(),
            normalizer: Normalizer::new(config),
            history: VecDeque::with_capacity(keep + 1),
            keep,
        }
    }

    /// The fingerprints of a step.
    pub fn signature(&self, step: u64, action: &Action, outcome: &StepOutcome) -> StepSignature {
        let args = parsed(&action.arguments);
        let exact_args = serde_json::to_string(&*args).unwrap_or_default();
        let norm_args = serde_json::to_string(&self.normalizer.value(&args)).unwrap_or_default();
        let norm_name = normalize_text(&action.name);
        let (outcome, error) = match outcome {
            StepOutcome::Ok(v) => (Fingerprint::of_json("ok", &self.normalizer.value(v)), None),
            StepOutcome::Error(e) => {
                let message = normalize_text(&e.message);
                let f = Fingerprint::of(&[b"error", e.code.as_bytes(), message.as_bytes()]);
                (f, Some(f))
            }
        };
        StepSignature {
            step,
            name: action.name.clone(),
            exact: Fingerprint::of(&[b"action", action.name.as_bytes(), exact_args.as_bytes()]),
            normalized: Fingerprint::of(&[b"action", norm_name.as_bytes(), norm_args.as_bytes()]),
            outcome,
            error,
        }
    }

    /// Adds a step and checks the rules; `Some` for the first rule that fires.
    pub fn observe(&mut self, sig: StepSignature) -> Option<LoopDetection> {
        if !self.config.enabled || self.keep == 0 {
            return None;
        }
        self.history.push_back(sig);
        while self.history.len() > self.keep {
            self.history.pop_front();
        }
        let c = &self.config;
        if let Some(w) = self.last(c.same_error) {
            let first = &w[0];
            if first.error.is_some()
                && w.iter()
                    .all(|s| s.error == first.error && s.name == first.name)
            {
                return Some(self.detect(
                    LoopRule::SameError,
                    &w,
                    c.same_error,
                    format!(
                        "`{}` failed {} times in a row with the same error",
                        first.name,
                        w.len()
                    ),
                ));
            }
        }
        if let Some(w) = self.last(c.same_action) {
            let first = &w[0];
            if w.iter()
                .all(|s| s.exact == first.exact && s.outcome == first.outcome)
            {
                return Some(self.detect(
                    LoopRule::SameAction,
                    &w,
                    c.same_action,
                    format!(
                        "`{}` called {} times in a row with the same arguments and the same result",
                        first.name,
                        w.len()
                    ),
                ));
            }
        }
        if let Some(w) = self.last(c.near_duplicate) {
            let first = &w[0];
            if w.iter()
                .all(|s| s.normalized == first.normalized && s.outcome == first.outcome)
            {
                return Some(self.detect(
                    LoopRule::NearDuplicate,
                    &w,
                    c.near_duplicate,
                    format!(
                        "`{}` called {} times in a row with arguments and results that differ only \
                         cosmetically (case, whitespace, key order, ids, timestamps)",
                        first.name,
                        w.len()
                    ),
                ));
            }
        }
        if let Some(w) = self.last(c.alternation_cycles.saturating_mul(2)) {
            let key = |s: &StepSignature| (s.normalized, s.outcome);
            if key(w[0]) != key(w[1]) && (2..w.len()).all(|i| key(w[i]) == key(w[i - 2])) {
                return Some(self.detect(
                    LoopRule::Alternation,
                    &w,
                    c.alternation_cycles,
                    format!(
                        "`{}` and `{}` alternated for {} cycles with the same results",
                        w[0].name, w[1].name, c.alternation_cycles
                    ),
                ));
            }
        }
        None
    }

    /// The last `n` steps, when there are that many (and `n` > 0).
    fn last(&self, n: u32) -> Option<Vec<&StepSignature>> {
        let n = n as usize;
        if n == 0 || self.history.len() < n {
            return None;
        }
        Some(self.history.iter().skip(self.history.len() - n).collect())
    }

    fn detect(
        &self,
        rule: LoopRule,
        window: &[&StepSignature],
        threshold: u32,
        description: String,
    ) -> LoopDetection {
        let mut actions: Vec<String> = Vec::new();
        for s in window {
            if !actions.contains(&s.name) {
                actions.push(s.name.clone());
            }
        }
        let steps: Vec<u64> = window.iter().map(|s| s.step).collect();
        let description = format!(
            "{description} (steps {}-{})",
            steps.first().copied().unwrap_or(0),
            steps.last().copied().unwrap_or(0)
        );
        LoopDetection {
            rule,
            steps,
            actions,
            threshold,
            description,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn run(config: &LoopConfig, steps: &[(&str, Value, StepOutcome)]) -> Option<LoopDetection> {
        let mut d = LoopDetector::new(config);
        for (i, (name, args, outcome)) in steps.iter().enumerate() {
            let sig = d.signature(i as u64 + 1, &Action::new(*name, args.clone()), outcome);
            if let Some(hit) = d.observe(sig) {
                return Some(hit);
            }
        }
        None
    }

    fn ok(v: Value) -> StepOutcome {
        StepOutcome::ok(v)
    }

    #[test]
    fn same_action_fires_at_the_threshold() {
        let c = LoopConfig::default();
        let step = ("ls", json!({"dir": "/"}), ok(json!("a b")));
        assert!(run(&c, &vec![step.clone(); 4]).is_none());
        let hit = run(&c, &vec![step.clone(); 5]).unwrap();
        assert_eq!(hit.rule, LoopRule::SameAction);
        assert_eq!(hit.steps, vec![1, 2, 3, 4, 5]);
        assert_eq!(hit.actions, vec!["ls".to_string()]);
        let c = LoopConfig {
            same_action: 3,
            near_duplicate: 0,
            ..LoopConfig::default()
        };
        assert_eq!(run(&c, &vec![step; 3]).unwrap().steps, vec![1, 2, 3]);
    }

    #[test]
    fn changing_results_are_progress() {
        let steps: Vec<_> = (0..10)
            .map(|i| {
                (
                    "status",
                    json!({"job": "j1"}),
                    ok(json!({"progress": i * 10})),
                )
            })
            .collect();
        assert!(run(&LoopConfig::default(), &steps).is_none());
    }

    #[test]
    fn near_duplicates() {
        let steps: Vec<_> = [
            json!({"q": "Rust async", "request_id": "a"}),
            json!({"q": "rust  async ", "request_id": "b"}),
            json!({"Q": "RUST async", "request_id": "c"}),
            json!({"q": "rust async", "requestId": "d"}),
            json!({"q": "rust\tasync", "request_id": "e"}),
        ]
        .into_iter()
        .map(|a| ("search", a, ok(json!([]))))
        .collect();
        let hit = run(&LoopConfig::default(), &steps).unwrap();
        assert_eq!(hit.rule, LoopRule::NearDuplicate);
        assert_eq!(hit.steps.len(), 5);
    }

    #[test]
    fn alternation() {
        let a = ("open", json!({"f": "x"}), ok(json!("text")));
        let b = ("close", json!({"f": "x"}), ok(json!(null)));
        let steps = vec![a.clone(), b.clone(), a.clone(), b.clone(), a.clone()];
        assert!(run(&LoopConfig::default(), &steps).is_none());
        let mut steps6 = steps.clone();
        steps6.push(b.clone());
        let hit = run(&LoopConfig::default(), &steps6).unwrap();
        assert_eq!(hit.rule, LoopRule::Alternation);
        assert_eq!(hit.steps, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(hit.actions, vec!["open".to_string(), "close".to_string()]);
    }

    #[test]
    fn same_error_ignores_arguments() {
        let e = StepOutcome::error("tool_error", "SyntaxError: invalid syntax (line 3)");
        let steps: Vec<_> = (0..3)
            .map(|i| ("write_file", json!({"content": format!("v{i}")}), e.clone()))
            .collect();
        let hit = run(&LoopConfig::default(), &steps).unwrap();
        assert_eq!(hit.rule, LoopRule::SameError);
        assert_eq!(hit.steps, vec![1, 2, 3]);
        // Different errors (different files not found) are not the same error.
        let steps: Vec<_> = ["a", "b", "c", "d"]
            .iter()
            .map(|f| {
                (
                    "read_file",
                    json!({"path": f}),
                    StepOutcome::error("not_found", format!("no such file: {f}")),
                )
            })
            .collect();
        assert!(run(&LoopConfig::default(), &steps).is_none());
    }

    #[test]
    fn off_switches() {
        let step = ("ls", json!({}), ok(json!(1)));
        let off = LoopConfig {
            enabled: false,
            ..LoopConfig::default()
        };
        assert!(run(&off, &vec![step.clone(); 20]).is_none());
        let zero = LoopConfig {
            same_action: 0,
            near_duplicate: 0,
            alternation_cycles: 0,
            same_error: 0,
            ..LoopConfig::default()
        };
        assert!(run(&zero, &vec![step; 20]).is_none());
    }
}
