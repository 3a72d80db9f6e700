//! Build checks and the sticky build comment.

use crate::model::event::CommitSha;
use crate::model::image::PublishedImage;
use crate::model::job::{BuildResult, PublishedArtifact, StepStatus};
use crate::model::run::Run;
use crate::model::status::CancelReason;
use crate::model::status::RunStatus;
use crate::render::fence_safe;

pub fn queued_title() -> String {
    "Build queued".into()
}

pub fn running_title() -> String {
    "Building".into()
}

pub fn queued_summary(run: &Run) -> String {
    format!(
        "Building `{}` ({}) — timeout {}.",
        run.sha.short(),
        run.git_ref,
        humantime::format_duration(std::time::Duration::from_secs(run.timeout_secs))
    )
}

pub fn config_error_title() -> String {
    "Invalid .slipway.yml".into()
}

pub fn config_error_summary(error: &str) -> String {
    format!(
        "Slipway could not read the configuration:\n\n```\n{}\n```\n\nFix the file and push again.",
        fence_safe(error)
    )
}

pub fn awaiting_approval_title() -> String {
    "Waiting for /ok-to-test".into()
}

pub fn awaiting_approval_summary(sha: &CommitSha) -> String {
    format!(
        "This pull request comes from a fork, and its author does not have write access. A \
         maintainer (write access or above) can review the changes and comment `/ok-to-test` to \
         build commit `{}`. Every new push needs a new `/ok-to-test`.",
        sha.short()
    )
}

pub fn not_started_title() -> String {
    "Build could not start".into()
}

/// The runner's own error (CodeBuild's, with account ids and ARNs) stays in the log, under the
/// run id named here.
pub fn not_started_summary(run: &crate::model::event::RunId) -> String {
    format!(
        "The build could not be started; the reason is in Slipway's log under run `{run}`.\n\n\
         Comment `/build` to try again."
    )
}

pub fn cancelled_title(reason: CancelReason) -> String {
    match reason {
        CancelReason::Superseded => "Cancelled: superseded by a newer push".into(),
        CancelReason::Closed => "Cancelled: the pull request was closed".into(),
        CancelReason::Draft => "Cancelled: the pull request is a draft".into(),
        CancelReason::Requested => "Cancelled with /cancel".into(),
    }
}

pub fn cancelled_summary(reason: CancelReason, newer: Option<&CommitSha>) -> String {
    match (reason, newer) {
        (CancelReason::Superseded, Some(sha)) => {
            format!("A newer commit, `{}`, is being built instead.", sha.short())
        }
        _ => cancelled_title(reason),
    }
}

pub fn finished_title(run: &Run, result: Option<&BuildResult>) -> String {
    let failed_step = result.and_then(|r| {
        r.steps
            .iter()
            .find(|s| matches!(s.status, StepStatus::Failed | StepStatus::TimedOut))
    });
    match (run.status, failed_step) {
        (RunStatus::Succeeded, _) => "Build passed".into(),
        (RunStatus::Failed, Some(step)) => format!("Build failed at step \"{}\"", step.name),
        (RunStatus::Failed, None) if result.is_none() => "Build failed: it left no result".into(),
        (RunStatus::Failed, None) => "Build failed".into(),
        (RunStatus::TimedOut, _) => format!(
            "Build timed out after {}",
            humantime::format_duration(std::time::Duration::from_secs(run.timeout_secs))
        ),
        (RunStatus::Cancelled, _) => "Build cancelled".into(),
        (RunStatus::Lost, _) => "Build lost — comment /build to retry".into(),
        (RunStatus::Queued | RunStatus::Running, _) => "Building".into(),
    }
}

fn step_icon(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Passed => "✅",
        StepStatus::Failed => "❌",
        StepStatus::TimedOut => "⏱️",
        StepStatus::Cancelled => "🛑",
        StepStatus::Skipped => "⏭️",
    }
}

