//! ChatOps: a new comment on a pull request, read for commands, each authorised against the
//! commenter's live permission on the forge (never `author_association`, never a name pattern).
//!
//! An accepted comment gets 👀 at once; then 🚀 when every command was done, or 😕 with one
//! reply that says why for each refusal. Edited comments are not read (the edge drops them), nor
//! are comments by bots, Slipway included.

use super::deploy::{DeployRequest, Started};
use super::pipeline::Pipeline;
use super::repo_config::{self, InForce, Loaded};
use super::PipelineError;
use crate::command::{self, Command, MAX_COMMANDS};
use crate::config::{Config, Environment, Requirement};
use crate::deploy;
use crate::forge::Forge;
use crate::model::deploy::{DeployKind, DeployStatus, Refusal};
use crate::model::event::{Comment, CommentAction, EventKind, PrNumber, QueuedEvent, Repo};
use crate::model::forge::{Permission, PrFacts, Reaction};
use crate::model::status::{CancelReason, Trigger};
use crate::plan::BuildTarget;
use crate::policy::{self, Commenter, DeployFacts, Requester};
use crate::render;
use crate::runner::Runner;
use crate::state::StateStore;

/// What one command came to.
enum Done {
    Quietly,
    Reply(String),
    Refused(String),
    /// It was tried and failed; the failure is told elsewhere (the deployment comment).
    Failed,
}

struct Context<'a> {
    queued: &'a QueuedEvent,
    forge: &'a dyn Forge,
    repo: &'a Repo,
    pr: PrNumber,
    comment: &'a Comment,
    facts: PrFacts,
    config: &'a Config,
    /// The pull request asks for rules other than the default branch's.
    policy_changed: bool,
    permission: Option<Permission>,
}

impl Context<'_> {
    /// The commenter's permission, asked once and only when a command needs it.
    async fn permission(&mut self) -> Result<Permission, PipelineError> {
        if let Some(p) = self.permission {
            return Ok(p);
        }
        let p = self
            .forge
            .permission(self.repo, &self.comment.author)
            .await?;
        self.permission = Some(p);
        Ok(p)
    }

    /// Whether the commenter may run `command`, by the table `/help` prints. Asks the forge for
    /// their permission only when the command is not everyone's.
    async fn authorize(&mut self, command: &Command) -> Result<Option<Done>, PipelineError> {
        if command.info().who == crate::command::Who::Anyone {
            return Ok(None);
        }
        let commenter = Commenter {
            permission: self.permission().await?,
            is_author: self.comment.author.id == self.facts.author.id,
        };
        // Deploy commands are decided whole by `policy::authorize_deploy` (the environment's
        // `allow` first), which names the environment in its refusal.
        let allow = None;
        Ok(policy::authorize_command(command, &commenter, allow)
            .err()
            .map(|who| Done::Refused(render::refused_command(command, who, commenter.permission))))
    }

    /// Reviews that count for `environment`'s requirements: (approvals, change requests). Asks
    /// each reviewer's live permission only when the environment requires reviews.
    async fn counted_reviews(
        &mut self,
        environment: &Environment,
    ) -> Result<(usize, usize), PipelineError> {
        let reviewed = environment
            .require
            .iter()
            .any(|r| matches!(r, Requirement::Approved | Requirement::NoChangesRequested));
        if !reviewed {
            return Ok((0, 0));
        }
        let (mut approvals, mut changes) = (0, 0);
        for review in &self.facts.reviews {
            let permission = self.forge.permission(self.repo, &review.reviewer).await?;
            let author = &self.facts.author;
            if review.verdict == crate::model::forge::Verdict::Approved
                && policy::review_counts(review, permission, author, &self.facts.head_sha)
            {
                approvals += 1;
            }
            if policy::blocking_counts(review, permission, author) {
                changes += 1;
            }
        }
        Ok((approvals, changes))
    }
}

/// The days `/status` sums each environment's delivery over.
const STATUS_DAYS: u64 = 30;
/// The most pull requests whose first build `/status` looks up, per environment.
const STATUS_PULL_REQUESTS: usize = 20;

