//! A build step tries to reach what the trust rule keeps from it: the bot's secrets (in its
//! parent's or any visible process's environment), the data directory (the database, other
//! runs), and the machine after the build (processes left behind).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// A string unique to this test run, so a match can only come from this test.
fn unique(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{label}-{}-{nanos}", std::process::id())
}

/// `slipway run --json` on a plain directory holding `.slipway.yml` with one step, `script`,
/// storing `artifacts`, with `env` set in slipway's own environment; returns the JSON document
/// and the step's log.
fn build(data: &Path, script: &str, artifacts: &[&str], env: &[(&str, &str)]) -> (Value, String) {
    let repo = tempfile::tempdir().unwrap();
    let config = serde_json::json!({
        "version": 1,
        "build": { "steps": [{ "name": "attack", "run": script }], "artifacts": artifacts },
    });
    // JSON is YAML.
    std::fs::write(repo.path().join(".slipway.yml"), config.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["run", "--json", "--repo"])
        .arg(repo.path())
        .arg("--data-dir")
        .arg(data)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    let log = std::fs::read_to_string(doc["log"].as_str().expect("a log")).unwrap();
    (doc, log)
}

/// Every file under `dir`, as text, for "does this appear anywhere" checks.
fn all_text(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            text.push_str(&all_text(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

#[test]
fn a_step_finds_no_secret_in_its_parents_or_any_visible_environment() {
    let canary = unique("canary");
    let data = tempfile::tempdir().unwrap();
    let secrets = [
        ("SLIPWAY_GITHUB_WEBHOOK_SECRET", canary.as_str()),
        ("SLIPWAY_GITLAB_WEBHOOK_TOKEN", canary.as_str()),
        ("SLIPWAY_GITHUB_TOKEN", canary.as_str()),
        ("SLIPWAY_GITLAB_TOKEN", canary.as_str()),
        // Handed to the agent (it pushes images), so only the sandbox keeps it from steps.
        ("SLIPWAY_REGISTRY_PASSWORD", canary.as_str()),
        ("AWS_SECRET_ACCESS_KEY", canary.as_str()),
        ("AWS_SESSION_TOKEN", canary.as_str()),
    ];
    let script = "{ env; for f in /proc/$PPID/environ /proc/*/environ; do \
                  echo \"== $f\"; tr '\\0' '\\n' < \"$f\"; done; } > loot.txt 2>&1; cat loot.txt";
    let (doc, log) = build(data.path(), script, &["loot.txt"], &secrets);
    assert_eq!(doc["status"], "succeeded", "{log}");
    // The step did read environments (its own at least), so an absent canary means something.
    assert!(log.contains("== /proc/"), "{log}");
    assert!(log.contains("SLIPWAY_RUN_ID="), "{log}");
    assert!(
        !log.contains(&canary),
        "a secret leaked into the log:\n{log}"
    );
    let stored = all_text(&data.path().join("artifacts"));
    assert!(
        stored.contains("SLIPWAY_RUN_ID="),
        "the loot was stored: {stored}"
    );
    assert!(
        !stored.contains(&canary),
        "a secret leaked into an artifact"
    );
}

#[test]
fn a_step_can_neither_read_nor_change_the_database_or_another_run() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().canonicalize().unwrap();
    let (first, _) = build(&data_dir, "echo first build", &[], &[]);
    let other_log = first["log"].as_str().unwrap().to_owned();
    let other_before = std::fs::read_to_string(&other_log).unwrap();
    let db = data_dir.join("slipway.db");
    assert!(std::fs::read(&db).unwrap().starts_with(b"SQLite format 3"));

    let tamper = unique("tampered");
    // Markers are assembled when the step runs: the log and the database hold the script too.
    let (head, tail) = tamper.split_at(4);
    let script = format!(
        "D='{data}'; O='{other_log}'; T='{head}''{tail}'; \
         grep -q 'SQLite format 3' \"$D/slipway.db\" && echo DB-'READ'ABLE; \
         grep -q 'first build' \"$O\" && echo RUN-'READ'ABLE; \
         ls \"$D/runs\" \"$D/artifacts\"; \
         echo \"$T\" >> \"$D/slipway.db\"; echo \"$T\" >> \"$O\"; \
         touch \"$D/planted-$T\"; true",
        data = data_dir.display()
    );
    let (doc, log) = build(&data_dir, &script, &[], &[]);
    assert_eq!(doc["status"], "succeeded", "{log}");
    assert!(
        !log.contains("DB-READABLE"),
        "the step read the database:\n{log}"
    );
    assert!(
        !log.contains("RUN-READABLE"),
        "the step read another run:\n{log}"
    );
    let db_bytes = std::fs::read(&db).unwrap();
    let tampered = String::from_utf8_lossy(&db_bytes).contains(&tamper);
    assert!(!tampered, "the step wrote into the database");
    assert!(db_bytes.starts_with(b"SQLite format 3"));
    assert_eq!(std::fs::read_to_string(&other_log).unwrap(), other_before);
    assert!(!data_dir.join(format!("planted-{tamper}")).exists());
}

/// The processes whose command line mentions `marker`.
fn processes_with(marker: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(marker) {
            found.push(pid);
        }
    }
    found
}

#[test]
fn nothing_a_step_started_outlives_the_build() {
    let marker = unique("lingering");
    let data = tempfile::tempdir().unwrap();
    // A subshell's child (reparented when the subshell exits), a new session, and nohup.
    let script = format!(
        "(sh -c 'sleep 600; true' {marker}-subshell &); \
         setsid sh -c 'sleep 600; true' {marker}-setsid & \
         nohup sh -c 'sleep 600; true' {marker}-nohup > /dev/null 2>&1 & \
         sleep 0.2; echo started"
    );
    let (doc, log) = build(data.path(), &script, &[], &[]);
    assert_eq!(doc["status"], "succeeded", "{log}");
    assert!(log.contains("started"), "{log}");
    // The sandbox's init is gone when the step is; give the kernel a moment to reap.
    let mut left = processes_with(&marker);
    for _ in 0..20 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        left = processes_with(&marker);
    }
    for pid in &left {
        // This test's own leftovers (today's code leaves them): not for the next test to meet.
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    }
    assert!(left.is_empty(), "processes outlived the build: {left:?}");
}

#[test]
fn a_step_cannot_read_the_home_directory_but_gets_a_writable_one() {
    let canary = unique("aws-key");
    let home = tempfile::tempdir().unwrap();
    let home_dir = home.path().canonicalize().unwrap();
    std::fs::create_dir_all(home_dir.join(".aws")).unwrap();
    std::fs::write(
        home_dir.join(".aws/credentials"),
        format!("[default]\naws_secret_access_key = {canary}\n"),
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let script = "cat \"$HOME/.aws/credentials\"; ls -a \"$HOME\"; \
                  echo cache > \"$HOME/cache\" && echo HOME-WRITABLE";
    let home_var = home_dir.display().to_string();
    let (doc, log) = build(data.path(), script, &[], &[("HOME", home_var.as_str())]);
    assert_eq!(doc["status"], "succeeded", "{log}");
    assert!(
        !log.contains(&canary),
        "the home directory's credentials leaked:\n{log}"
    );
    assert!(log.contains("HOME-WRITABLE"), "{log}");
    assert!(
        !home_dir.join("cache").exists(),
        "the step wrote a private home, not the real one"
    );
}
