//! `slipway run` and `slipway comment`: the whole pipeline for a git repository on this machine,
//! on the local forge and the embedded stores under `--data-dir`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::Args;
use serde_json::json;
use slipway::app::pipeline::Pipeline;
use slipway::forge::local::{author_id, LocalForge};
use slipway::forge::Forge;
use slipway::forge::Forges;
use slipway::model::event::{
    Comment, CommentAction, CommitSha, DeliveryId, Event, EventKind, ForgeKind, PrAction, PrNumber,
    PullRequest, QueuedEvent, Repo, RepoId, User,
};
use slipway::model::forge::Permission;
use slipway::model::job::LOG_FILE;
use slipway::model::status::RunStatus;
use slipway::runner::local::{read_output, Completion, LocalRunner};
use slipway::state::sqlite::SqliteState;
use slipway::state::StateStore;
use slipway::wire::settings::{self, Env};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::progress::{follow_steps, print_summary};

/// The one pull request a local repository has.
const PR: PrNumber = PrNumber(1);

#[derive(Args)]
pub struct RunArgs {
    /// A git repository, or a plain directory (it is copied into a fresh repository first).
    #[arg(long)]
    repo: PathBuf,
    /// The commit to build.
    #[arg(long = "ref", default_value = "HEAD")]
    git_ref: String,
    #[arg(long, default_value = ".slipway")]
    data_dir: PathBuf,
    /// Print one JSON document instead of the summary.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct CommentArgs {
    #[arg(long)]
    repo: PathBuf,
    /// Who comments (default: git's user.name).
    #[arg(long = "as")]
    author: Option<String>,
    /// The commenter's permission on the repository (default: admin for yourself, none for others).
    #[arg(long)]
    permission: Option<Permission>,
    #[arg(long, default_value = ".slipway")]
    data_dir: PathBuf,
    #[arg(long)]
    json: bool,
    /// The comment, e.g. "/build".
    body: String,
}

struct Local {
    forge: LocalForge,
    repo: Repo,
    pipeline: Pipeline<SqliteState, LocalRunner>,
    completions: UnboundedReceiver<Completion>,
    me: String,
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=Slipway",
            "-c",
            "user.email=slipway@localhost",
        ])
        .arg("-C")
        .arg(dir)
        .args(args)
        // Copies of plain directories get the same commit for the same files, so a pull
        // request opened by one command still names the head the next command sees.
        .env("GIT_AUTHOR_DATE", "2000-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2000-01-01T00:00:00Z")
        .output()
        .context("cannot run git")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The repository to build: `path` itself when it is a repository's top, else a fresh repository
