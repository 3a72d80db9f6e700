//! What deployments say: refusals, the check, and the sticky deployment comment per environment.

use crate::model::deploy::{DeployKind, DeployStatus, DeploymentRecord, Refusal};
use crate::model::image::PublishedImage;
use crate::model::status::RunStatus;

pub fn deploy_refused(environment: &str, refusal: &Refusal) -> String {
    let why = match refusal {
        Refusal::UnknownEnvironment => {
            format!("there is no environment `{environment}` in `.slipway.yml` on the default branch")
        }
        Refusal::Permission { needed, have } => {
            format!("it needs {needed} access; you have {have}")
        }
        Refusal::Fork => {
            "this pull request comes from a fork: fork code is never deployed, and `/deploy` and `/rollback` are not taken on fork pull requests".into()
        }
        Refusal::NotBuilt => "this commit has not been built yet: comment `/build` first".into(),
        Refusal::BuildNotGreen(RunStatus::Queued | RunStatus::Running) => {
            "this commit's build has not finished yet".into()
        }
        Refusal::BuildNotGreen(status) => {
            format!("this commit's build did not pass ({})", run_status(*status))
        }
        Refusal::NotApproved => "the pull request needs an approving review".into(),
        Refusal::ChangesRequested => "a reviewer requested changes".into(),
        Refusal::NothingToRollBackTo => {
            "there is no earlier successful deployment to roll back to".into()
        }
        Refusal::Locked { holder } => format!("another deploy is in progress: {holder}"),
        Refusal::NotAutoDeployed => format!(
            "the default branch's `.slipway.yml` does not deploy this branch to `{environment}` automatically"
        ),
    };
    format!("Not deploying to `{environment}`: {why}.")
}

fn run_status(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Queued => "queued",
        RunStatus::Running => "running",
        RunStatus::Succeeded => "passed",
        RunStatus::Failed => "failed",
        RunStatus::Cancelled => "cancelled",
        RunStatus::TimedOut => "timed out",
        RunStatus::Lost => "lost",
    }
}

/// The deploy holding an environment's lock, for a refusal.
pub fn deploy_in_progress(holder: Option<&DeploymentRecord>) -> String {
    match holder {
        Some(d) => format!(
            "`{}` by @{} (deployment `{}`)",
            d.sha.short(),
            d.actor,
            d.id
        ),
        None => "one that started moments ago".into(),
    }
}

fn image_text(image: Option<&PublishedImage>) -> String {
    image.map_or_else(|| "no image".into(), |i| format!("`{}`", i.reference()))
}

fn how(kind: DeployKind) -> &'static str {
    match kind {
        DeployKind::Deploy => "`/deploy`",
        DeployKind::Rollback => "`/rollback`",
        DeployKind::Auto => "continuous deployment",
    }
}

pub fn deploy_check_title(record: &DeploymentRecord) -> String {
    match record.status {
        DeployStatus::InProgress => format!("Deploying to {}", record.environment),
        DeployStatus::Succeeded => format!("Deployed to {}", record.environment),
        DeployStatus::Failed => format!("Deploy to {} failed", record.environment),
    }
}

/// The check summary and the comment share this body.
pub fn deployment_comment(record: &DeploymentRecord, tag_only_target: bool) -> String {
    let env = &record.environment;
    let heading = match record.status {
        DeployStatus::InProgress => format!("### ⏳ Deploying to `{env}`"),
        DeployStatus::Succeeded if record.kind == DeployKind::Rollback => {
            format!("### ↩️ Rolled back `{env}`")
        }
        DeployStatus::Succeeded => format!("### 🚀 Deployed to `{env}`"),
        DeployStatus::Failed => format!("### ❌ Deploy to `{env}` failed"),
    };
    let mut text = format!("{heading}\n\n| | |\n|---|---|\n");
    text.push_str(&format!("| commit | `{}` |\n", record.sha.short()));
    text.push_str(&format!(
        "| image | {} |\n",
        image_text(record.image.as_ref())
    ));
    text.push_str(&format!(
        "| by | @{} with {} |\n",
        record.actor,
        how(record.kind)
    ));
    if let Some(url) = &record.url {
        text.push_str(&format!("| where | {url} |\n"));
    }
    match &record.previous {
        Some(p) => text.push_str(&format!(
            "| replaced | `{}` ({}) |\n",
            p.sha.short(),
            image_text(p.image.as_ref())
        )),
        None => text.push_str("| replaced | nothing: the first deploy here |\n"),
    }
    text.push_str(&format!("| deployment | `{}` |\n", record.id));
    match record.status {
        DeployStatus::Failed => {
            let reason = record.reason.as_deref().unwrap_or("unknown");
            text.push_str(&format!("\n**Why:** {}\n", reason.replace('\n', " ")));
            let kept = match &record.previous {
                Some(p) => format!("`{env}` stays on `{}`", p.sha.short()),
                None => format!("`{env}` was not changed"),
            };
            if tag_only_target {
                text.push_str(&format!("\n{kept}: the `env-{env}` tag was not moved.\n"));
            } else {
                text.push_str(&format!(
                    "\nSlipway did not move the `env-{env}` tag, so {kept} as far as Slipway knows; what the deploy changed before it failed depends on the target.\n"
                ));
            }
        }
        DeployStatus::Succeeded => {
            if record.previous.is_some() {
                text.push_str(&format!("\nRoll back with `/rollback {env}`.\n"));
            }
        }
        DeployStatus::InProgress => {}
    }
    text
}

