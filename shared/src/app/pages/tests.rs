use super::*;
use crate::artifacts::fs::FsStore;
use crate::model::status::RunStatus;
use crate::state::sqlite::SqliteState;

const NOW: u64 = 1_800_000_000;
const RUN_A: &str = "0123456789abcdef";
const RUN_B: &str = "fedcba9876543210";

fn key() -> LinkKey {
    LinkKey::new(vec![7u8; 32]).unwrap()
}

struct World {
    _dir: tempfile::TempDir,
    state: SqliteState,
    store: FsStore,
}

/// Run A has finished with a result and a log; run B is running with half a log.
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let state = SqliteState::open(&dir.path().join("state.db")).unwrap();
    let store = FsStore::new(dir.path().join("artifacts"), None);
    for (id, status, log) in [
        (
            RUN_A,
            RunStatus::Succeeded,
            "==> [1/1] test\nall <b>green</b>\n",
        ),
        (RUN_B, RunStatus::Running, "==> [1/1] test\nhalf way\n"),
    ] {
        let mut run = crate::model::run::sample(id);
        run.status = status;
        assert!(state.insert_run(&run).await.unwrap());
        let prefix = run.output_prefix();
        store
            .put_bytes(
                &format!("{prefix}{LOG_FILE}"),
                log.as_bytes().to_vec(),
                "text/plain",
            )
            .await
            .unwrap();
    }
    World {
        _dir: dir,
        state,
        store,
    }
}

fn link(path: &str, expires: u64) -> String {
    key().sign(path, expires)
}

#[tokio::test]
async fn a_run_page_opens_only_with_its_own_unexpired_link() {
    let w = world().await;
    let page = |id: &'static str, query: String, now: u64| {
        let w = &w;
        async move { run_page(&w.state, &w.store, &key(), id, Some(&query), now).await }
    };
    let PageAnswer::Html(html) = page(RUN_A, link(&format!("/runs/{RUN_A}"), NOW + 60), NOW).await
    else {
        panic!("a valid link opens the page");
    };
    assert!(html.contains("all &lt;b&gt;green&lt;/b&gt;"), "{html}");
    assert!(!html.contains("refresh"), "a finished run does not reload");

    let PageAnswer::Html(running) =
        page(RUN_B, link(&format!("/runs/{RUN_B}"), NOW + 60), NOW).await
    else {
        panic!("run B's own link opens run B");
    };
    assert!(running.contains("half way") && running.contains("http-equiv=\"refresh\""));

    let not_found = PageAnswer::NotFound(render::NO_SUCH_RUN);
    let refusals = [
        (
            RUN_B,
            link(&format!("/runs/{RUN_A}"), NOW + 60),
            NOW,
            "A's link for B",
        ),
        (RUN_A, link(&format!("/runs/{RUN_A}"), NOW), NOW, "expired"),
        (RUN_A, String::new(), NOW, "no signature"),
        (
            "0000000000000000",
            link("/runs/0000000000000000", NOW + 60),
            NOW,
            "no such run",
        ),
        (
            "../etc/passwd",
            link("/runs/../etc/passwd", NOW + 60),
            NOW,
            "not a run id",
        ),
    ];
    for (id, query, now, why) in refusals {
        assert_eq!(page(id, query, now).await, not_found, "{why}");
    }
}

#[tokio::test]
async fn a_download_goes_on_to_the_store_only_for_a_signed_build_output() {
    let w = world().await;
    let object = "artifacts/github/octo/app/x/r1/dist/app";
    w.store
        .put_bytes(object, b"binary".to_vec(), "application/octet-stream")
        .await
        .unwrap();
    let signed = link(&format!("{ARTIFACTS_UNDER}/{object}"), NOW + 60);
    match artifact(&w.store, &key(), object, Some(&signed), NOW).await {
        PageAnswer::Redirect(url) => assert!(url.ends_with("dist/app"), "{url}"),
        other => panic!("{other:?}"),
    }
    let not_found = PageAnswer::NotFound(render::NO_SUCH_ARTIFACT);
    let other = "artifacts/github/octo/app/x/r1/dist/other";
    assert_eq!(
        artifact(&w.store, &key(), other, Some(&signed), NOW).await,
        not_found,
        "a link for one file opens no other"
    );
    let record = "environments/github/octo/app/production/current.json";
    let record_link = link(&format!("{ARTIFACTS_UNDER}/{record}"), NOW + 60);
    assert_eq!(
        artifact(&w.store, &key(), record, Some(&record_link), NOW).await,
        not_found,
        "only build outputs, even under a valid signature"
    );
}
