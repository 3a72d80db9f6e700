//! What `slipway run` prints while a build runs and when it ends.

use std::path::{Path, PathBuf};
use std::time::Duration;

use slipway::model::job::BuildResult;

/// Print each step as it starts and ends (the agent's `==>` and `<==` log lines) until the build
/// ends, then what is left.
pub async fn follow_steps(log: PathBuf, mut stopped: tokio::sync::oneshot::Receiver<()>) {
    let mut seen = 0usize;
    loop {
        let last = tokio::select! {
            _ = &mut stopped => true,
            _ = tokio::time::sleep(Duration::from_millis(100)) => false,
        };
        if let Ok(text) = tokio::fs::read_to_string(&log).await {
            let fresh = text.get(seen..).unwrap_or("");
            let complete = fresh.rfind('\n').map_or(0, |i| i + 1);
            for line in fresh[..complete].lines() {
                if line.starts_with("==> ") || line.starts_with("<== ") {
                    eprintln!("{line}");
                }
            }
            seen += complete;
        }
        if last {
            return;
        }
    }
}

pub fn print_summary(
    checks: &[slipway::forge::local::LocalCheck],
    result: Option<&BuildResult>,
    log: &Path,
    comment: Option<&str>,
) {
    println!();
    for check in checks {
        println!("{}: {} — {}", check.name, check.state, check.title);
    }
    if let Some(result) = result {
        for artifact in &result.artifacts {
            println!(
                "artifact {} ({} bytes, sha256 {})\n  {}",
                artifact.file.path,
                artifact.file.size,
                artifact.file.sha256,
                artifact.link.as_deref().unwrap_or(&artifact.file.key)
            );
        }
        for step in &result.steps {
            println!(
                "  {:<30} {:<10} {:>6.1}s",
                step.name,
                format!("{:?}", step.status).to_lowercase(),
                step.duration_ms as f64 / 1000.0
            );
        }
    }
    println!("log: {}", log.display());
    if let Some(comment) = comment {
        println!("\nThe pull request comment:\n\n{comment}");
    }
}
