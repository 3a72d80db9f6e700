//! Fixtures: the recorded webhook deliveries and keys in `shared/tests/fixtures`, files of the
//! workspace (examples, template.yaml), and source archives built on the fly.

use std::path::{Path, PathBuf};

/// A path in the workspace, from its root (`examples/hello-service`, `template.yaml`).
pub fn workspace_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

pub fn fixture_path(name: &str) -> PathBuf {
    workspace_path("shared/tests/fixtures").join(name)
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

pub fn json_fixture(name: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

/// A pull request comment, built from the issue comment fixture as the fixtures README says,
/// written just now (the fixture's own 2019 date would make it stale).
pub fn pr_comment(action: &str, body: &str) -> Vec<u8> {
    let mut v = json_fixture(&format!("github/issue_comment.{action}.1.json"));
    v["issue"]["pull_request"] =
        serde_json::json!({ "url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1" });
    v["comment"]["body"] = body.into();
    v["comment"]["created_at"] = rfc3339_now().into();
    v["comment"]["updated_at"] = rfc3339_now().into();
    serde_json::to_vec(&v).unwrap()
}

/// The GitLab merge request note fixture saying `body`, written just now.
pub fn mr_note(body: &str) -> serde_json::Value {
    let mut v = json_fixture("gitlab/note_hook.merge_request.json");
    v["object_attributes"]["note"] = body.into();
    v["object_attributes"]["created_at"] = rfc3339_now().into();
    v["object_attributes"]["updated_at"] = rfc3339_now().into();
    v
}

/// The current time as a forge writes it in a payload (`2019-05-15T15:20:21Z`).
pub fn rfc3339_now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// A `.tar.gz` of regular files, as forges serve source archives.
pub fn tar_gz(files: &[(&str, &str)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    for (path, contents) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, path, contents.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}
