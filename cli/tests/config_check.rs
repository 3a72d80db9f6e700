//! `slipway config check`, run as a user would.

use std::process::Command;

fn check(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(".slipway.yml");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["config", "check"])
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn a_valid_file_is_summarised() {
    let (code, stdout, _) = check("version: 1\nbuild:\n  steps:\n    - run: make\n  timeout: 5m\n");
    assert_eq!(code, 0);
    assert!(
        stdout.contains("ok — 1 build step(s), timeout 5m"),
        "{stdout}"
    );
}

#[test]
fn an_invalid_file_names_the_line_and_fails() {
    let (code, _, stderr) = check("version: 1\nbuild:\n  steps:\n    - run: make\n  timout: 5m\n");
    assert_eq!(code, 1);
    assert!(
        stderr.contains(".slipway.yml:5:3: unknown field `timout`"),
        "{stderr}"
    );
}
