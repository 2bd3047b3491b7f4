//! Why a guard stopped a run, and the `guard_stopped` errors that say so.
//!
//! Every stop is `ErrorKind::GuardStopped` with `details.reason` (`max_steps`, `max_time`,
//! `loop_detected`) and the figures behind it, so callers switch on the code and read the
//! reason, never the message.

use super::loops::LoopDetection;
use crate::error::{Error, ErrorKind};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    MaxSteps,
    MaxTime,
    LoopDetected,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::MaxSteps => "max_steps",
            StopReason::MaxTime => "max_time",
            StopReason::LoopDetected => "loop_detected",
        }
    }

    /// The reason of a `guard_stopped` error (`None` for any other error).
    pub fn of(e: &Error) -> Option<StopReason> {
        if e.kind != ErrorKind::GuardStopped {
            return None;
        }
        let reason = e.details.as_ref()?.get("reason")?.as_str()?;
        [
            StopReason::MaxSteps,
            StopReason::MaxTime,
            StopReason::LoopDetected,
        ]
        .into_iter()
        .find(|r| r.as_str() == reason)
    }
}

/// Step `refused` would go past `limit` steps.
pub(crate) fn max_steps(run_id: &str, limit: u64, refused: u64) -> Error {
    Error::new(
        ErrorKind::GuardStopped,
        format!("run guard: max_steps reached: {limit} steps taken, step {refused} refused"),
    )
    .with_details(json!({
        "reason": StopReason::MaxSteps.as_str(),
        "run_id": run_id,
        "limit": limit,
        "step": refused,
    }))
}

/// The run's wall time ran out; `cancelled` names the step (number and action) that was cut
/// short, if one was running.
pub(crate) fn max_time(
    run_id: &str,
    limit: Duration,
    elapsed: Duration,
    cancelled: Option<(Option<u64>, &str)>,
) -> Error {
    let mut message = format!(
        "run guard: max_time of {:.3} s reached after {:.3} s",
        limit.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    if let Some((step, action)) = cancelled {
        match step {
            Some(n) => message += &format!("; `{action}` (step {n}) cancelled"),
            None => message += &format!("; `{action}` cancelled"),
        }
    }
    let mut details = json!({
        "reason": StopReason::MaxTime.as_str(),
        "run_id": run_id,
        "limit_ms": limit.as_secs_f64() * 1000.0,
        "elapsed_ms": elapsed.as_secs_f64() * 1000.0,
        "cancelled": cancelled.is_some(),
    });
    if let Some((step, action)) = cancelled {
        details["step"] = json!(step);
        details["action"] = json!(action);
    }
    Error::new(ErrorKind::GuardStopped, message).with_details(details)
}

pub(crate) fn loop_detected(run_id: &str, d: &LoopDetection) -> Error {
    Error::new(
        ErrorKind::GuardStopped,
        format!(
            "run guard: loop detected ({}): {}",
            d.rule.as_str(),
            d.description
        ),
    )
    .with_details(json!({
        "reason": StopReason::LoopDetected.as_str(),
        "run_id": run_id,
        "rule": d.rule.as_str(),
        "steps": d.steps,
        "actions": d.actions,
        "threshold": d.threshold,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::loops::LoopRule;

    #[test]
    fn errors_carry_the_reason() {
        let e = max_steps("r", 3, 4);
        assert_eq!(e.code(), "guard_stopped");
        assert_eq!(StopReason::of(&e), Some(StopReason::MaxSteps));
        assert_eq!(e.details.as_ref().unwrap()["step"], 4);
        let e = max_time(
            "r",
            Duration::from_secs(2),
            Duration::from_secs(2),
            Some((Some(7), "fetch")),
        );
        assert_eq!(StopReason::of(&e), Some(StopReason::MaxTime));
        assert!(
            e.message.contains("`fetch` (step 7) cancelled"),
            "{}",
            e.message
        );
        let d = LoopDetection {
            rule: LoopRule::Alternation,
            steps: vec![1, 2, 3, 4, 5, 6],
            actions: vec!["a".into(), "b".into()],
            threshold: 3,
            description: "x".into(),
        };
        let e = loop_detected("r", &d);
        assert_eq!(StopReason::of(&e), Some(StopReason::LoopDetected));
        assert_eq!(e.details.as_ref().unwrap()["rule"], "alternation");
        assert_eq!(StopReason::of(&Error::internal("x")), None);
    }
}
