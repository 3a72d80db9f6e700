//! `.slipway.yml`: the repository's configuration, parsed strictly.
//!
//! Unknown keys are errors; every error names the file, line and column. A missing file means
//! Slipway stays silent in that repository; a broken one fails the check with the error.
//! The reference for every field, with defaults, is `docs/configuration.md`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::model::forge::Permission;
use crate::model::job::Step;

/// Where Slipway looks for the configuration in a repository.
pub const CONFIG_PATH: &str = ".slipway.yml";

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// How long an ECS rollout may take to settle, unless `ecs.wait` says otherwise.
pub const DEFAULT_ECS_WAIT: Duration = Duration::from_secs(10 * 60);
/// The longest `ecs.wait`: an in-place deploy runs inside the dispatch (or report) function,
/// whose timeout is 15 minutes (template.yaml). Waiting longer would have Lambda stop it
/// mid-rollout, before the rollback and the records; 12 minutes leaves them three.
pub const MAX_ECS_WAIT: Duration = Duration::from_secs(12 * 60);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(8 * 3600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub build: Build,
    pub environments: BTreeMap<String, Environment>,
    pub commands: Commands,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub steps: Vec<Step>,
    pub timeout: Duration,
    pub env: BTreeMap<String, String>,
    pub artifacts: Vec<crate::model::artifact::ArtifactPattern>,
    /// Build draft pull requests too (default true).
    pub drafts: bool,
    /// The container image to assemble and push after the steps pass.
    pub image: Option<crate::model::image::ImageSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Every green build of this branch deploys here.
    pub auto_deploy: Option<String>,
    pub url: Option<String>,
    /// Minimum permission to `/deploy` (default write).
    pub allow: Permission,
    pub require: Vec<Requirement>,
    /// What a deploy does besides moving the `env-<name>` tag: at most one of these.
    pub target: Target,
    /// Variables the deploy steps see.
    pub env: BTreeMap<String, String>,
}

/// Where an environment runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Target {
    /// Only the tag and `current.json` (something else watches them).
    #[default]
    TagOnly,
    /// Deploy commands, run by the runner.
    Steps(Vec<Step>),
    /// A container-image Lambda function: new code, a published version, the alias moved.
    Lambda { function: String, alias: String },
    /// An ECS service: a task definition revision with the new image for one container.
    Ecs {
        cluster: String,
        service: String,
        container: String,
        /// How long the rollout may take to settle before the deploy fails and rolls back.
        wait: Duration,
    },
}