impl<S: StateStore, R: Runner> Pipeline<S, R> {
    /// An environment's DORA measures over [`STATUS_DAYS`]; a change's lead time starts at its
    /// pull request's first build (deploys without a pull request have none here).
    async fn delivery(
        &self,
        forge: crate::model::event::ForgeKind,
        repo: &crate::model::event::RepoId,
        history: &[crate::model::deploy::DeploymentRecord],
    ) -> Result<crate::metrics::Dora, PipelineError> {
        use crate::metrics::{dora, Window, SECS_PER_DAY};
        let now = crate::state::unix_secs(std::time::SystemTime::now()).max(0) as u64;
        let window = Window {
            end: now,
            days: STATUS_DAYS,
        };
        let recent = |d: &&crate::model::deploy::DeploymentRecord| {
            d.created_ms / 1000 + STATUS_DAYS * SECS_PER_DAY >= now
        };
        let mut first_build = std::collections::BTreeMap::new();
        // Anyone may ask `/status`: the reads it costs are bounded (lead time from the latest
        // pull requests only).
        let mut prs: Vec<_> = history.iter().filter(recent).filter_map(|d| d.pr).collect();
        prs.dedup();
        let skip = prs.len().saturating_sub(STATUS_PULL_REQUESTS);
        for pr in prs.into_iter().skip(skip) {
            if let std::collections::btree_map::Entry::Vacant(slot) = first_build.entry(pr) {
                slot.insert(self.first_build_of(forge, repo, pr).await?);
            }
        }
        Ok(dora(
            history,
            |d| d.pr.and_then(|pr| first_build.get(&pr).copied().flatten()),
            window,
        ))
    }

    pub(super) async fn handle_comment(
        &self,
        queued: &QueuedEvent,
        forge: &dyn Forge,
        repo: &Repo,
    ) -> Result<(), PipelineError> {
        let EventKind::Comment {
            action: CommentAction::Created,
            pr,
            comment,
            ..
        } = &queued.event.kind
        else {
            return Ok(());
        };
        let Some(body) = comment
            .body
            .as_deref()
            .filter(|b| command::may_hold_command(b))
        else {
            return Ok(());
        };
        if comment.author.is_bot
            || comment.author.login.as_deref() == Some(forge.bot_login().await?.as_str())
        {
            return Ok(());
        }
        let facts = forge.pull_request(repo, *pr).await?;
        let InForce {
            loaded,
            policy_changed,
        } = repo_config::in_force(forge, repo, &facts.head_sha).await?;
        let config = match &loaded {
            Loaded::Absent => return Ok(()), // Slipway is silent where it is not configured
            Loaded::Broken(error) => {
                if !command::parse(body, "/", &[]).commands.is_empty() {
                    forge
                        .create_comment(
                            repo,
                            *pr,
                            &render::config_broken_for_commands(&error.to_string()),
                        )
                        .await?;
                }
                return Ok(());
            }
            Loaded::Valid(config) => config,
        };
        let environments: Vec<&str> = config.environments.keys().map(String::as_str).collect();
        let parsed = command::parse(body, &config.commands.prefix, &environments);
        if parsed.commands.is_empty() {
            return Ok(());
        }
        forge
            .add_reaction(repo, *pr, comment_id(comment), Reaction::Eyes)
            .await?;
        let mut ctx = Context {
            queued,
            forge,
            repo,
            pr: *pr,
            comment,
            facts,
            config,
            policy_changed,
            permission: None,
        };
        let (mut replies, mut refused) = (Vec::new(), false);
        for parsed in parsed.commands {
            let done = match parsed {
                Ok(command) => self.run_command(&mut ctx, command).await?,
                Err(error) => Done::Refused(error.to_string() + "\n\n" + &render::help(config)),
            };
            match done {
                Done::Quietly => {}
                Done::Reply(text) => replies.push(text),
                Done::Refused(text) => {
                    refused = true;
                    replies.push(text);
                }
                Done::Failed => refused = true,
            }
        }
        if parsed.truncated {
            replies.push(render::too_many_commands(MAX_COMMANDS));
        }
        if !replies.is_empty() {
            forge
                .create_comment(repo, *pr, &replies.join("\n\n---\n\n"))
                .await?;
        }
        let last = if refused {
            Reaction::Confused
        } else {
            Reaction::Rocket
        };
        forge
            .add_reaction(repo, *pr, comment_id(comment), last)
            .await?;
        Ok(())
    }

