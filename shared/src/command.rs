//! ChatOps: the commands in a pull request comment. Pure: text in, commands (or typed errors,
//! each with the reply a user sees) out.
//!
//! A command is a line of its own, starting with the prefix (`/` by default), in plain text:
//! lines in code (fenced, indented or inline), block quotes, links, list items, headings, tables
//! and HTML (comments included: hidden text never acts) are not read. Command words are
//! case-insensitive. Unknown `/words` are left to other bots; the namespaced form
//! `/slipway <command>` always works and an unknown namespaced command gets the help.

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

/// Longest comment read for commands.
pub const MAX_COMMENT_BYTES: usize = crate::model::event::MAX_COMMENT_BYTES;
/// At most this many commands of one comment are acted on.
pub const MAX_COMMANDS: usize = 10;
/// The namespace that always reaches Slipway, whatever the configured prefix.
pub const NAMESPACE: &str = "/slipway";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Build,
    Deploy {
        environment: String,
    },
    Rollback {
        environment: String,
        sha: Option<String>,
    },
    Cancel,
    Status,
    Help,
    /// Trust a fork pull request's head: the one named, or the head Slipway had seen when the
    /// comment was written.
    OkToTest {
        sha: Option<String>,
    },
}

/// Who may run a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Anyone,
    AuthorOrWrite,
    Write,
    EnvironmentAllow,
}

/// One entry of the help, tied to the command enum so it cannot drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandInfo {
    pub usage: &'static str,
    pub summary: &'static str,
    pub who: Who,
}

impl Command {
    pub const HELP: [CommandInfo; 7] = [
        CommandInfo {
            usage: "build",
            summary: "rebuild the head commit (alias: retest)",
            who: Who::AuthorOrWrite,
        },
        CommandInfo {
            usage: "deploy <environment>",
            summary: "deploy the head commit's build to an environment",
            who: Who::EnvironmentAllow,
        },
        CommandInfo {
            usage: "rollback <environment> [sha]",
            summary: "redeploy the previous (or the given) successful deployment",
            who: Who::EnvironmentAllow,
        },
        CommandInfo {
            usage: "cancel",
            summary: "cancel this pull request's running builds",
            who: Who::AuthorOrWrite,
        },
        CommandInfo {
            usage: "status",
            summary: "show builds, artifacts and deployments of this pull request",
            who: Who::Anyone,
        },
        CommandInfo {
            usage: "help",
            summary: "show this help",
            who: Who::Anyone,
        },
        CommandInfo {
            usage: "ok-to-test [sha]",
            summary:
                "trust this fork pull request's head (as you saw it, or the one named) for builds",
            who: Who::Write,
        },
    ];

    pub fn info(&self) -> &'static CommandInfo {
        let i = match self {
            Command::Build => 0,
            Command::Deploy { .. } => 1,
            Command::Rollback { .. } => 2,
            Command::Cancel => 3,
            Command::Status => 4,
            Command::Help => 5,
            Command::OkToTest { .. } => 6,
        };
        &Self::HELP[i]
    }
}

/// Why a command line was refused. The reply each gets is in `render`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// `/slipway <word>` with a word that is no command.
    Unknown {
        word: String,
    },
    MissingEnvironment {
        command: &'static str,
    },
    UnknownEnvironment {
        given: String,
        known: Vec<String>,
    },
    UnexpectedArguments {
        command: &'static str,
        extra: String,
    },
    InvalidSha {
        given: String,
    },
}

/// The commands of one comment, in order, at most [`MAX_COMMANDS`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Commands {
    pub commands: Vec<Result<Command, CommandError>>,
    /// More command lines followed and were not read.
    pub truncated: bool,
}

/// Read the commands in `body`. `environments` are the names the configuration defines.
pub fn parse(body: &str, prefix: &str, environments: &[&str]) -> Commands {
    let mut out = Commands::default();
    if body.len() > MAX_COMMENT_BYTES {
        return out;
    }
    let body = body.replace("\r\n", "\n").replace('\r', "\n");
    for line in command_lines(&body) {
        if let Some(parsed) = parse_line(line, prefix, environments) {
            if out.commands.len() == MAX_COMMANDS {
                out.truncated = true;
                break;
            }
            out.commands.push(parsed);
        }
    }
    out
}

/// Whether `body` could hold a command under any prefix a configuration may choose (one to
/// three symbols): decided from the text alone, before any forge call, so that ordinary
/// discussion (lists, quotes, headings, code) costs no API request and no configuration read.
pub fn may_hold_command(body: &str) -> bool {
    if body.len() > MAX_COMMENT_BYTES {
        return false;
    }
    let body = body.replace("\r\n", "\n").replace('\r', "\n");
    command_lines(&body).into_iter().any(|line| {
        let Some(first) = line.split_whitespace().next() else {
            return false;
        };
        if first.eq_ignore_ascii_case(NAMESPACE) {
            return true;
        }
        let word = first.trim_start_matches(|c: char| !c.is_alphanumeric());
        let prefix_len = first.chars().count() - word.chars().count();
        (1..=MAX_PREFIX_CHARS).contains(&prefix_len)
            && COMMAND_WORDS.iter().any(|w| w.eq_ignore_ascii_case(word))
    })
}

/// Every word `parse_line` takes as a command (after the prefix).
const COMMAND_WORDS: [&str; 8] = [
    "build",
    "retest",
    "cancel",
    "status",
    "help",
    "ok-to-test",
    "deploy",
    "rollback",
];

