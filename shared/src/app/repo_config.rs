//! A repository's `.slipway.yml`, read from the forge: at a commit (what to build), and on the
//! default branch (the rules: who may deploy where). `policy` decides how the two combine.

use super::PipelineError;
use crate::config::{self, Config, ConfigError, CONFIG_PATH};
use crate::forge::Forge;
use crate::model::event::{CommitSha, Repo};
use crate::plan::ConfigState;
use crate::policy;

pub(super) enum Loaded {
    Absent,
    Broken(ConfigError),
    Valid(Box<Config>),
}

impl Loaded {
    pub(super) fn state(&self) -> ConfigState<'_> {
        match self {
            Loaded::Absent => ConfigState::Absent,
            Loaded::Broken(e) => ConfigState::Broken(e),
            Loaded::Valid(c) => ConfigState::Valid(c),
        }
    }

    fn valid(self) -> Option<Config> {
        match self {
            Loaded::Valid(config) => Some(*config),
            _ => None,
        }
    }
}

/// The configuration for building `sha`, with the rules in force, and whether the commit asks
/// for other rules (they take effect once merged).
pub(super) struct InForce {
    pub loaded: Loaded,
    pub policy_changed: bool,
}

/// The configuration exactly as committed at `sha`.
pub(super) async fn at_commit(
    forge: &dyn Forge,
    repo: &Repo,
    sha: &CommitSha,
) -> Result<Loaded, PipelineError> {
    let bytes = forge.read_file(repo, sha, CONFIG_PATH).await?;
    Ok(parse(bytes))
}

/// The default branch's configuration: the rules. A broken one grants nothing.
pub(super) async fn policy(
    forge: &dyn Forge,
    repo: &Repo,
) -> Result<Option<Config>, PipelineError> {
    let bytes = forge.read_default_branch_file(repo, CONFIG_PATH).await?;
    let loaded = parse(bytes);
    if let Loaded::Broken(error) = &loaded {
        tracing::warn!(repo = %repo.full_name, %error, "the default branch's configuration is broken; no environments are in force");
    }
    Ok(loaded.valid())
}

/// What to build from `sha`, who may do what from the default branch.
pub(super) async fn in_force(
    forge: &dyn Forge,
    repo: &Repo,
    sha: &CommitSha,
) -> Result<InForce, PipelineError> {
    let commit = match at_commit(forge, repo, sha).await? {
        Loaded::Valid(commit) => *commit,
        other => {
            return Ok(InForce {
                loaded: other,
                policy_changed: false,
            })
        }
    };
    let rules = policy(forge, repo).await?;
    Ok(InForce {
        policy_changed: policy::changes_policy(&commit, rules.as_ref()),
        loaded: Loaded::Valid(Box::new(policy::in_force(commit, rules.as_ref()))),
    })
}

fn parse(bytes: Option<Vec<u8>>) -> Loaded {
    let Some(bytes) = bytes else {
        return Loaded::Absent;
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return Loaded::Broken(ConfigError {
            file: CONFIG_PATH.into(),
            line: 0,
            column: 0,
            message: "the file is not UTF-8 text".into(),
        });
    };
    match config::parse(CONFIG_PATH, &text) {
        Ok(config) => Loaded::Valid(Box::new(config)),
        Err(error) => Loaded::Broken(error),
    }
}