impl Target {
    /// Whether applying it changes what runs before the tag moves (Lambda, ECS): a failure after
    /// that leaves the new version running.
    pub fn changes_what_runs(&self) -> bool {
        matches!(self, Target::Lambda { .. } | Target::Ecs { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    BuildGreen,
    Approved,
    NoChangesRequested,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commands {
    pub prefix: String,
}

impl Default for Commands {
    fn default() -> Self {
        Commands { prefix: "/".into() }
    }
}

/// Why a configuration was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

// The file as written. Values that need checking keep their position for the error.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    version: Spanned<u32>,
    build: RawBuild,
    #[serde(default)]
    environments: BTreeMap<String, Spanned<RawEnvironment>>,
    #[serde(default)]
    commands: Option<RawCommands>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    steps: Spanned<Vec<RawStep>>,
    #[serde(default)]
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    artifacts: Vec<Spanned<RawArtifact>>,
    #[serde(default)]
    drafts: Option<bool>,
    #[serde(default)]
    image: Option<image::RawImage>,
}

/// `- dist/*.tar.gz`, or `- { path: "reports/*.xml", optional: true }`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawArtifact {
    Pattern(String),
    Entry {
        path: String,
        #[serde(default)]
        optional: bool,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    name: Option<String>,
    run: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    #[serde(default)]
    auto_deploy: Option<String>,
    #[serde(default)]
    url: Option<Spanned<String>>,
    #[serde(default)]
    allow: Option<Spanned<String>>,
    #[serde(default)]
    require: Vec<Requirement>,
    #[serde(default)]
    steps: Vec<RawStep>,
    #[serde(default)]
    lambda: Option<RawLambda>,
    #[serde(default)]
    ecs: Option<RawEcs>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLambda {
    function: String,
    #[serde(default)]
    alias: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEcs {
    cluster: String,
    service: String,
    container: String,
    #[serde(default)]
    wait: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommands {
    prefix: Spanned<String>,
}

/// Parse and check a configuration; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
    let raw: RawConfig = serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        ConfigError {
            file: file.to_owned(),
            line,
            column,
            message: first_line(&e.to_string()),
        }
    })?;
    let at = |span: &serde_saphyr::Location, message: String| ConfigError {
        file: file.to_owned(),
        line: span.line(),
        column: span.column(),
        message,
    };
    if raw.version.value != 1 {
        return Err(at(
            &raw.version.referenced,
            format!(
                "version {} is not supported; use version: 1",
                raw.version.value
            ),
        ));
    }
    let build = build(raw.build, &at)?;
    let mut environments = BTreeMap::new();
    for (name, env) in raw.environments {
        if !valid_name(&name) {
            let message =
                format!("environment name {name:?} must be lowercase letters, digits, - and _");
            return Err(at(&env.referenced, message));
        }
        environments.insert(name, environment(env.value, &env.referenced, &at)?);
    }
    let commands = match raw.commands {
        None => Commands::default(),
        Some(c) => {
            let prefix = c.prefix.value.trim().to_owned();
            if prefix.is_empty()
                || prefix.chars().count() > crate::command::MAX_PREFIX_CHARS
                || prefix.chars().any(char::is_alphanumeric)
            {
                return Err(at(
                    &c.prefix.referenced,
                    "commands.prefix must be 1 to 3 symbols, like \"/\"".into(),
                ));
            }
            Commands { prefix }
        }
    };
    Ok(Config {
        build,
        environments,
        commands,
    })
}

type At<'a> = &'a dyn Fn(&serde_saphyr::Location, String) -> ConfigError;

fn build(raw: RawBuild, at: At) -> Result<Build, ConfigError> {
    if raw.steps.value.is_empty() {
        return Err(at(
            &raw.steps.referenced,
            "build.steps must list at least one step".into(),
        ));
    }
    let steps = steps(raw.steps.value, "build.steps", at)?;
    let timeout = match raw.timeout {
        None => DEFAULT_TIMEOUT,
        Some(t) => {
            let parsed = humantime::parse_duration(t.value.trim()).map_err(|_| {
                at(
                    &t.referenced,
                    format!(
                        "build.timeout {:?} is not a duration like 20m or 1h30m",
                        t.value
                    ),
                )
            })?;
            if parsed < Duration::from_secs(1) || parsed > MAX_TIMEOUT {
                return Err(at(
                    &t.referenced,
                    "build.timeout must be between 1s and 8h".into(),
                ));
            }
            parsed
        }
    };
    let env = env_map(raw.env, "build.env", at)?;
    let mut artifacts = Vec::new();
    for glob in raw.artifacts {
        let (pattern, optional) = match &glob.value {
            RawArtifact::Pattern(p) => (p.trim(), false),
            RawArtifact::Entry { path, optional } => (path.trim(), *optional),
        };
        if pattern.is_empty() || pattern.starts_with('/') || pattern.split('/').any(|p| p == "..") {
            return Err(at(
                &glob.referenced,
                format!(
                    "artifact pattern {pattern:?} must be relative to the checkout, without .."
                ),
            ));
        }
        if let Err(e) = glob::Pattern::new(pattern) {
            return Err(at(
                &glob.referenced,
                format!("artifact pattern {pattern:?} is not a valid glob: {e}"),
            ));
        }
        artifacts.push(crate::model::artifact::ArtifactPattern {
            pattern: pattern.to_owned(),
            optional,
        });
    }
    Ok(Build {
        steps,
        timeout,
        env,
        artifacts,
        drafts: raw.drafts.unwrap_or(true),
        image: raw.image.map(|i| image::image(i, at)).transpose()?,
    })
}

fn steps(raw: Vec<RawStep>, field: &str, at: At) -> Result<Vec<Step>, ConfigError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, step)| {
            let run = step.run.value.trim().to_owned();
            if run.is_empty() {
                return Err(at(
                    &step.run.referenced,
                    format!("{field}[{i}].run must not be empty"),
                ));
            }
            let name = step
                .name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| run.lines().next().unwrap_or("").chars().take(60).collect());
            Ok(Step { name, run })
        })
        .collect()
}

