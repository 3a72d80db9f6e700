//! Where a run stands, what started it, and why it was cancelled.

use serde::{Deserialize, Serialize};

use super::forge::CheckState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    TimedOut,
    /// The runner never reported back; the sweeper gave up on it.
    Lost,
}

impl RunStatus {
    /// The stored name (as serialised), which compare-and-set conditions match on.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::TimedOut => "timed_out",
            RunStatus::Lost => "lost",
        }
    }

    pub fn is_finished(self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Running)
    }

    pub fn check_state(self) -> CheckState {
        match self {
            RunStatus::Queued => CheckState::Queued,
            RunStatus::Running => CheckState::InProgress,
            RunStatus::Succeeded => CheckState::Success,
            RunStatus::Failed | RunStatus::Lost => CheckState::Failure,
            RunStatus::Cancelled => CheckState::Cancelled,
            RunStatus::TimedOut => CheckState::TimedOut,
        }
    }
}

/// How a build ended, from the runner's own status and the agent's `result.json`. The runner's
/// verdict is authoritative: the result only adds detail (which failure) and can turn a pass
/// into a failure, never a failure into a pass, because anything the build ran may have written
/// `result.json`. No finished verdict from either side cannot mean the build passed.
pub fn verdict(runner: Option<RunStatus>, result: Option<RunStatus>) -> RunStatus {
    let runner = runner.filter(|s| s.is_finished());
    let result = result.filter(|s| s.is_finished());
    match (runner, result) {
        // The runner says it failed: the result may say how, never that it passed.
        (Some(ran), Some(said)) if ran != RunStatus::Succeeded => {
            if said == RunStatus::Succeeded {
                ran
            } else {
                said
            }
        }
        (Some(ran), None) if ran != RunStatus::Succeeded => ran,
        // The runner passed it (or, locally, has no verdict of its own): the result decides.
        (_, Some(said)) => said,
        // No manifest means we cannot say the build passed.
        (_, None) => RunStatus::Failed,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    PullRequest,
    Rerun,
    MergeQueue,
    Push,
    /// `/build` or `/ok-to-test`.
    Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// A newer head was pushed.
    Superseded,
    Closed,
    /// Converted to draft, and drafts are not built.
    Draft,
    /// Someone commented `/cancel`.
    Requested,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_name_is_the_serialised_one() {
        use RunStatus::*;
        for status in [
            Queued, Running, Succeeded, Failed, Cancelled, TimedOut, Lost,
        ] {
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json.as_str(), Some(status.as_str()));
        }
    }

    #[test]
    fn the_runner_verdict_wins_and_the_result_only_adds_detail() {
        use RunStatus::*;
        let table = [
            // (runner, result, verdict)
            (Some(Succeeded), Some(Succeeded), Succeeded),
            (Some(Succeeded), Some(Failed), Failed),
            (Some(Succeeded), Some(TimedOut), TimedOut),
            (Some(Succeeded), None, Failed),
            (Some(Failed), Some(Succeeded), Failed),
            (Some(Failed), Some(TimedOut), TimedOut),
            (Some(Failed), None, Failed),
            (Some(TimedOut), Some(Succeeded), TimedOut),
            (Some(Cancelled), Some(Succeeded), Cancelled),
            (Some(Lost), None, Lost),
            (Some(Lost), Some(Succeeded), Lost),
            // The local runner reports no status of its own.
            (None, Some(Succeeded), Succeeded),
            (None, Some(Failed), Failed),
            (None, None, Failed),
            // Unfinished statuses are no verdict.
            (Some(Running), Some(Succeeded), Succeeded),
            (Some(Running), None, Failed),
            (Some(Failed), Some(Running), Failed),
            (Some(Succeeded), Some(Queued), Failed),
        ];
        for (runner, result, expected) in table {
            assert_eq!(
                verdict(runner, result),
                expected,
                "runner {runner:?}, result {result:?}"
            );
        }
    }

    #[test]
    fn only_queued_and_running_are_unfinished() {
        use RunStatus::*;
        for status in [Queued, Running] {
            assert!(!status.is_finished());
        }
        for status in [Succeeded, Failed, Cancelled, TimedOut, Lost] {
            assert!(status.is_finished());
            assert!(status.check_state().is_final());
        }
    }
}
