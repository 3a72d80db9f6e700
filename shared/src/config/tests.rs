use super::*;

const FULL: &str = r#"version: 1
build:
  steps:
    - name: test
      run: cargo test
    - run: ./package.sh
  timeout: 15m
  env: { RUST_LOG: info }
  artifacts:
    - dist/*.tar.gz
    - { path: "reports/*.xml", optional: true }
  drafts: false
environments:
  staging:
    auto_deploy: main
    url: https://staging.example.com
  production:
    allow: maintain
    require: [build_green, approved]
    steps:
      - run: ./deploy.sh "$SLIPWAY_IMAGE_DIGEST"
commands:
  prefix: "!"
"#;

fn error(text: &str) -> ConfigError {
    parse(".slipway.yml", text).unwrap_err()
}

#[test]
fn a_full_config_parses_with_every_field() {
    let config = parse(".slipway.yml", FULL).unwrap();
    assert_eq!(config.build.steps.len(), 2);
    assert_eq!(
        config.build.steps[0],
        Step {
            name: "test".into(),
            run: "cargo test".into()
        }
    );
    assert_eq!(
        config.build.steps[1].name, "./package.sh",
        "a step without a name is named by its command"
    );
    assert_eq!(config.build.timeout, Duration::from_secs(900));
    assert_eq!(config.build.env["RUST_LOG"], "info");
    let patterns: Vec<(&str, bool)> = config
        .build
        .artifacts
        .iter()
        .map(|a| (a.pattern.as_str(), a.optional))
        .collect();
    assert_eq!(
        patterns,
        [("dist/*.tar.gz", false), ("reports/*.xml", true)]
    );
    assert!(!config.build.drafts);
    let staging = &config.environments["staging"];
    assert_eq!(staging.auto_deploy.as_deref(), Some("main"));
    assert_eq!(staging.allow, Permission::Write, "default");
    let production = &config.environments["production"];
    assert_eq!(production.allow, Permission::Maintain);
    assert_eq!(
        production.require,
        [Requirement::BuildGreen, Requirement::Approved]
    );
    assert_eq!(production.steps.len(), 1);
    assert_eq!(config.commands.prefix, "!");
}

#[test]
fn defaults_for_a_minimal_config() {
    let config = parse("f", "version: 1\nbuild:\n  steps:\n    - run: make\n").unwrap();
    assert_eq!(config.build.timeout, DEFAULT_TIMEOUT);
    assert!(config.build.drafts);
    assert!(config.build.artifacts.is_empty());
    assert!(config.environments.is_empty());
    assert_eq!(config.commands.prefix, "/");
}

#[test]
fn unknown_keys_are_errors_with_a_position() {
    let e = error("version: 1\nbuild:\n  steps:\n    - run: make\n  timout: 5m\n");
    assert_eq!((e.line, e.file.as_str()), (5, ".slipway.yml"), "{e}");
    assert!(e.message.contains("timout"), "{e}");
    assert!(
        e.message.starts_with("unknown field"),
        "the position is said once: {e}"
    );
    let e = error("version: 1\nbuild:\n  steps:\n    - run: make\n      shell: bash\n");
    assert_eq!(e.line, 5, "{e}");
    let e = error("version: 1\nbuild:\n  steps: [{run: make}]\nextra: 1\n");
    assert_eq!(e.line, 4, "{e}");
}

#[test]
fn values_are_checked_with_a_position() {
    let cases = [
        ("version: 2\nbuild:\n  steps: [{run: make}]\n", 1, "version 2"),
        ("version: 1\nbuild:\n  steps: []\n", 3, "at least one step"),
        ("version: 1\nbuild:\n  steps:\n    - run: '  '\n", 4, "must not be empty"),
        ("version: 1\nbuild:\n  steps: [{run: make}]\n  timeout: soon\n", 4, "not a duration"),
        ("version: 1\nbuild:\n  steps: [{run: make}]\n  timeout: 9h\n", 4, "between"),
        ("version: 1\nbuild:\n  steps: [{run: make}]\n  env:\n    SLIPWAY_SHA: x\n", 5, "SLIPWAY_"),
        ("version: 1\nbuild:\n  steps: [{run: make}]\n  env:\n    1X: x\n", 5, "letters"),
        ("version: 1\nbuild:\n  steps: [{run: make}]\n  artifacts: [../secret]\n", 4, "without .."),
        ("version: 1\nbuild:\n  steps: [{run: make}]\n  artifacts: [\"dist/[\"]\n", 4, "not a valid glob"),
        ("version: 1\nbuild:\n  steps: [{run: make}]\nenvironments:\n  prod:\n    allow: owner\n", 6, "unknown permission"),
        ("version: 1\nbuild:\n  steps: [{run: make}]\nenvironments:\n  prod:\n    url: ftp://x\n", 6, "https://"),
        ("version: 1\nbuild:\n  steps: [{run: make}]\nenvironments:\n  prod:\n    require: [luck]\n", 6, "luck"),
        ("version: 1\nbuild:\n  steps: [{run: make}]\ncommands:\n  prefix: go\n", 5, "symbols"),
    ];
    for (text, line, needle) in cases {
        let e = error(text);
        assert_eq!(e.line, line, "{text:?} -> {e}");
        assert!(e.message.contains(needle), "{text:?} -> {e}");
        assert!(
            e.to_string().starts_with(&format!(".slipway.yml:{line}:")),
            "{e}"
        );
    }
}

#[test]
fn broken_yaml_never_panics_and_says_where() {
    for text in [
        "",
        "version: 1\nbuild: [",
        ":\n:",
        "version: !!binary x",
        "\u{0}",
        "- - - -",
    ] {
        let e = error(text);
        assert!(!e.message.is_empty(), "{text:?}");
    }
    let e = error("version: 1\nbuild:\n  steps:\n    - run: \"unterminated\n");
    assert!(e.line >= 4, "{e}");
}

#[test]
fn environment_names_are_checked() {
    let e = error(
        "version: 1\nbuild:\n  steps: [{run: make}]\nenvironments:\n  Prod!:\n    url: https://x\n",
    );
    assert!(e.message.contains("environment name"), "{e}");
}