fn environment(
    raw: RawEnvironment,
    position: &serde_saphyr::Location,
    at: At,
) -> Result<Environment, ConfigError> {
    let allow = match raw.allow {
        None => Permission::Write,
        Some(a) => {
            let allow: Permission = a.value.parse().map_err(|e: String| at(&a.referenced, e))?;
            // Deploy rights below write would hand production to anyone who can comment.
            if allow < Permission::Write {
                let message =
                    format!("allow: {allow} is below write; deploys need write, maintain or admin");
                return Err(at(&a.referenced, message));
            }
            allow
        }
    };
    let url = match raw.url {
        None => None,
        Some(u) if u.value.starts_with("https://") || u.value.starts_with("http://") => {
            Some(u.value)
        }
        Some(u) => {
            return Err(at(
                &u.referenced,
                format!("url {:?} must start with https:// or http://", u.value),
            ))
        }
    };
    let env = env_map(raw.env, "env", at)?;
    let target = match (raw.steps.is_empty(), raw.lambda, raw.ecs) {
        (true, None, None) => Target::TagOnly,
        (false, None, None) => Target::Steps(steps(raw.steps, "steps", at)?),
        (true, Some(l), None) if !l.function.trim().is_empty() => Target::Lambda {
            function: l.function.trim().to_owned(),
            alias: l.alias.unwrap_or_else(|| "live".into()),
        },
        (true, None, Some(e))
            if ![&e.cluster, &e.service, &e.container]
                .iter()
                .any(|v| v.trim().is_empty()) =>
        {
            let wait = match e.wait {
                None => DEFAULT_ECS_WAIT,
                Some(w) => humantime::parse_duration(w.trim())
                    .ok()
                    .filter(|d| *d <= MAX_ECS_WAIT)
                    .ok_or_else(|| {
                        at(
                            position,
                            format!(
                                "ecs.wait {w:?} must be a duration up to 12m, like 10m (a \
                                 deploy runs inside a 15-minute function; longer rollouts \
                                 belong in deploy steps)"
                            ),
                        )
                    })?,
            };
            Target::Ecs {
                cluster: e.cluster,
                service: e.service,
                container: e.container,
                wait,
            }
        }
        (true, Some(_), None) | (true, None, Some(_)) => {
            return Err(at(
                position,
                "lambda.function, ecs.cluster, ecs.service and ecs.container must not be empty"
                    .into(),
            ))
        }
        _ => {
            return Err(at(
                position,
                "an environment deploys with at most one of steps, lambda and ecs".into(),
            ))
        }
    };
    Ok(Environment {
        auto_deploy: raw.auto_deploy,
        url,
        allow,
        require: raw.require,
        target,
        env,
    })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Variables as written, each name checked.
fn env_map(
    raw: BTreeMap<String, Spanned<String>>,
    field: &str,
    at: At,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut env = BTreeMap::new();
    for (key, value) in raw {
        if !valid_env_key(&key) {
            let message = format!("{field} key {key:?} must be letters, digits and _, not starting with a digit or SLIPWAY_");
            return Err(at(&value.referenced, message));
        }
        env.insert(key, value.value);
    }
    Ok(env)
}

fn valid_env_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !key.to_ascii_uppercase().starts_with("SLIPWAY_")
}

/// The parser's message without its own decorations (`error: line 5 column 3: ...`): our
/// error puts the position first, once.
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    let line = line.strip_prefix("error:").unwrap_or(line).trim_start();
    match line.split_once(": ") {
        Some((position, rest))
            if position.starts_with("line ") && position.contains(" column ") =>
        {
            rest.to_owned()
        }
        _ => line.to_owned(),
    }
}

mod image;
#[cfg(test)]
mod tests;
