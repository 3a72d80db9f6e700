//! `slipway setup github`: create Slipway's GitHub App from its manifest (GitHub's "create an App
//! from a manifest" flow). A local page posts the manifest to GitHub; GitHub sends the browser
//! back with a code, which becomes the App's id, private key and webhook secret; those are stored
//! where the stack or `slipway serve` reads them, and never shown.

mod github;
mod page;
mod plan;
mod report;
mod server;
mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{ArgGroup, Args};
use slipway::forge::github::DEFAULT_API_URL;
use slipway::webhook::Secret;

use self::store::Destination;

#[derive(Args)]
#[command(group(
    ArgGroup::new("destination")
        .required(true)
        .args(["private_key_arn", "env_file"])
))]
pub struct GithubArgs {
    /// Where GitHub delivers webhooks: the stack's WebhookUrl output, or where GitHub reaches
    /// `slipway serve` (`/webhooks/github` is added).
    #[arg(long)]
    webhook_url: String,
    /// Store the App's private key in this Secrets Manager secret (the stack's
    /// GitHubAppPrivateKeyArn output). Needs a slipway built with the `aws` feature.
    #[arg(long, requires = "webhook_secret_arn", conflicts_with = "env_file")]
    private_key_arn: Option<String>,
    /// Store the App's webhook secret in this Secrets Manager secret (the stack's
    /// GitHubWebhookSecretArn output).
    #[arg(long, requires = "private_key_arn")]
    webhook_secret_arn: Option<String>,
    /// For `slipway serve`: write the App's settings to this new file, and its private key to
    /// the same path plus `.pem` (both readable only by you).
    #[arg(long)]
    env_file: Option<PathBuf>,
    /// The App's name (GitHub's form lets you change it if it is taken).
    #[arg(long, default_value = "Slipway")]
    name: String,
    /// Create the App in this organization instead of your personal account.
    #[arg(long)]
    org: Option<String>,
    /// GitHub, or your GitHub Enterprise Server (e.g. https://ghe.example.com).
    #[arg(long, default_value = "https://github.com")]
    github_url: String,
    /// GitHub's REST API [default: https://api.github.com, or <github-url>/api/v3 for GitHub
    /// Enterprise Server].
    #[arg(long)]
    github_api_url: Option<String>,
    /// Where the local page listens; GitHub sends the browser back to it.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
}

pub async fn run(args: GithubArgs) -> anyhow::Result<ExitCode> {
    // Everything that can be checked is checked before the browser opens: once GitHub has made
    // the App, a mistake costs a deleted App and a second run.
    let hook_url = plan::hook_url(&args.webhook_url)?;
    let api_url = plan::api_url(&args.github_url, args.github_api_url.as_deref())?;
    let custom_api_url = (api_url != DEFAULT_API_URL).then(|| api_url.clone());
    let github = github::Github::new(&api_url)?;
    plan::local_base_url(args.listen)?;
    let destination = destination(&args, custom_api_url.as_deref()).await?;
    let state = new_state()?;
    let action = plan::new_app_url(&args.github_url, args.org.as_deref(), &state)?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let base = plan::local_base_url(addr)?;
    let manifest = plan::manifest(&args.name, &hook_url, &format!("{base}/callback"))?;
    let owner = match &args.org {
        Some(org) => format!("the organization {org}"),
        None => "your personal account".to_owned(),
    };
    let form_page = page::form(&page::Form {
        action: &action,
        manifest: &manifest.to_string(),
        name: args.name.trim(),
        owner: &owner,
        hook_url: &hook_url,
        destination: &destination.describe(),
    });
    println!("Open {base}/ in a browser to create the GitHub App (Ctrl-C to give up).");

    let flow = server::Flow {
        addr,
        form_page,
        state: Secret::new(state).expect("a state is never empty"),
        github,
        destination,
        custom_api_url,
    };
    match server::serve(listener, flow).await? {
        Ok(created) => {
            let app = &created.app;
            println!(
                "Created the GitHub App {} (id {}): {}",
                app.slug, app.id, app.html_url
            );
            for (n, step) in created.steps.iter().enumerate() {
                println!("{}. {step}", n + 1);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(message) => {
            eprintln!("slipway: {message}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn destination(
    args: &GithubArgs,
    custom_api_url: Option<&str>,
) -> anyhow::Result<Destination> {
    if let Some(path) = &args.env_file {
        return Destination::env_file(path, custom_api_url);
    }
    let (Some(private_key_arn), Some(webhook_secret_arn)) =
        (&args.private_key_arn, &args.webhook_secret_arn)
    else {
        anyhow::bail!("give --private-key-arn and --webhook-secret-arn, or --env-file");
    };
    #[cfg(feature = "aws")]
    return Destination::secrets_manager(private_key_arn, webhook_secret_arn).await;
    #[cfg(not(feature = "aws"))]
    {
        let _ = (private_key_arn, webhook_secret_arn);
        anyhow::bail!(
            "--private-key-arn needs AWS support, which this slipway was built without (cargo \
             feature `aws`); --env-file needs none"
        )
    }
}

/// 256 random bits, hex: what GitHub hands back on the callback, which only this run knows.
fn new_state() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| anyhow::anyhow!("no randomness for a state: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
