use super::*;
use crate::model::artifact::prefix;
use crate::model::event::ForgeKind;

fn patterns(list: &[(&str, bool)]) -> Vec<ArtifactPattern> {
    list.iter()
        .map(|(p, optional)| ArtifactPattern {
            pattern: p.to_string(),
            optional: *optional,
        })
        .collect()
}

fn tree(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in files {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, file.as_bytes()).unwrap();
    }
    dir
}

#[test]
fn globs_match_regular_files_once_in_order() {
    let dir = tree(&[
        "dist/b.tar.gz",
        "dist/a.tar.gz",
        "dist/notes.txt",
        "src/main.rs",
    ]);
    let found = matching_files(
        dir.path(),
        &patterns(&[
            ("dist/*.tar.gz", false),
            ("dist/a.*", false),
            ("dist", true),
        ]),
    )
    .unwrap();
    let names: Vec<&str> = found.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(names, ["dist/a.tar.gz", "dist/b.tar.gz"]);
}

#[test]
fn a_pattern_matching_nothing_fails_unless_optional() {
    let dir = tree(&["dist/a.tar.gz"]);
    assert_eq!(
        matching_files(dir.path(), &patterns(&[("target/*.deb", false)])),
        Err(ArtifactError::NothingMatched("target/*.deb".into()))
    );
    assert!(
        matching_files(dir.path(), &patterns(&[("target/*.deb", true)]))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn symlinks_out_of_the_checkout_are_not_taken() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "x").unwrap();
    let dir = tree(&["dist/ok.txt"]);
    std::os::unix::fs::symlink(
        outside.path().join("secret"),
        dir.path().join("dist/leak.txt"),
    )
    .unwrap();
    let found = matching_files(dir.path(), &patterns(&[("dist/*.txt", false)])).unwrap();
    let names: Vec<&str> = found.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(names, ["dist/ok.txt"]);
}

#[test]
fn content_types_by_name() {
    assert_eq!(content_type("dist/app.tar.gz"), "application/gzip");
    assert_eq!(content_type("REPORT.JSON"), "application/json");
    assert_eq!(content_type("bin/app"), "application/octet-stream");
}

#[tokio::test]
async fn the_directory_store_keeps_files_their_digest_and_a_manifest() {
    let dir = tree(&["dist/a.tar.gz", "dist/b.txt"]);
    let store_dir = tempfile::tempdir().unwrap();
    let store = fs::FsStore::new(
        store_dir.path().to_path_buf(),
        Some(crate::links::Links::new(
            "http://127.0.0.1:3000",
            crate::links::LinkKey::new([9; 32]).unwrap(),
        )),
    );
    let sha = CommitSha::parse(&"a".repeat(40)).unwrap();
    let run = RunId("0123456789abcdef".into());
    let prefix = prefix(ForgeKind::Local, "me/hello", &sha, &run, false);
    let manifest = upload(
        &store,
        &prefix,
        dir.path(),
        &patterns(&[("dist/*", false)]),
        &run,
        &sha,
        None,
    )
    .await
    .unwrap();
    assert_eq!(manifest.files.len(), 2);
    let first = &manifest.files[0];
    assert_eq!(
        first.key,
        format!("artifacts/local/me/hello/{sha}/0123456789abcdef/dist/a.tar.gz")
    );
    assert_eq!(
        first.sha256,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"dist/a.tar.gz"))
    );
    assert_eq!(first.size, 13);
    assert_eq!(
        std::fs::read(store_dir.path().join(&first.key)).unwrap(),
        b"dist/a.tar.gz"
    );
    let saved: Manifest = serde_json::from_slice(
        &std::fs::read(store_dir.path().join(format!("{prefix}manifest.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(saved, manifest);
    // A signed link, valid for the lifetime asked, for the path the server routes.
    let link = store
        .link(&first.key, Duration::from_secs(60))
        .await
        .unwrap();
    let path = format!("/artifacts/{}", first.key);
    let (url, query) = link.split_once('?').unwrap();
    assert_eq!(url, format!("http://127.0.0.1:3000{path}"));
    let now = crate::state::unix_secs(std::time::SystemTime::now()) as u64;
    let key = crate::links::LinkKey::new([9; 32]).unwrap();
    assert_eq!(key.verify(&path, Some(query), now), Ok(()));
    assert!(key.verify(&path, Some(query), now + 61).is_err());
    assert!(store.path_of("../escape").is_none());
}
