//! The four DORA measures of delivery, computed from Slipway's own deployment records (one
//! environment's, oldest first) over a window of days. Pure: the caller brings the records,
//! when each change started, and the clock. Definitions: docs/metrics.md.

use std::collections::HashSet;

pub mod emf;

use serde::Serialize;

use crate::model::deploy::{DeployKind, DeployStatus, DeploymentRecord};

pub const SECS_PER_DAY: u64 = 86_400;

/// The days up to `end` (`[end - days, end]`, in Unix seconds: `end` is now, and a deploy that
/// finished this second counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub end: u64,
    pub days: u64,
}

impl Window {
    fn start(self) -> u64 {
        self.end.saturating_sub(self.days * SECS_PER_DAY)
    }

    fn holds(self, t: u64) -> bool {
        (self.start()..=self.end).contains(&t)
    }
}

/// One environment's four measures; `None` where there is nothing to measure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dora {
    pub days: u64,
    /// Successful deploys (not rollbacks) in the window.
    pub deploys: usize,
    pub deploys_per_day: f64,
    /// Median seconds from a change's start to its successful deploy.
    pub lead_time_secs: Option<u64>,
    /// Deploys that failed or were rolled back, of all finished deploys (not rollbacks).
    pub failed_deploys: usize,
    pub finished_deploys: usize,
    pub change_failure_rate: Option<f64>,
    /// Median seconds from a failure to the deploy that restored service.
    pub time_to_restore_secs: Option<u64>,
    /// Failures in the window not yet followed by a successful deploy.
    pub unrestored: usize,
    /// Successful deploys per day, oldest first (`days` entries), for the chart.
    pub deploys_by_day: Vec<usize>,
}

/// When a deploy ended (or, unfinished, began), in Unix seconds.
fn at(record: &DeploymentRecord) -> u64 {
    record.finished_at.unwrap_or(record.created_ms / 1000)
}

fn median(mut values: Vec<u64>) -> Option<u64> {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2),
    }
}

/// Whether `record` has a lead time among the measures of `window`: a deploy (not a rollback)
/// that went live in it. Only these need their change's start read.
pub fn has_lead_time(record: &DeploymentRecord, window: Window) -> bool {
    record.kind != DeployKind::Rollback && record.is_live() && window.holds(at(record))
}

/// When a change started, for its lead time: the earliest build among its runs (deploy runs
/// left out), Unix seconds.
pub fn first_build(runs: &[crate::model::run::Run]) -> Option<u64> {
    runs.iter()
        .filter(|r| r.deployment.is_none())
        .map(|r| r.created_at)
        .min()
}

/// The measures of `records` (one environment, oldest first) in `window`. `change_started`
/// says when a deploy's change began (its pull request's first build, or its commit's), when
/// known.
pub fn dora(
    records: &[DeploymentRecord],
    change_started: impl Fn(&DeploymentRecord) -> Option<u64>,
    window: Window,
) -> Dora {
    let rolled_back: HashSet<&str> = records
        .iter()
        .filter(|r| r.kind == DeployKind::Rollback && r.is_live())
        .filter_map(|r| r.previous.as_ref().map(|p| p.deployment_id.as_str()))
        .collect();
    let deploys = || {
        records
            .iter()
            .filter(|r| r.kind != DeployKind::Rollback && r.status != DeployStatus::InProgress)
    };
    let finished: Vec<&DeploymentRecord> = deploys().filter(|r| window.holds(at(r))).collect();
    let succeeded: Vec<&DeploymentRecord> =
        finished.iter().copied().filter(|r| r.is_live()).collect();
    let is_failure = |r: &DeploymentRecord| !r.is_live() || rolled_back.contains(r.id.as_str());
    let failed_deploys = finished.iter().filter(|r| is_failure(r)).count();

    let lead_times = succeeded
        .iter()
        .filter_map(|r| change_started(r).map(|start| at(r).saturating_sub(start)))
        .collect();

    // A failure starts when the deploy failed, or, for one rolled back, when it went live; it
    // ends with the next deploy that went live after it (the rollback, or a fix).
    let mut restore_times = Vec::new();
    let mut unrestored = 0;
    for failure in finished.iter().filter(|r| is_failure(r)) {
        let began = at(failure);
        let restored = records
            .iter()
            .filter(|r| r.id != failure.id && r.is_live() && at(r) >= began)
            .filter(|r| r.created_ms >= failure.created_ms)
            .map(at)
            .min();
        match restored {
            Some(end) => restore_times.push(end - began),
            None => unrestored += 1,
        }
    }

    let mut deploys_by_day = vec![0; window.days as usize];
    for r in &succeeded {
        let day = ((at(r) - window.start()) / SECS_PER_DAY) as usize;
        if let Some(count) =
            deploys_by_day.get_mut(day.min((window.days as usize).saturating_sub(1)))
        {
            *count += 1;
        }
    }
    Dora {
        days: window.days,
        deploys: succeeded.len(),
        deploys_per_day: succeeded.len() as f64 / window.days.max(1) as f64,
        lead_time_secs: median(lead_times),
        failed_deploys,
        finished_deploys: finished.len(),
        change_failure_rate: (!finished.is_empty())
            .then(|| failed_deploys as f64 / finished.len() as f64),
        time_to_restore_secs: median(restore_times),
        unrestored,
        deploys_by_day,
    }
}

#[cfg(test)]
mod tests;
