//! Replies to ChatOps commands. Anything a user typed is shown in inline code, defanged.

use std::fmt;

use crate::command::{Command, CommandError, Who};
use crate::config::Config;
use crate::model::event::CommitSha;
use crate::model::forge::Permission;
use crate::model::run::Run;
use crate::model::status::RunStatus;
use crate::policy::OkToTestRefusal;

/// A user's text shown back inside inline code: backticks cannot end it, length is bounded.
fn quoted(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .filter(|c| *c != '`' && !c.is_control())
        .take(80)
        .collect();
    format!("`{cleaned}`")
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Unknown { word } => {
                write!(f, "{} is not a Slipway command.", quoted(word))
            }
            CommandError::MissingEnvironment { command } => {
                write!(
                    f,
                    "`{command}` needs an environment, e.g. `/{command} staging`."
                )
            }
            CommandError::UnknownEnvironment { given, known } if known.is_empty() => write!(
                f,
                "{} is not an environment: `.slipway.yml` defines none.",
                quoted(given)
            ),
            CommandError::UnknownEnvironment { given, known } => write!(
                f,
                "{} is not an environment; `.slipway.yml` defines {}.",
                quoted(given),
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            CommandError::UnexpectedArguments { command, extra } => {
                write!(f, "`{command}` does not take {}.", quoted(extra))
            }
            CommandError::InvalidSha { given } => {
                write!(
                    f,
                    "{} is not a commit: give 7 to 40 hexadecimal digits.",
                    quoted(given)
                )
            }
        }
    }
}

fn who(who: Who) -> &'static str {
    match who {
        Who::Anyone => "anyone",
        Who::AuthorOrWrite => "the author, or write access",
        Who::Write => "write access",
        Who::EnvironmentAllow => "the environment's `allow` (default write)",
    }
}

/// The help: every command (from the command enum), and the environments in force.
pub fn help(config: &Config) -> String {
    let prefix = &config.commands.prefix;
    let mut text = String::from("#### Slipway commands\n\nOne per line, at the start of the line.\n\n| command | does | who |\n|---|---|---|\n");
    for info in Command::HELP {
        text.push_str(&format!(
            "| `{prefix}{}` | {} | {} |\n",
            info.usage,
            info.summary,
            who(info.who)
        ));
    }
    text.push_str("\n`/slipway <command>` always works too.\n");
    if config.environments.is_empty() {
        text.push_str("\nNo environments are configured.\n");
    } else {
        text.push_str("\n| environment | allow | auto deploy |\n|---|---|---|\n");
        for (name, env) in &config.environments {
            let auto = env
                .auto_deploy
                .as_deref()
                .map_or("—".to_owned(), |b| format!("`{b}`"));
            text.push_str(&format!("| `{name}` | {} | {auto} |\n", env.allow));
        }
    }
    text
}

pub fn refused_permission(command: &Command, needed: &str, have: Permission) -> String {
    format!(
        "`{}` needs {needed}; you have {have} access.",
        command.info().usage.split(' ').next().unwrap_or("")
    )
}

/// A command refused by the table `/help` prints: who may run it, and what the commenter has.
pub fn refused_command(command: &Command, needed: Who, have: Permission) -> String {
    let needed = match needed {
        Who::AuthorOrWrite => "to be the author or have write access",
        Who::EnvironmentAllow => "the environment's `allow` permission",
        Who::Write | Who::Anyone => "write access",
    };
    refused_permission(command, needed, have)
}

pub fn ok_to_test_refused(refusal: &OkToTestRefusal, head: &CommitSha) -> String {
    match refusal {
        OkToTestRefusal::NotHead { named } => format!(
            "Not trusted: {} is not this pull request's head, which is now `{}`. Look at \
             that commit, then comment `/ok-to-test {}`.",
            quoted(named),
            head.short(),
            head.short()
        ),
        OkToTestRefusal::HeadChanged => format!(
            "Not trusted: the head changed after your comment (it is now `{}`), so you may not \
             have seen this code. Look at it, then comment `/ok-to-test {}` to trust exactly that \
             commit.",
            head.short(),
            head.short()
        ),
    }
}

