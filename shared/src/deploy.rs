//! Deployments, the pure part: what a deploy records, and whether one may go ahead.
//!
//! A deploy ships the image a green build pushed, by digest, never a rebuild. The engine that
//! runs one lives in `app::deploy`; this module decides and describes.

use crate::config::Environment;
use crate::model::deploy::DeploymentRecord;

/// The deployment a rollback goes back to: the named commit's last live deployment, or the one
/// before the current. `history` is oldest first; "live" counts deployments that were applied
/// even if recording them failed afterwards, so a rollback never skips what actually ran.
pub fn rollback_target<'a>(
    history: &'a [DeploymentRecord],
    sha_prefix: Option<&str>,
) -> Option<&'a DeploymentRecord> {
    let mut good = history.iter().rev().filter(|d| d.is_live());
    match sha_prefix {
        Some(prefix) => good.find(|d| d.sha.as_str().starts_with(prefix)),
        None => {
            let current = good.next()?;
            good.find(|d| d.sha != current.sha || d.image != current.image)
        }
    }
}

/// What the environment runs: its last deployment that succeeded or was applied.
pub fn current(history: &[DeploymentRecord]) -> Option<&DeploymentRecord> {
    history.iter().rev().find(|d| d.is_live())
}

/// The environments a green build of `branch` deploys to.
pub fn auto_deploy_targets<'a>(
    environments: &'a std::collections::BTreeMap<String, Environment>,
    branch: &str,
) -> Vec<&'a str> {
    environments
        .iter()
        .filter(|(_, e)| e.auto_deploy.as_deref() == Some(branch))
        .map(|(name, _)| name.as_str())
        .collect()
}

#[cfg(test)]
mod tests;
