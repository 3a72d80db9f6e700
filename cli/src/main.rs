//! `slipway`: the one-machine front end. `serve` runs the webhook endpoints with embedded stores;
//! `send` signs and posts a payload as a forge would; `agent` runs a build's steps; `setup github`
//! creates the GitHub App.

/// mimalloc rather than the system allocator: a delivery's buffers (a 21 KB body, its parsed
/// fields, the queued event) are freed at once, which glibc's allocator spends ~7 % of `serve`'s
/// CPU on under load (docs/decisions.md, issue #15).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod agent;
mod config_check;
mod link_key;
mod local;
mod metrics;
mod progress;
mod queue_report;
mod send;
mod serve;
mod setup_github;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "slipway",
    version,
    about = "Continuous delivery for GitHub and GitLab"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve POST /webhooks/github, POST /webhooks/gitlab and GET /healthz with embedded stores.
    Serve {
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
        /// Where the embedded state and queue live.
        #[arg(long, default_value = ".slipway")]
        data_dir: PathBuf,
    },
    /// Show the local queue: events waiting, and those parked as dead letters with why; exit 1
    /// when any is parked.
    Queue {
        /// Where the embedded state and queue live.
        #[arg(long, default_value = ".slipway")]
        data_dir: PathBuf,
    },
    /// The four DORA measures (deployment frequency, lead time, change failure rate, time to
    /// restore) per repository and environment, from the deploys recorded here.
    Metrics(metrics::MetricsArgs),
    /// Sign a payload file and POST it like a forge would; exit 0 on a 2xx answer.
    Send(send::SendArgs),
    /// Build a commit of a local repository as if a pull request were opened; exit 0 when it
    /// passed, 1 when it failed, 2 for usage or configuration errors.
    Run(local::RunArgs),
    /// Comment on the local repository's pull request (ChatOps on one machine).
    Comment(local::CommentArgs),
    /// Run a build job's steps in a checkout (what runners execute).
    Agent(agent::AgentArgs),
    /// Work with `.slipway.yml`.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Connect Slipway to a forge.
    #[command(subcommand)]
    Setup(SetupCommand),
}

#[derive(Subcommand)]
enum SetupCommand {
    /// Create Slipway's GitHub App from its manifest in a browser, and store its private key and
    /// webhook secret in the stack's secrets or in an env file for `slipway serve`.
    Github(setup_github::GithubArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a `.slipway.yml` (default: the one in this directory); exit 1 when it is invalid.
    Check { file: Option<PathBuf> },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("slipway: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve { listen, data_dir } => serve::run(listen, &data_dir).await,
            Command::Queue { data_dir } => queue_report::run(&data_dir).await,
            Command::Metrics(args) => metrics::run(args).await,
            Command::Send(args) => send::run(args).await,
            Command::Run(args) => local::run(args).await,
            Command::Comment(args) => local::comment(args).await,
            Command::Agent(args) => agent::run(args).await,
            Command::Config(ConfigCommand::Check { file }) => config_check::run(file),
            Command::Setup(SetupCommand::Github(args)) => setup_github::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("slipway: {e:#}");
            ExitCode::from(2)
        }
    }
}
