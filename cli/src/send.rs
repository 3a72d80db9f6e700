//! `slipway send`: post a payload file signed exactly as GitHub or GitLab would sign it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use slipway::webhook::{github, gitlab, SigningKey};

#[derive(Clone, Copy, ValueEnum)]
pub enum Forge {
    Github,
    Gitlab,
}

#[derive(Args)]
pub struct SendArgs {
    #[arg(long)]
    forge: Forge,
    /// GitHub: `pull_request`, `issue_comment`, ...; GitLab: `Merge Request Hook` or `merge_request_hook`.
    #[arg(long)]
    event: String,
    /// GitHub webhook secret; GitLab token, or a `whsec_...` signing token to sign the delivery.
    #[arg(long, env = "SLIPWAY_SEND_SECRET", hide_env_values = true)]
    secret: String,
    /// e.g. http://127.0.0.1:3000/webhooks/github
    #[arg(long)]
    url: String,
    /// The delivery id; a fresh UUID by default (the same id twice is a redelivery).
    #[arg(long)]
    delivery: Option<String>,
    /// The payload (JSON).
    file: PathBuf,
}

pub async fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    let body = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let delivery = args
        .delivery
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let request = reqwest::Client::new()
        .post(&args.url)
        .header("content-type", "application/json")
        .header(
            "user-agent",
            concat!("slipway-send/", env!("CARGO_PKG_VERSION")),
        );
    let request = match args.forge {
        Forge::Github => request
            .header("x-github-event", &args.event)
            .header("x-github-delivery", &delivery)
            .header(
                "x-hub-signature-256",
                github::signature(args.secret.as_bytes(), &body),
            ),
        Forge::Gitlab => {
            let request = request
                .header("x-gitlab-event", gitlab_event_header(&args.event))
                .header("x-gitlab-event-uuid", &delivery);
            if args.secret.starts_with("whsec_") {
                let key = SigningKey::parse(&args.secret)?;
                let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
                request
                    .header("webhook-id", &delivery)
                    .header("webhook-timestamp", now.to_string())
                    .header(
                        "webhook-signature",
                        gitlab::signature(&key, &delivery, now, &body),
                    )
            } else {
                request.header("x-gitlab-token", &args.secret)
            }
        }
    };
    let response = request
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", args.url))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!("{} {}", status.as_u16(), text.trim_end());
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `merge_request_hook` → `Merge Request Hook`; a name already in header form is kept.
fn gitlab_event_header(event: &str) -> String {
    if event.contains(' ') {
        return event.to_owned();
    }
    event
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::gitlab_event_header;

    #[test]
    fn gitlab_event_names_become_header_values() {
        assert_eq!(
            gitlab_event_header("merge_request_hook"),
            "Merge Request Hook"
        );
        assert_eq!(gitlab_event_header("push_hook"), "Push Hook");
        assert_eq!(gitlab_event_header("Note Hook"), "Note Hook");
    }
}
