use std::time::Duration;

use super::*;
use crate::model::event::RunId;
use crate::model::event::{CommitSha, PrNumber};
use crate::model::job::Step;

fn job(steps: &[(&str, &str)], timeout_secs: u64) -> BuildJob {
    BuildJob {
        run_id: RunId("r1".into()),
        sha: CommitSha::parse(&"a".repeat(40)).unwrap(),
        git_ref: "feature".into(),
        pr: Some(PrNumber(7)),
        steps: steps
            .iter()
            .map(|(name, run)| Step {
                name: name.to_string(),
                run: run.to_string(),
            })
            .collect(),
        env: BTreeMap::from([("GREETING".into(), "hello world".into())]),
        timeout_secs,
        artifacts: Vec::new(),
        artifact_prefix: String::new(),
        image: None,
        source_url: None,
        deploy: false,
    }
}

async fn run_job(job: &BuildJob) -> (BuildResult, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("src");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("input.txt"), "from the checkout\n").unwrap();
    let out = dir.path().join("out");
    let result = run(
        job,
        &work,
        &out,
        Outputs::default(),
        None,
        std::future::pending(),
    )
    .await
    .unwrap();
    let log = std::fs::read_to_string(out.join(LOG_FILE)).unwrap();
    let saved: BuildResult =
        serde_json::from_slice(&std::fs::read(out.join(RESULT_FILE)).unwrap()).unwrap();
    assert_eq!(saved, result, "result.json holds the result");
    (result, log, dir)
}

#[tokio::test]
async fn steps_run_in_order_in_the_checkout_with_the_job_variables() {
    let job = job(
        &[
            ("read", "cat input.txt"),
            (
                "vars",
                "echo \"$GREETING $SLIPWAY_SHA $SLIPWAY_REF $SLIPWAY_PR $SLIPWAY_RUN_ID $CI\"",
            ),
            ("stderr", "echo to-stderr >&2"),
        ],
        60,
    );
    let (result, log, _dir) = run_job(&job).await;
    assert_eq!(result.status, RunStatus::Succeeded);
    assert!(result
        .steps
        .iter()
        .all(|s| s.status == StepStatus::Passed && s.exit_code == Some(0)));
    assert!(log.contains("from the checkout"));
    assert!(log.contains(&format!("hello world {} feature 7 r1 true", "a".repeat(40))));
    assert!(log.contains("to-stderr"));
    let read = log.find("==> [1/3] read").unwrap();
    let vars = log.find("==> [2/3] vars").unwrap();
    assert!(read < vars);
}

#[tokio::test]
async fn the_environment_is_clean() {
    // Set in this process, so a leak into steps would show.
    std::env::set_var("SLIPWAY_AGENT_TEST_LEAK", "secret");
    let job = job(&[("clean", "test -z \"$SLIPWAY_AGENT_TEST_LEAK\"")], 60);
    let (result, _, _dir) = run_job(&job).await;
    assert_eq!(result.status, RunStatus::Succeeded);
}

#[tokio::test]
async fn the_first_failing_step_stops_the_build() {
    let job = job(
        &[
            ("ok", "true"),
            ("bad", "echo broken; exit 3"),
            ("never", "echo SHOULD-NOT-RUN"),
        ],
        60,
    );
    let (result, log, _dir) = run_job(&job).await;
    assert_eq!(result.status, RunStatus::Failed);
    let statuses: Vec<_> = result.steps.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [StepStatus::Passed, StepStatus::Failed, StepStatus::Skipped]
    );
    assert_eq!(result.steps[1].exit_code, Some(3));
    assert!(log.contains("failed with exit code 3"));
    assert!(!log.contains("SHOULD-NOT-RUN"));
}

#[tokio::test]
async fn the_timeout_stops_the_step_and_what_it_started() {
    let job = job(&[("slow", "sleep 30 & sleep 30")], 1);
    let started = Instant::now();
    let (result, log, _dir) = run_job(&job).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(result.status, RunStatus::TimedOut);
    assert_eq!(result.steps[0].status, StepStatus::TimedOut);
    assert!(log.contains("timeout passed"));
}