    async fn run_command(
        &self,
        ctx: &mut Context<'_>,
        command: Command,
    ) -> Result<Done, PipelineError> {
        if let Some(refusal) = ctx.authorize(&command).await? {
            return Ok(refusal);
        }
        match command {
            Command::Help => Ok(Done::Reply(render::help(ctx.config))),
            Command::Status => {
                let forge = ctx.queued.event.forge;
                let runs = self.state.runs_for_pr(forge, &ctx.repo.id, ctx.pr).await?;
                let builds: Vec<_> = runs
                    .into_iter()
                    .filter(|r| r.deployment.is_none())
                    .collect();
                let mut deployments = Vec::new();
                let mut delivery = Vec::new();
                for name in ctx.config.environments.keys() {
                    let history = self.state.deployments(forge, &ctx.repo.id, name).await?;
                    delivery.push((
                        name.clone(),
                        self.delivery(forge, &ctx.repo.id, &history).await?,
                    ));
                    deployments.extend(history.into_iter().filter(|d| d.pr == Some(ctx.pr)));
                }
                deployments.sort_by_key(|d| d.created_ms);
                let mut reply = render::status(&builds, &deployments);
                reply.push_str(&render::delivery_summary(STATUS_DAYS, &delivery));
                Ok(Done::Reply(reply))
            }
            Command::Build => {
                let permission = ctx.permission().await?;
                let trusted = self
                    .state
                    .trusted_sha(ctx.queued.event.forge, &ctx.repo.id, ctx.pr)
                    .await?;
                let head = &ctx.facts.head_sha;
                if !policy::may_build(
                    ctx.facts.from_fork,
                    Some(permission),
                    trusted.as_ref(),
                    head,
                ) {
                    return Ok(Done::Refused(render::refused_untrusted_fork()));
                }
                if ctx.facts.from_fork && !self.runner.sandboxed() {
                    return Ok(Done::Refused(render::unsandboxed_fork_summary()));
                }
                self.build_head(ctx).await?;
                Ok(Done::Quietly)
            }
            Command::OkToTest { sha } => {
                if ctx.facts.from_fork && !self.runner.sandboxed() {
                    return Ok(Done::Refused(render::unsandboxed_fork_summary()));
                }
                let head = ctx.facts.head_sha.clone();
                let forge = ctx.queued.event.forge;
                let seen = self
                    .state
                    .head_seen_at(forge, &ctx.repo.id, ctx.pr, &head)
                    .await?;
                let written = ctx.queued.received_at;
                if let Err(refusal) = policy::ok_to_test(&head, sha.as_deref(), seen, written) {
                    return Ok(Done::Refused(render::ok_to_test_refused(&refusal, &head)));
                }
                self.state
                    .set_trusted_sha(forge, &ctx.repo.id, ctx.pr, &head)
                    .await?;
                self.build_head(ctx).await?;
                Ok(Done::Reply(render::ok_to_test_recorded(head.as_str())))
            }
            Command::Cancel => {
                let mut cancelled = 0;
                for run in self
                    .state
                    .runs_for_pr(ctx.queued.event.forge, &ctx.repo.id, ctx.pr)
                    .await?
                {
                    if !run.status.is_finished() {
                        self.cancel(ctx.forge, run, CancelReason::Requested, None)
                            .await?;
                        cancelled += 1;
                    }
                }
                Ok(Done::Reply(render::cancelled_builds(cancelled)))
            }
            Command::Deploy { environment } => self.deploy_command(ctx, &environment, None).await,
            Command::Rollback { environment, sha } => {
                self.deploy_command(ctx, &environment, Some(sha)).await
            }
        }
    }