/// under the data directory holding a copy of it (so `examples/hello-service` runs as is).
fn prepare_repo(path: &Path, data_dir: &Path) -> anyhow::Result<PathBuf> {
    let path = path
        .canonicalize()
        .with_context(|| format!("no such directory: {}", path.display()))?;
    if git(&path, &["rev-parse", "--show-toplevel"])
        .ok()
        .map(PathBuf::from)
        .as_deref()
        == Some(path.as_path())
    {
        return Ok(path);
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("repo");
    let copy = data_dir.join("checkouts").join(name);
    if copy.exists() {
        std::fs::remove_dir_all(&copy)?;
    }
    copy_dir(&path, &copy)?;
    git(&copy, &["init", "-q", "-b", "main"])?;
    git(&copy, &["add", "-A"])?;
    git(&copy, &["commit", "-q", "-m", "slipway run"])?;
    copy.canonicalize().map_err(Into::into)
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if entry.file_name() != ".git" && entry.file_name() != ".slipway" {
                copy_dir(&entry.path(), &target)?;
            }
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

impl Local {
    async fn open(repo_path: &Path, data_dir: &Path) -> anyhow::Result<Local> {
        std::fs::create_dir_all(data_dir)?;
        let data_dir = data_dir.canonicalize()?;
        let dir = prepare_repo(repo_path, &data_dir)?;
        let db = data_dir.join("slipway.db");
        let forge = LocalForge::open(&db)?;
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("repo")
            .to_owned();
        let path = dir.display().to_string();
        let repo = Repo {
            id: RepoId(format!("local:{path}")),
            full_name: name,
            web_url: path.clone(),
            clone_url: path,
        };
        let me = git(&dir, &["config", "user.name"])
            .ok()
            .filter(|n| !n.is_empty())
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "you".into());
        forge.set_permission(&repo, &me, Permission::Admin).await?;
        let agent = std::env::current_exe().context("cannot find the slipway binary")?;
        let forges = Forges {
            local: Some(forge.clone()),
            ..Forges::default()
        };
        let env = Env::from_process();
        let (pipeline, completions) =
            slipway::wire::local::pipeline(&data_dir, agent, forges, None, &env).await?;
        slipway::app::local::recover(&pipeline, settings::run_retention(&env)?).await;
        Ok(Local {
            forge,
            repo,
            pipeline,
            completions,
            me,
        })
    }

    fn event(&self, kind: EventKind, name: &str) -> QueuedEvent {
        QueuedEvent {
            delivery: DeliveryId(format!("local-{}", uuid::Uuid::new_v4())),
            received_at: 0,
            event: Event {
                forge: ForgeKind::Local,
                repo: Some(self.repo.clone()),
                installation_id: None,
                sender: None,
                name: name.into(),
                kind,
            },
        }
    }

    /// Report builds as they end until none of the pull request's is left running.
    /// Dispatch one event as the forge would have sent it, then see its builds through.
    async fn act(&mut self, queued: &QueuedEvent, progress: bool) -> anyhow::Result<()> {
        self.pipeline.dispatch(queued).await?;
        self.finish_builds(progress).await
    }

    async fn finish_builds(&mut self, progress: bool) -> anyhow::Result<()> {
        // Only what this process started: another `slipway comment` may be running a deploy.
        // A run leaves `running()` just after its completion is sent, so skip those reported.
        let mut reported = std::collections::HashSet::new();
        loop {
            let done = match self.completions.try_recv() {
                Ok(done) => done,
                Err(_) => {
                    let running = self.pipeline.runner.running();
                    let Some(running) = running.into_iter().find(|id| !reported.contains(id))
                    else {
                        return Ok(());
                    };
                    let log = self.pipeline.runner.out_dir(&running).join(LOG_FILE);
                    let (stop, stopped) = tokio::sync::oneshot::channel();
                    let watcher = progress.then(|| tokio::spawn(follow_steps(log, stopped)));
                    let done = self
                        .completions
                        .recv()
                        .await
                        .context("the local runner stopped")?;
                    let _ = stop.send(());
                    if let Some(watcher) = watcher {
                        let _ = watcher.await;
                    }
                    done
                }
            };
            reported.insert(done.run_id.clone());
            slipway::app::local::report_completion(&self.pipeline, &done).await?;
        }
    }
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut local = Local::open(&args.repo, &args.data_dir).await?;
    let dir = PathBuf::from(&local.repo.clone_url);
    let sha = CommitSha::parse(&git(
        &dir,
        &[
            "rev-parse",
            "--verify",
            &format!("{}^{{commit}}", args.git_ref),
        ],
    )?)?;
    let branch = git(&dir, &["rev-parse", "--abbrev-ref", &args.git_ref])
        .unwrap_or_else(|_| args.git_ref.clone());
    let Some(config) = local
        .forge
        .read_file(&local.repo, &sha, slipway::config::CONFIG_PATH)
        .await?
    else {
        eprintln!(
            "slipway: no {} at {}: nothing to build",
            slipway::config::CONFIG_PATH,
            sha.short()
        );
        return Ok(ExitCode::from(2));
    };
    if let Err(error) = slipway::config::parse(
        slipway::config::CONFIG_PATH,
        &String::from_utf8_lossy(&config),
    ) {
        eprintln!("{error}");
        return Ok(ExitCode::from(2));
    }
    local
        .forge
        .open_pull_request(&local.repo, PR, &sha, &branch, &local.me)
        .await?;
    if !args.json {
        eprintln!(
            "Building {} ({branch}) of {}",
            sha.short(),
            local.repo.full_name
        );
    }
    let author = User {
        id: author_id(&local.me),
        login: Some(local.me.clone()),
        is_bot: false,
    };
    let pr = PullRequest {
        number: PR,
        head_sha: sha.clone(),
        head_branch: branch,
        base_branch: "main".into(),
        from_fork: false,
        draft: false,
        author,
    };
    let queued = local.event(
        EventKind::PullRequest {
            action: PrAction::Opened,
            pr,
        },
        "pull_request.opened",
    );
    local.act(&queued, !args.json).await?;

    let run_id = slipway::model::event::RunId::derive(ForgeKind::Local, &queued.delivery, &sha);
    let run = local
        .pipeline
        .state
        .get_run(&run_id)
        .await?
        .context("the run was not recorded")?;
    let out_dir = local.pipeline.runner.out_dir(&run_id);
    let (result, _) = read_output(&out_dir);
    let checks = local.forge.checks(&local.repo, &sha).await?;
    let comment = local
        .forge
        .list_comments(&local.repo, PR)
        .await?
        .into_iter()
        .rev()
        .find(|c| c.author_login == slipway::forge::local::BOT_LOGIN)
        .map(|c| c.body);
    let log = out_dir.join(LOG_FILE);
    if args.json {
        let document = json!({
            "run_id": run.id.0, "sha": sha.as_str(), "status": run.status, "checks": checks,
            "result": result, "log": log, "comment": comment,
        });
        println!("{}", serde_json::to_string_pretty(&document)?);
    } else {
        print_summary(&checks, result.as_ref(), &log, comment.as_deref());
    }
    Ok(if run.status == RunStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn comment(args: CommentArgs) -> anyhow::Result<ExitCode> {
    let mut local = Local::open(&args.repo, &args.data_dir).await?;
    let author = args.author.clone().unwrap_or_else(|| local.me.clone());
    if let Some(permission) = args.permission {
        local
            .forge
            .set_permission(&local.repo, &author, permission)
            .await?;
    }
    if local.forge.pull_request(&local.repo, PR).await.is_err() {
        let dir = PathBuf::from(&local.repo.clone_url);
        let sha = CommitSha::parse(&git(&dir, &["rev-parse", "HEAD"])?)?;
        local
            .forge
            .open_pull_request(&local.repo, PR, &sha, "main", &local.me)
            .await?;
    }
    let id = local
        .forge
        .comment_as(&local.repo, PR, &author, &args.body)
        .await?;
    let comment = Comment {
        id: id.0,
        author: User {
            id: author_id(&author),
            login: Some(author.clone()),
            is_bot: false,
        },
        body: Some(args.body.clone()),
        written_at: None,
    };
    let queued = local.event(
        EventKind::Comment {
            action: CommentAction::Created,
            pr: PR,
            pr_head_sha: None,
            comment,
        },
        "comment.created",
    );
    local.act(&queued, !args.json).await?;

    let reactions = local.forge.reactions(id).await?;
    let replies: Vec<String> = local
        .forge
        .list_comments(&local.repo, PR)
        .await?
        .into_iter()
        .filter(|c| c.id.0 > id.0)
        .map(|c| c.body)
        .collect();
    let deployments = local.forge.deployments(&local.repo).await?;
    if args.json {
        let doc = json!({
            "comment": id.0,
            "reactions": reactions,
            "replies": replies,
            "deployments": deployments,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("reactions: {}", reactions.join(" "));
        for reply in &replies {
            println!("\n{reply}");
        }
        if let Some(latest) = deployments.last() {
            println!(
                "\nlatest deployment: {} {} {}",
                latest.environment,
                &latest.sha[..7.min(latest.sha.len())],
                latest.state
            );
        }
    }
    let refused = reactions.iter().any(|r| r == "confused");
    Ok(if refused {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