/// A deploy's failure reason when the target already runs the new version.
pub fn applied_but(reason: &str) -> String {
    format!("the new version is running, but {reason}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::deploy::Previous;
    use crate::model::event::{CommitSha, ForgeKind, Repo, RepoId};
    use crate::model::forge::Permission;

    fn record(status: DeployStatus, previous: bool) -> DeploymentRecord {
        let sha = |c: char| CommitSha::parse(&c.to_string().repeat(40)).unwrap();
        let image = |c: char| PublishedImage {
            repository: "registry.example/app".into(),
            name: "app".into(),
            digest: format!("sha256:{}", c.to_string().repeat(64)),
            tags: vec![],
        };
        DeploymentRecord {
            id: "d1".into(),
            forge: ForgeKind::Github,
            repo: Repo {
                id: RepoId("1".into()),
                full_name: "o/r".into(),
                web_url: String::new(),
                clone_url: String::new(),
            },
            installation_id: None,
            environment: "staging".into(),
            kind: DeployKind::Deploy,
            sha: sha('b'),
            git_ref: "main".into(),
            image: Some(image('b')),
            artifacts_manifest: None,
            actor: "alice".into(),
            pr: None,
            status,
            reason: Some("the release broke".into()),
            previous: previous.then(|| Previous {
                sha: sha('a'),
                image: Some(image('a')),
                deployment_id: "d0".into(),
            }),
            forge_deployment: None,
            run_id: None,
            url: Some("https://staging.example".into()),
            created_ms: 0,
            finished_at: None,
            applied: false,
        }
    }

    #[test]
    fn a_success_says_what_went_where_and_how_to_roll_back() {
        let text = deployment_comment(&record(DeployStatus::Succeeded, true), true);
        assert!(text.starts_with("### 🚀 Deployed to `staging`"), "{text}");
        assert!(text.contains(&format!(
            "| image | `registry.example/app@sha256:{}` |",
            "b".repeat(64)
        )));
        assert!(text.contains("| by | @alice with `/deploy` |"));
        assert!(text.contains("| where | https://staging.example |"));
        assert!(text.contains("| replaced | `aaaaaaa`"));
        assert!(text.contains("Roll back with `/rollback staging`."));
        let first = deployment_comment(&record(DeployStatus::Succeeded, false), true);
        assert!(first.contains("nothing: the first deploy here") && !first.contains("Roll back"));
    }

    #[test]
    fn a_failure_says_why_and_what_still_runs() {
        let text = deployment_comment(&record(DeployStatus::Failed, true), true);
        assert!(
            text.starts_with("### ❌ Deploy to `staging` failed"),
            "{text}"
        );
        assert!(text.contains("**Why:** the release broke"));
        assert!(text.contains("`staging` stays on `aaaaaaa`: the `env-staging` tag was not moved."));
        let steps = deployment_comment(&record(DeployStatus::Failed, false), false);
        assert!(
            steps.contains("`staging` was not changed as far as Slipway knows"),
            "{steps}"
        );
    }

    #[test]
    fn every_refusal_says_why() {
        let refusals = [
            (Refusal::UnknownEnvironment, "no environment `staging`"),
            (
                Refusal::Permission {
                    needed: Permission::Maintain,
                    have: Permission::Write,
                },
                "needs maintain access; you have write",
            ),
            (Refusal::Fork, "fork code is never deployed"),
            (Refusal::NotBuilt, "comment `/build` first"),
            (
                Refusal::BuildNotGreen(crate::model::status::RunStatus::Running),
                "has not finished yet",
            ),
            (
                Refusal::BuildNotGreen(crate::model::status::RunStatus::TimedOut),
                "did not pass (timed out)",
            ),
            (Refusal::NotApproved, "approving review"),
            (Refusal::ChangesRequested, "requested changes"),
            (
                Refusal::NothingToRollBackTo,
                "no earlier successful deployment",
            ),
            (
                Refusal::Locked {
                    holder: "`abc` by @bob".into(),
                },
                "in progress: `abc` by @bob",
            ),
        ];
        for (refusal, needle) in refusals {
            let text = deploy_refused("staging", &refusal);
            assert!(text.starts_with("Not deploying to `staging`: "), "{text}");
            assert!(text.contains(needle), "{refusal:?}: {text}");
        }
    }
}
