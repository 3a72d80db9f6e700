use super::*;

const ENVS: &[&str] = &["staging", "production"];

fn cmds(body: &str) -> Vec<Result<Command, CommandError>> {
    parse(body, "/", ENVS).commands
}

fn deploy(env: &str) -> Result<Command, CommandError> {
    Ok(Command::Deploy {
        environment: env.into(),
    })
}

fn rollback(env: &str, sha: Option<&str>) -> Result<Command, CommandError> {
    Ok(Command::Rollback {
        environment: env.into(),
        sha: sha.map(Into::into),
    })
}

fn unknown_env(given: &str) -> Result<Command, CommandError> {
    Err(CommandError::UnknownEnvironment {
        given: given.into(),
        known: ENVS.iter().map(|e| e.to_string()).collect(),
    })
}

fn extra(command: &'static str, extra: &str) -> Result<Command, CommandError> {
    Err(CommandError::UnexpectedArguments {
        command,
        extra: extra.into(),
    })
}

#[test]
fn the_table() {
    use Command::*;
    let cases: Vec<(&str, Vec<Result<Command, CommandError>>)> = vec![
        // Nothing to read.
        ("", vec![]),
        ("   \n\n  ", vec![]),
        ("Looks good to me!", vec![]),
        ("Please run /build when you can.", vec![]),
        ("I ran / build yesterday", vec![]),
        ("/", vec![]),
        ("//build", vec![]),
        // Each command.
        ("/build", vec![Ok(Build)]),
        ("/retest", vec![Ok(Build)]),
        ("/cancel", vec![Ok(Cancel)]),
        ("/status", vec![Ok(Status)]),
        ("/help", vec![Ok(Help)]),
        ("/ok-to-test", vec![Ok(OkToTest { sha: None })]),
        (
            "/ok-to-test ABCDEF1",
            vec![Ok(OkToTest {
                sha: Some("abcdef1".into()),
            })],
        ),
        (
            "/ok-to-test main",
            vec![Err(CommandError::InvalidSha {
                given: "main".into(),
            })],
        ),
        ("/deploy staging", vec![deploy("staging")]),
        ("/rollback production", vec![rollback("production", None)]),
        (
            "/rollback production abc1234",
            vec![rollback("production", Some("abc1234"))],
        ),
        (
            "/rollback production ABC1234DEF",
            vec![rollback("production", Some("abc1234def"))],
        ),
        (
            &*Box::leak(format!("/rollback staging {}", "a".repeat(40)).into_boxed_str()),
            vec![rollback("staging", Some(&"a".repeat(40)))],
        ),
        // Case, spacing, line endings.
        ("/BUILD", vec![Ok(Build)]),
        ("/Deploy Staging", vec![deploy("staging")]),
        ("/build   ", vec![Ok(Build)]),
        ("   /build", vec![Ok(Build)]),
        ("/deploy    staging   ", vec![deploy("staging")]),
        ("/build\r\n/status\r\n", vec![Ok(Build), Ok(Status)]),
        ("/build\r/status", vec![Ok(Build), Ok(Status)]),
        ("\t/build", vec![]), // a tab indents a code block
        // Several commands, and prose around them.
        ("/build\n/status", vec![Ok(Build), Ok(Status)]),
        (
            "Thanks!\n\n/deploy staging\n\nCheers",
            vec![deploy("staging")],
        ),
        ("First line\n/build", vec![Ok(Build)]),
        ("/build\nand then some words", vec![Ok(Build)]),
        ("/build /status", vec![extra("build", "/status")]),
        ("**/build**", vec![]),
        ("*/build*", vec![]),
        // Not commands: code, quotes, links, lists, headings, tables, HTML.
        ("```\n/build\n```", vec![]),
        ("~~~\n/build\n~~~", vec![]),
        ("    /build", vec![]),
        ("`/build`", vec![]),
        ("Run `/build` please", vec![]),
        ("> /build", vec![]),
        (">/build", vec![]),
        ("> quoted\n> /deploy production", vec![]),
        ("[/build](https://example.com)", vec![]),
        ("<https://x.example/build>", vec![]),
        ("- /build", vec![]),
        ("1. /build", vec![]),
        ("# /build", vec![]),
        ("| /build |\n|---|\n| x |", vec![]),
        ("<!-- /build -->", vec![]),
        ("<!--\n/build\n-->", vec![]),
        ("<div>\n/build\n</div>", vec![]),
        ("\\/build", vec![]),
        ("```\n/build", vec![]), // an unclosed fence runs to the end
        ("```rust\nfn main() {}\n```\n/build", vec![Ok(Build)]),
        // Look-alikes are not the prefix.
        ("∕build", vec![]),
        ("／build", vec![]),
        ("⁄build", vec![]),
        // Other bots' commands are theirs.
        ("/assign @me", vec![]),
        ("/lgtm", vec![]),
        ("/builds", vec![]),
        ("/build:", vec![]),
        ("/deploying staging", vec![]),
        // The namespace.
        ("/slipway build", vec![Ok(Build)]),
        ("/SLIPWAY Deploy staging", vec![deploy("staging")]),
        ("/slipway", vec![Ok(Help)]),
        (
            "/slipway nope",
            vec![Err(CommandError::Unknown {
                word: "nope".into(),
            })],
        ),
        (
            "/slipway assign",
            vec![Err(CommandError::Unknown {
                word: "assign".into(),
            })],
        ),
        // Arguments are checked strictly.
        (
            "/deploy",
            vec![Err(CommandError::MissingEnvironment { command: "deploy" })],
        ),
        (
            "/rollback",
            vec![Err(CommandError::MissingEnvironment {
                command: "rollback",
            })],
        ),
        ("/deploy qa", vec![unknown_env("qa")]),
        ("/deploy staging;rm -rf /", vec![unknown_env("staging;rm")]),
        ("/deploy $(reboot)", vec![unknown_env("$(reboot)")]),
        (
            "/deploy staging production",
            vec![extra("deploy", "production")],
        ),
        ("/deploy staging --force", vec![extra("deploy", "--force")]),
        ("/rollback prod abc", vec![unknown_env("prod")]),
        (
            "/rollback production abc",
            vec![Err(CommandError::InvalidSha {
                given: "abc".into(),
            })],
        ),
        (
            "/rollback production xyz1234",
            vec![Err(CommandError::InvalidSha {
                given: "xyz1234".into(),
            })],
        ),
        (
            &*Box::leak(format!("/rollback production {}", "a".repeat(41)).into_boxed_str()),
            vec![Err(CommandError::InvalidSha {
                given: "a".repeat(41),
            })],
        ),
        (
            "/rollback production abc1234 now",
            vec![extra("rollback", "now")],
        ),
        ("/build now", vec![extra("build", "now")]),
        ("/help me", vec![extra("help", "me")]),
        (
            "/ok-to-test please",
            vec![Err(CommandError::InvalidSha {
                given: "please".into(),
            })],
        ),
        ("/ok-to-test abcdef1 now", vec![extra("ok-to-test", "now")]),
    ];
    assert!(cases.len() >= 60, "{} cases", cases.len());
    for (body, expected) in cases {
        assert_eq!(cmds(body), expected, "{body:?}");
    }
}