/// The longest `commands.prefix` a configuration may set (`config.rs` checks it).
pub const MAX_PREFIX_CHARS: usize = 3;

/// The lines that begin with plain paragraph text: only those can hold a command.
fn command_lines(body: &str) -> Vec<&str> {
    let mut excluded = 0usize; // depth inside constructs whose text never holds commands
    let mut lines: Vec<(usize, &str)> = Vec::new();
    for (event, range) in Parser::new(body).into_offset_iter() {
        match event {
            Event::Start(tag) if excludes(&tag) => excluded += 1,
            Event::End(tag) if excludes_end(&tag) => excluded = excluded.saturating_sub(1),
            Event::Text(_) if excluded == 0 => {
                let line_start = body[..range.start].rfind('\n').map_or(0, |i| i + 1);
                if !body[line_start..range.start].trim().is_empty() {
                    continue; // text in the middle of a line
                }
                let line_end = body[range.start..]
                    .find('\n')
                    .map_or(body.len(), |i| range.start + i);
                if lines.last().map(|(s, _)| *s) != Some(line_start) {
                    lines.push((line_start, &body[line_start..line_end]));
                }
            }
            _ => {}
        }
    }
    lines.into_iter().map(|(_, line)| line).collect()
}

fn excludes(tag: &Tag) -> bool {
    !matches!(
        tag,
        Tag::Paragraph | Tag::Emphasis | Tag::Strong | Tag::Strikethrough
    )
}

fn excludes_end(tag: &TagEnd) -> bool {
    !matches!(
        tag,
        TagEnd::Paragraph | TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough
    )
}

/// `None`: not a command for Slipway. `Some(Err)`: ours, but wrong.
fn parse_line(
    line: &str,
    prefix: &str,
    environments: &[&str],
) -> Option<Result<Command, CommandError>> {
    let line = line.trim();
    let mut words = line.split_whitespace();
    let first = words.next()?;
    let (word, namespaced) = if first.eq_ignore_ascii_case(NAMESPACE) {
        match words.next() {
            Some(word) => (word, true),
            None => return Some(Ok(Command::Help)),
        }
    } else {
        let word = strip_prefix_ignore_case(first, prefix)?;
        if word.is_empty() {
            return None;
        }
        (word, false)
    };
    let args: Vec<&str> = words.collect();
    let command = match word.to_ascii_lowercase().as_str() {
        "build" | "retest" => no_args(Command::Build, "build", &args),
        "cancel" => no_args(Command::Cancel, "cancel", &args),
        "status" => no_args(Command::Status, "status", &args),
        "help" => no_args(Command::Help, "help", &args),
        "ok-to-test" => match args.as_slice() {
            [] => Ok(Command::OkToTest { sha: None }),
            [sha] if is_short_sha(sha) => Ok(Command::OkToTest {
                sha: Some(sha.to_ascii_lowercase()),
            }),
            [sha] => Err(CommandError::InvalidSha {
                given: (*sha).to_owned(),
            }),
            [_, extra @ ..] => Err(CommandError::UnexpectedArguments {
                command: "ok-to-test",
                extra: extra.join(" "),
            }),
        },
        "deploy" => {
            environment(&args, "deploy", environments).and_then(|(environment, rest)| match rest {
                [] => Ok(Command::Deploy { environment }),
                extra => Err(CommandError::UnexpectedArguments {
                    command: "deploy",
                    extra: extra.join(" "),
                }),
            })
        }
        "rollback" => environment(&args, "rollback", environments).and_then(
            |(environment, rest)| match rest {
                [] => Ok(Command::Rollback {
                    environment,
                    sha: None,
                }),
                [sha] if is_short_sha(sha) => Ok(Command::Rollback {
                    environment,
                    sha: Some(sha.to_ascii_lowercase()),
                }),
                [sha] => Err(CommandError::InvalidSha {
                    given: (*sha).to_owned(),
                }),
                [_, extra @ ..] => Err(CommandError::UnexpectedArguments {
                    command: "rollback",
                    extra: extra.join(" "),
                }),
            },
        ),
        _ if namespaced => Err(CommandError::Unknown {
            word: word.to_owned(),
        }),
        _ => return None, // another bot's command
    };
    Some(command)
}

fn strip_prefix_ignore_case<'a>(word: &'a str, prefix: &str) -> Option<&'a str> {
    let head = word.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &word[prefix.len()..])
}

fn no_args(command: Command, name: &'static str, args: &[&str]) -> Result<Command, CommandError> {
    if args.is_empty() {
        Ok(command)
    } else {
        Err(CommandError::UnexpectedArguments {
            command: name,
            extra: args.join(" "),
        })
    }
}

fn environment<'a>(
    args: &'a [&'a str],
    command: &'static str,
    known: &[&str],
) -> Result<(String, &'a [&'a str]), CommandError> {
    let (given, rest) = args
        .split_first()
        .ok_or(CommandError::MissingEnvironment { command })?;
    match known.iter().find(|k| k.eq_ignore_ascii_case(given)) {
        Some(name) => Ok(((*name).to_owned(), rest)),
        None => Err(CommandError::UnknownEnvironment {
            given: (*given).to_owned(),
            known: known.iter().map(|k| (*k).to_owned()).collect(),
        }),
    }
}

fn is_short_sha(s: &str) -> bool {
    (7..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests;
