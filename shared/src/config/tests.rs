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
    assert!(matches!(&production.target, Target::Steps(steps) if steps.len() == 1));
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
        ("version: 1\nbuild:\n  steps: [{run: make}]\nenvironments:\n  prod:\n    allow: read\n", 6, "below write"),
        ("version: 1\nbuild:\n  steps: [{run: make}]\nenvironments:\n  prod:\n    allow: none\n", 6, "below write"),
        ("version: 1\nbuild:\n  steps: [{run: make}]\nenvironments:\n  prod:\n    allow: triage\n", 6, "below write"),
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

const WITH_IMAGE: &str = r#"version: 1
build:
  steps: [{run: make}]
  image:
    repository: team/hello-service
    base: 127.0.0.1:5000/library/busybox:1.36
    platform: linux/arm64/v8
    files:
      - { from: dist/hello, to: /usr/local/bin/hello, mode: "0755" }
      - { from: static, to: /srv/static }
    entrypoint: ["/usr/local/bin/hello"]
    cmd: ["--port", "8080"]
    env: { PORT: "8080" }
    workdir: /srv
    labels: { team: web }
"#;

#[test]
fn an_image_parses_with_every_field() {
    let image = parse(".slipway.yml", WITH_IMAGE)
        .unwrap()
        .build
        .image
        .unwrap();
    assert_eq!(image.repository, "team/hello-service");
    assert_eq!(
        image.base.as_deref(),
        Some("127.0.0.1:5000/library/busybox:1.36")
    );
    assert_eq!(image.platform.architecture, "arm64");
    assert_eq!(image.platform.variant.as_deref(), Some("v8"));
    assert_eq!(image.files.len(), 2);
    assert_eq!(image.files[0].mode, Some(0o755));
    assert_eq!(image.files[1].mode, None);
    assert_eq!(
        image.entrypoint.as_deref(),
        Some(&["/usr/local/bin/hello".to_owned()][..])
    );
    assert_eq!(image.cmd.as_ref().unwrap().len(), 2);
    assert_eq!(image.env["PORT"], "8080");
    assert_eq!(image.workdir.as_deref(), Some("/srv"));
    assert_eq!(image.labels["team"], "web");
}

#[test]
fn an_image_defaults_to_scratch_for_linux_amd64() {
    let text = "version: 1\nbuild:\n  steps: [{run: make}]\n  image:\n    repository: app\n    base: scratch\n";
    let image = parse(".slipway.yml", text).unwrap().build.image.unwrap();
    assert_eq!(image.base, None);
    assert_eq!(image.platform, crate::model::image::Platform::default());
    assert!(parse(".slipway.yml", FULL).unwrap().build.image.is_none());
}

#[test]
fn image_values_are_checked_with_a_position() {
    let head = "version: 1\nbuild:\n  steps: [{run: make}]\n  image:\n";
    let cases = [
        ("    repository: Hello\n", 5, "lowercase"),
        (
            "    repository: app\n    base: 'Not An Image'\n",
            6,
            "image reference",
        ),
        ("    repository: app\n    platform: linux\n", 6, "platform"),
        (
            "    repository: app\n    files:\n      - { from: ../x, to: /x }\n",
            7,
            "relative",
        ),
        (
            "    repository: app\n    files:\n      - { from: /etc/passwd, to: /x }\n",
            7,
            "relative",
        ),
        (
            "    repository: app\n    files:\n      - { from: x, to: relative }\n",
            7,
            "absolute",
        ),
        (
            "    repository: app\n    files:\n      - { from: x, to: /a/../b }\n",
            7,
            "absolute",
        ),
        (
            "    repository: app\n    files:\n      - { from: x, to: /x, mode: rwx }\n",
            7,
            "octal",
        ),
        (
            "    repository: app\n    files:\n      - { from: x, to: /x, mode: \"99999\" }\n",
            7,
            "octal",
        ),
        ("    repository: app\n    env:\n      9X: y\n", 7, "letters"),
        ("    repository: app\n    workdir: srv\n", 6, "absolute"),
        ("    repository: app\n    ports: [80]\n", 6, "ports"),
    ];
    for (body, line, needle) in cases {
        let text = format!("{head}{body}");
        let e = error(&text);
        assert_eq!(e.line, line, "{body:?} -> {e}");
        assert!(e.message.contains(needle), "{body:?} -> {e}");
    }
}

#[test]
fn environment_targets_parse_and_exclude_each_other() {
    let head = "version: 1\nbuild:\n  steps: [{run: make}]\nenvironments:\n  prod:\n";
    let parse_env = |body: &str| {
        parse(".slipway.yml", &format!("{head}{body}")).map(|c| c.environments["prod"].clone())
    };
    let lambda = parse_env("    lambda: { function: hello }\n").unwrap();
    assert_eq!(
        lambda.target,
        Target::Lambda {
            function: "hello".into(),
            alias: "live".into()
        }
    );
    let ecs =
        parse_env("    ecs: { cluster: c, service: s, container: app }\n    env: { REGION: eu }\n")
            .unwrap();
    assert_eq!(
        ecs.target,
        Target::Ecs {
            cluster: "c".into(),
            service: "s".into(),
            container: "app".into(),
            wait: DEFAULT_ECS_WAIT,
        }
    );
    assert_eq!(ecs.env["REGION"], "eu");
    let quick =
        parse_env("    ecs: { cluster: c, service: s, container: app, wait: 30s }\n").unwrap();
    assert!(matches!(quick.target, Target::Ecs { wait, .. } if wait == Duration::from_secs(30)));
    assert!(
        parse_env("    ecs: { cluster: c, service: s, container: app, wait: soon }\n").is_err()
    );
    assert!(parse_env("    ecs: { cluster: c, service: s, container: app, wait: 12m }\n").is_ok());
    assert!(
        parse_env("    ecs: { cluster: c, service: s, container: app, wait: 13m }\n").is_err(),
        "a wait longer than the function may run is refused"
    );
    assert_eq!(
        parse_env("    url: https://x\n").unwrap().target,
        Target::TagOnly
    );
    let both = parse_env("    lambda: { function: f }\n    steps: [{run: x}]\n").unwrap_err();
    assert!(both.message.contains("at most one"), "{both}");
    assert_eq!(both.line, 6);
    assert!(parse_env("    ecs: { cluster: c, service: s }\n").is_err());
    assert!(parse_env("    lambda: { function: ' ' }\n").is_err());
    assert!(parse_env("    env: { SLIPWAY_IMAGE: x }\n")
        .unwrap_err()
        .message
        .contains("SLIPWAY_"));
}