#[tokio::test]
async fn a_cancellation_stops_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(&[("slow", "sleep 30"), ("after", "true")], 60);
    let cancel = tokio::time::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let result = run(
        &job,
        dir.path(),
        &dir.path().join("out"),
        Outputs::default(),
        None,
        cancel,
    )
    .await
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(result.status, RunStatus::Cancelled);
    assert_eq!(result.steps[1].status, StepStatus::Skipped);
}

#[test]
fn log_tail_reads_the_last_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.txt");
    let text: String = (0..1000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&path, text).unwrap();
    assert_eq!(log_tail(&path, 2, 1 << 20).unwrap(), "line 998\nline 999");
    let bounded = log_tail(&path, 1000, 100).unwrap();
    assert!(
        bounded.lines().count() < 20,
        "reads at most max_bytes from the end"
    );
    assert_eq!(log_tail(&dir.path().join("none"), 5, 100), None);
}

fn image_job() -> BuildJob {
    let mut job = job(&[("package", "mkdir -p dist && printf hi > dist/app")], 30);
    job.image = Some(crate::model::image::ImageSpec {
        repository: "app".into(),
        base: None,
        platform: Default::default(),
        files: vec![crate::model::image::ImageFile {
            from: "dist/app".into(),
            to: "/app".into(),
            mode: Some(0o755),
        }],
        entrypoint: Some(vec!["/app".into()]),
        cmd: None,
        env: BTreeMap::new(),
        workdir: None,
        labels: BTreeMap::new(),
    });
    job.env
        .insert("SOURCE_DATE_EPOCH".into(), "1700000000".into());
    job.artifacts = vec![crate::model::artifact::ArtifactPattern {
        pattern: "dist/*".into(),
        optional: false,
    }];
    job.artifact_prefix = "artifacts/x/".into();
    job
}

#[tokio::test]
async fn the_image_is_built_pushed_and_named_in_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("src");
    std::fs::create_dir_all(&work).unwrap();
    let images = crate::image::ImageTarget {
        store: Box::new(crate::image::layout::LayoutStore::new(
            dir.path().join("images"),
        )),
        base_registry: None,
    };
    let artifacts = crate::artifacts::fs::FsStore::new(dir.path().join("artifacts"), None);
    let outputs = Outputs {
        artifacts: Some(&artifacts),
        images: Some(&images),
    };
    let job = image_job();
    let result = run(
        &job,
        &work,
        &dir.path().join("out"),
        outputs,
        None,
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(result.status, RunStatus::Succeeded, "{result:?}");
    let image = result.image.clone().expect("an image");
    assert_eq!(image.tags, [format!("sha-{}", job.sha), "pr-7".to_owned()]);
    assert!(image.digest.starts_with("sha256:"));
    let names: Vec<&str> = result.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["package", "build image", "store artifacts"]);
    let manifest: crate::model::artifact::Manifest = serde_json::from_slice(
        &std::fs::read(dir.path().join("artifacts/artifacts/x/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest.image, Some(image.clone()));

    // The same commit built again gives the same image.
    let again = run(
        &job,
        &work,
        &dir.path().join("out2"),
        outputs,
        None,
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(again.image.unwrap().digest, image.digest);
}

#[tokio::test]
async fn an_image_without_a_store_fails_the_build_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("src");
    std::fs::create_dir_all(&work).unwrap();
    let result = run(
        &image_job(),
        &work,
        &dir.path().join("out"),
        Outputs::default(),
        None,
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.image, None);
    let log = std::fs::read_to_string(dir.path().join("out").join(LOG_FILE)).unwrap();
    assert!(log.contains("no image store is configured"), "{log}");
    assert!(
        result.artifacts.is_empty(),
        "nothing stored after a failed image"
    );
}