pub fn refused_untrusted_fork() -> String {
    "This pull request comes from a fork: a maintainer must comment `/ok-to-test` on its current \
     head before it is built."
        .into()
}

pub fn ok_to_test_recorded(sha: &str) -> String {
    format!(
        "Trusted `{}` for builds; a new push needs a new `/ok-to-test`.",
        &sha[..7.min(sha.len())]
    )
}

pub fn cancelled_builds(count: usize) -> String {
    match count {
        0 => "Nothing to cancel: no build of this pull request is running.".into(),
        1 => "Cancelled 1 build.".into(),
        n => format!("Cancelled {n} builds."),
    }
}

pub fn too_many_commands(max: usize) -> String {
    format!("Only the first {max} commands of a comment are read.")
}

pub fn config_broken_for_commands(error: &str) -> String {
    format!(
        "Slipway cannot act: `.slipway.yml` is invalid.\n\n```\n{}\n```",
        super::fence_safe(error)
    )
}

/// `/status`: the pull request's builds, newest first.
pub fn status(runs: &[Run], deployments: &[crate::model::deploy::DeploymentRecord]) -> String {
    let mut text = builds_status(runs);
    if !deployments.is_empty() {
        text.push_str("\n| environment | commit | deploy | by |\n|---|---|---|---|\n");
        for d in deployments.iter().rev().take(10) {
            let state = match d.status {
                crate::model::deploy::DeployStatus::InProgress => "⏳ in progress",
                crate::model::deploy::DeployStatus::Succeeded => "✅ deployed",
                crate::model::deploy::DeployStatus::Failed => "❌ failed",
            };
            text.push_str(&format!(
                "| `{}` | `{}` | {state} | @{} |\n",
                d.environment,
                d.sha.short(),
                d.actor
            ));
        }
    }
    text
}

fn builds_status(runs: &[Run]) -> String {
    if runs.is_empty() {
        return "No builds for this pull request yet.\n".into();
    }
    let mut text = String::from("| commit | build | finished |\n|---|---|---|\n");
    for run in runs.iter().rev().take(10) {
        let state = match run.status {
            RunStatus::Queued => "⏳ queued",
            RunStatus::Running => "⏳ running",
            RunStatus::Succeeded => "✅ passed",
            RunStatus::Failed => "❌ failed",
            RunStatus::Cancelled => "🛑 cancelled",
            RunStatus::TimedOut => "⏱️ timed out",
            RunStatus::Lost => "❌ lost",
        };
        let finished = run
            .finished_at
            .map(|t| {
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(t),
                )
                .to_string()
            })
            .unwrap_or_else(|| "—".into());
        text.push_str(&format!(
            "| `{}` | {state} | {finished} |\n",
            run.sha.short()
        ));
    }
    if let Some(latest) = runs.iter().rev().find(|r| !r.artifacts.is_empty()) {
        text.push_str(&format!("\nArtifacts of `{}`:\n", latest.sha.short()));
        for artifact in &latest.artifacts {
            let name = artifact.file.path.replace(['[', ']'], "");
            let shown = match &artifact.link {
                Some(link) => format!("[{name}]({link})"),
                None => name,
            };
            text.push_str(&format!("- {shown} — sha256 `{}`\n", artifact.file.sha256));
        }
        let more = latest.artifact_count.saturating_sub(latest.artifacts.len());
        if more > 0 {
            text.push_str(&format!(
                "- and {more} more, listed in the build's `manifest.json`\n"
            ));
        }
    }
    if let Some(latest) = runs.iter().rev().find(|r| r.image.is_some()) {
        text.push_str(&format!("\nImage of `{}`:", latest.sha.short()));
        text.push_str(&super::build::image_line(latest.image.as_ref()));
    }
    text
}