    /// `/deploy <env>` (`rollback` None) or `/rollback <env> [sha]`.
    async fn deploy_command(
        &self,
        ctx: &mut Context<'_>,
        name: &str,
        rollback: Option<Option<String>>,
    ) -> Result<Done, PipelineError> {
        let Some(environment) = ctx.config.environments.get(name) else {
            return Ok(Done::Refused(render::deploy_refused(
                name,
                &Refusal::UnknownEnvironment,
            )));
        };
        let forge_kind = ctx.queued.event.forge;
        let head = ctx.facts.head_sha.clone();
        // The commit's green build if it has one (a later cancelled rerun does not undo it),
        // else its latest build.
        let builds: Vec<_> = self
            .state
            .runs_for_pr(forge_kind, &ctx.repo.id, ctx.pr)
            .await?
            .into_iter()
            .filter(|r| r.sha == head && r.deployment.is_none())
            .collect();
        let green = builds
            .iter()
            .rev()
            .find(|r| r.status == crate::model::status::RunStatus::Succeeded);
        let latest = green.or(builds.last()).cloned();
        let (approvals, changes_requested) = ctx.counted_reviews(environment).await?;
        let facts = DeployFacts {
            requester: Requester::Person {
                permission: ctx.permission().await?,
                from_fork: ctx.facts.from_fork,
            },
            kind: match rollback {
                None => DeployKind::Deploy,
                Some(_) => DeployKind::Rollback,
            },
            build: latest.as_ref().map(|r| r.status),
            approvals,
            changes_requested,
        };
        if let Err(refusal) = policy::authorize_deploy(environment, &facts) {
            return Ok(Done::Refused(render::deploy_refused(name, &refusal)));
        }
        let actor = ctx
            .comment
            .author
            .login
            .clone()
            .unwrap_or_else(|| ctx.comment.author.id.to_string());
        let request = match rollback {
            None => {
                let Some(build) = latest else {
                    return Ok(Done::Refused(render::deploy_refused(
                        name,
                        &Refusal::NotBuilt,
                    )));
                };
                DeployRequest {
                    environment: name.to_owned(),
                    kind: DeployKind::Deploy,
                    sha: head,
                    git_ref: ctx.facts.head_branch.clone(),
                    artifacts_manifest: self.manifest_key(&build),
                    image: build.image,
                    actor,
                    pr: Some(ctx.pr),
                    key: ctx.queued.delivery.0.clone(),
                }
            }
            Some(sha) => {
                let history = self
                    .state
                    .deployments(forge_kind, &ctx.repo.id, name)
                    .await?;
                let Some(target) = deploy::rollback_target(&history, sha.as_deref()) else {
                    return Ok(Done::Refused(render::deploy_refused(
                        name,
                        &Refusal::NothingToRollBackTo,
                    )));
                };
                DeployRequest {
                    environment: name.to_owned(),
                    kind: DeployKind::Rollback,
                    sha: target.sha.clone(),
                    git_ref: target.git_ref.clone(),
                    image: target.image.clone(),
                    artifacts_manifest: target.artifacts_manifest.clone(),
                    actor,
                    pr: Some(ctx.pr),
                    key: ctx.queued.delivery.0.clone(),
                }
            }
        };
        let installation = ctx.queued.event.installation_id;
        match self
            .deploy(ctx.forge, ctx.repo, installation, environment, request)
            .await?
        {
            Started::Locked(holder) => Ok(Done::Refused(render::deploy_refused(
                name,
                &Refusal::Locked { holder },
            ))),
            Started::Running(_) => Ok(Done::Quietly),
            Started::Done(record) if record.status == DeployStatus::Succeeded => Ok(Done::Quietly),
            Started::Done(_) => Ok(Done::Failed),
        }
    }

    async fn build_head(&self, ctx: &Context<'_>) -> Result<(), PipelineError> {
        let target = BuildTarget {
            sha: ctx.facts.head_sha.clone(),
            git_ref: ctx.facts.head_branch.clone(),
            pr: Some(ctx.pr),
            trigger: Trigger::Command,
        };
        self.start_build(
            ctx.queued,
            ctx.forge,
            ctx.repo,
            ctx.config,
            target,
            ctx.policy_changed,
        )
        .await
    }
}

fn comment_id(comment: &Comment) -> crate::model::forge::CommentId {
    crate::model::forge::CommentId(comment.id)
}