fn steps_table(result: &BuildResult) -> String {
    let mut table = String::from("| step | result | time |\n|---|---|---|\n");
    for step in &result.steps {
        let outcome = match (step.status, step.exit_code) {
            (StepStatus::Failed, Some(code)) => format!("{} exit {code}", step_icon(step.status)),
            (status, _) => format!(
                "{} {}",
                step_icon(status),
                format!("{status:?}").to_lowercase()
            ),
        };
        table.push_str(&format!(
            "| {} | {} | {:.1}s |\n",
            step.name.replace('|', "\\|"),
            outcome,
            step.duration_ms as f64 / 1000.0
        ));
    }
    table
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

/// A build's own words (a file name) as plain text in markdown: every character markdown or a
/// table gives meaning to is escaped, and line breaks become spaces.
fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '<' | '>' | '|' | '#' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The stored artifacts: name (linked), size, SHA-256.
fn artifacts_table(artifacts: &[PublishedArtifact]) -> String {
    if artifacts.is_empty() {
        return String::new();
    }
    let mut table = String::from("\n| artifact | size | sha256 |\n|---|---|---|\n");
    for a in artifacts {
        let name = markdown_text(&a.file.path);
        let name = match &a.link {
            Some(link) => format!("[{name}]({link})"),
            None => name,
        };
        table.push_str(&format!(
            "| {name} | {} | `{}` |\n",
            human_size(a.file.size),
            a.file.sha256
        ));
    }
    table
}

/// The image by digest, with its tags: what a deploy will ship.
pub fn image_line(image: Option<&PublishedImage>) -> String {
    let Some(image) = image else {
        return String::new();
    };
    let tags: Vec<String> = image.tags.iter().map(|t| format!("`{t}`")).collect();
    format!(
        "\n**Image** `{}`\ntags {}\n",
        image.reference(),
        tags.join(", ")
    )
}

pub fn finished_summary(
    run: &Run,
    result: Option<&BuildResult>,
    log_tail: Option<&str>,
    log_url: Option<&str>,
) -> String {
    let mut text = format!("Commit `{}` on `{}`.\n\n", run.sha.short(), run.git_ref);
    match result {
        Some(result) => {
            text.push_str(&steps_table(result));
            text.push_str(&artifacts_table(&result.artifacts));
            text.push_str(&image_line(result.image.as_ref()));
        }
        None if run.status == RunStatus::Lost => text.push_str(
            "The build never reported back, so Slipway gave up on it. Comment `/build` to retry.\n",
        ),
        None => text.push_str("The build ended without a result, so it is counted as failed.\n"),
    }
    if let Some(tail) = log_tail.filter(|t| !t.trim().is_empty()) {
        text.push_str(&format!(
            "\n<details><summary>Log (last lines)</summary>\n\n```\n{}\n```\n</details>\n",
            fence_safe(tail)
        ));
    }
    if let Some(url) = log_url {
        text.push_str(&format!("\n[Full log]({url})\n"));
    }
    text
}

fn status_icon(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Succeeded => "✅",
        RunStatus::Failed | RunStatus::Lost => "❌",
        RunStatus::TimedOut => "⏱️",
        RunStatus::Cancelled => "🛑",
        RunStatus::Queued | RunStatus::Running => "⏳",
    }
}

/// The sticky build comment on a pull request: the latest run, replaced in place.
pub fn build_comment(run: &Run, result: Option<&BuildResult>, log_url: Option<&str>) -> String {
    let mut text = format!(
        "### {} {} — `{}`\n\n",
        status_icon(run.status),
        finished_title(run, result),
        run.sha.short()
    );
    if let Some(result) = result {
        text.push_str(&steps_table(result));
        text.push_str(&artifacts_table(&result.artifacts));
        text.push_str(&image_line(result.image.as_ref()));
        text.push_str(&format!(
            "\nTotal {:.1}s",
            result.duration_ms as f64 / 1000.0
        ));
    }
    if let Some(url) = log_url {
        text.push_str(&format!(" · [log]({url})"));
    }
    text.push('\n');
    if run.policy_changed {
        text.push_str(&policy_change_note());
    }
    text
}

/// A pull request that changes who may deploy where: told the change waits for its merge.
pub fn policy_change_note() -> String {
    "\n> This pull request changes `environments`, `commands` or the image repository in \
     `.slipway.yml`. Those take effect after it is merged; until then the default branch's \
     apply.\n"
        .into()
}

/// The last log line of a build whose `result.json` is over the size a report reads.
pub fn result_too_large(cap_bytes: u64) -> String {
    format!(
        "slipway: the build's result.json is larger than {} MiB, so it was not read; the build is counted as failed",
        cap_bytes >> 20
    )
}

/// The last log line of a build whose `result.json` is not a result.
pub fn result_invalid() -> String {
    "slipway: the build's result.json is not a valid result, so the build is counted as failed"
        .into()
}

#[cfg(test)]
mod markdown_tests {
    use super::markdown_text;

    #[test]
    fn a_file_name_cannot_make_a_link_or_break_the_table() {
        let cases = [
            ("dist/app.tar.gz", "dist/app.tar.gz"),
            ("x](https://evil.example)", "x\\]\\(https://evil.example\\)"),
            ("a|b\nc", "a\\|b c"),
            ("<img src=x>", "\\<img src=x\\>"),
        ];
        for (name, want) in cases {
            assert_eq!(markdown_text(name), want, "{name}");
        }
    }
}