#[test]
fn at_most_ten_commands_are_read() {
    let body = "/status\n".repeat(12);
    let parsed = parse(&body, "/", ENVS);
    assert_eq!(parsed.commands.len(), MAX_COMMANDS);
    assert!(parsed.truncated);
    let ten = parse(&"/status\n".repeat(10), "/", ENVS);
    assert!(!ten.truncated);
}

#[test]
fn an_oversized_comment_is_not_read() {
    let body = format!("/build\n{}", "x".repeat(MAX_COMMENT_BYTES));
    assert_eq!(parse(&body, "/", ENVS), Commands::default());
}

#[test]
fn a_configured_prefix_replaces_the_slash_but_the_namespace_always_works() {
    assert_eq!(parse("!build", "!", ENVS).commands, [Ok(Command::Build)]);
    assert_eq!(parse("/build", "!", ENVS).commands, []);
    assert_eq!(
        parse("/slipway build", "!", ENVS).commands,
        [Ok(Command::Build)]
    );
    assert_eq!(
        parse("!!deploy staging", "!!", ENVS).commands,
        [deploy("staging")]
    );
}

#[test]
fn no_environments_means_every_deploy_names_an_unknown_one() {
    let parsed = parse("/deploy staging", "/", &[]);
    assert_eq!(
        parsed.commands,
        [Err(CommandError::UnknownEnvironment {
            given: "staging".into(),
            known: vec![]
        })]
    );
}

#[test]
fn help_covers_every_command() {
    let all = [
        Command::Build,
        Command::Deploy {
            environment: "x".into(),
        },
        Command::Rollback {
            environment: "x".into(),
            sha: None,
        },
        Command::Cancel,
        Command::Status,
        Command::Help,
        Command::OkToTest { sha: None },
    ];
    let usages: Vec<&str> = all.iter().map(|c| c.info().usage).collect();
    let help: Vec<&str> = Command::HELP.iter().map(|i| i.usage).collect();
    assert_eq!(usages, help, "each command has its own help entry");
}

#[test]
fn comments_are_screened_for_commands_from_their_text_alone() {
    let cases: &[(&str, bool)] = &[
        ("/deploy staging", true),
        ("  /BUILD", true),
        ("!!rollback production", true),
        ("Looks good.\n\n/ok-to-test", true),
        ("/slipway deploy staging", true),
        ("/slipway", true),
        ("LGTM", false),
        ("- first point\n- second point", false),
        ("> quoted text\n\nreply", false),
        ("> /deploy production", false),
        ("```\n/deploy production\n```", false),
        ("    /deploy production", false),
        ("# Heading\n\n* bullet", false),
        ("/lgtm", false),
        ("////deploy staging", false),
        ("please /deploy staging", false),
        ("", false),
    ];
    for (body, expected) in cases {
        assert_eq!(may_hold_command(body), *expected, "{body:?}");
    }
    let oversized = "/deploy staging\n".repeat(MAX_COMMENT_BYTES / 8);
    assert!(!may_hold_command(&oversized));
}

#[test]
fn whatever_parses_as_a_command_passes_the_screen() {
    let bodies = [
        "/deploy staging",
        "/retest",
        "%%help",
        "/slipway status",
        "/ok-to-test abc1234",
        "/rollback production abc1234",
        "/deploy nowhere",
    ];
    for prefix in ["/", "%%", "!!!"] {
        for body in bodies {
            let body = body
                .replacen('/', prefix, 1)
                .replace("%%help", &format!("{prefix}help"));
            let parsed = parse(&body, prefix, ENVS);
            if !parsed.commands.is_empty() {
                assert!(
                    may_hold_command(&body),
                    "{body:?} parsed but was screened out"
                );
            }
        }
    }
}
