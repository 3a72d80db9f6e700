//! Images built without a daemon, pushed to a real registry (Debian's `docker-registry`) and
//! checked independently with `skopeo`; ECR's sign-in, repository and retag on moto.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use slipway::image::build::{build, Provenance, LABEL_REVISION, LABEL_SOURCE};
use slipway::image::ecr::Ecr;
use slipway::image::layout::{Layout, LayoutStore};
use slipway::image::registry::Registry;
use slipway::image::ImageStore;
use slipway::model::image::{ImageFile, ImageSpec, Platform};
use slipway_testkit::registry::TestRegistry;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const HELLO: &[u8] = b"#!/bin/sh\necho hello\n";

fn checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dist")).unwrap();
    std::fs::write(dir.path().join("dist/hello"), HELLO).unwrap();
    std::fs::set_permissions(
        dir.path().join("dist/hello"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(dir.path().join("dist/motd"), b"welcome\n").unwrap();
    dir
}

fn spec(base: Option<String>, from: &str, to: &str) -> ImageSpec {
    ImageSpec {
        repository: "hello".into(),
        base,
        platform: Platform::default(),
        files: vec![ImageFile {
            from: from.into(),
            to: to.into(),
            mode: None,
        }],
        entrypoint: Some(vec!["/usr/local/bin/hello".into()]),
        cmd: None,
        env: BTreeMap::from([("PORT".into(), "8080".into())]),
        workdir: None,
        labels: BTreeMap::new(),
    }
}

fn provenance() -> Provenance {
    Provenance {
        revision: SHA.into(),
        source: Some("https://github.com/octo/hello".into()),
        time: 1_700_000_000,
    }
}

async fn build_into(
    spec: &ImageSpec,
    workdir: &Path,
    layout_dir: &Path,
    registry: Option<&Registry>,
) -> (Layout, slipway::image::Descriptor) {
    let layout = Layout::create(layout_dir).unwrap();
    let manifest = build(spec, workdir, &provenance(), &layout, registry)
        .await
        .unwrap();
    (layout, manifest)
}

fn tags() -> Vec<String> {
    vec![format!("sha-{SHA}"), "pr-7".into()]
}

#[tokio::test]
async fn a_pushed_image_is_what_skopeo_sees() {
    let registry = TestRegistry::start();
    let client = Registry::new(&registry.url(), None).unwrap();
    let src = checkout();
    let out = tempfile::tempdir().unwrap();
    let spec = spec(None, "dist/hello", "/usr/local/bin/hello");
    let (layout, manifest) = build_into(&spec, src.path(), out.path(), None).await;
    let (image, stats) = client
        .push(&layout, &manifest, "hello", &tags())
        .await
        .unwrap();
    assert_eq!(image.repository, format!("{}/hello", registry.host));
    assert_eq!(
        image.reference(),
        format!("{}/hello@{}", registry.host, manifest.digest)
    );
    assert_eq!(stats.blobs_uploaded, 2, "the layer and the config");

    let inspected = registry.inspect(&format!("hello:sha-{SHA}"), false);
    assert_eq!(inspected["Digest"], manifest.digest);
    assert_eq!(inspected["Labels"][LABEL_REVISION], SHA);
    assert_eq!(
        inspected["Labels"][LABEL_SOURCE],
        "https://github.com/octo/hello"
    );
    assert_eq!(inspected["Architecture"], "amd64");
    assert_eq!(inspected["Os"], "linux");
    let config = registry.inspect("hello:pr-7", false);
    assert_eq!(
        config["Digest"], manifest.digest,
        "both tags name the image"
    );
    let raw = registry.inspect("hello:pr-7", true);
    assert_eq!(raw["mediaType"], slipway::image::OCI_MANIFEST);

    // The layer's files, fetched by skopeo, not by us.
    let copy = tempfile::tempdir().unwrap();
    let target = format!("dir:{}", copy.path().join("img").display());
    registry.skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/hello:pr-7", registry.host),
        &target,
    ]);
    let copied: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copy.path().join("img/manifest.json")).unwrap())
            .unwrap();
    let layer_digest = copied["layers"][0]["digest"].as_str().unwrap();
    let layer = std::fs::read(
        copy.path()
            .join("img")
            .join(layer_digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&layer[..]));
    let mut found = false;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some("usr/local/bin/hello") {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            assert_eq!(bytes, HELLO);
            assert_eq!(entry.header().mode().unwrap(), 0o755);
            found = true;
        }
    }
    assert!(found, "the layer holds /usr/local/bin/hello");
    let config = image_config(&registry, "hello:pr-7");
    assert_eq!(config["config"]["Entrypoint"][0], "/usr/local/bin/hello");
    assert!(config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "PORT=8080"));
}

/// The image's config blob, as skopeo reads it.
fn image_config(registry: &TestRegistry, reference: &str) -> serde_json::Value {
    let output = registry.skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--config",
        &format!("docker://{}/{reference}", registry.host),
    ]);
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn the_same_inputs_give_the_same_digest_and_a_second_push_uploads_no_layer() {
    let registry = TestRegistry::start();
    let client = Registry::new(&registry.url(), None).unwrap();
    let src = checkout();
    let spec = spec(None, "dist", "/srv");
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (first_layout, first) = build_into(&spec, src.path(), a.path(), None).await;
    // The same files written again: new mtimes on disk, the same image.
    std::fs::write(src.path().join("dist/motd"), b"welcome\n").unwrap();
    let (second_layout, second) = build_into(&spec, src.path(), b.path(), None).await;
    assert_eq!(first.digest, second.digest);

    client
        .push(&first_layout, &first, "hello", &tags())
        .await
        .unwrap();
    let uploads = registry.requests("PUT", "/blobs/uploads/");
    assert_eq!(uploads, 2);
    let (_, stats) = client
        .push(&second_layout, &second, "hello", &tags())
        .await
        .unwrap();
    assert_eq!(
        (
            stats.blobs_uploaded,
            stats.blobs_present,
            stats.bytes_uploaded
        ),
        (0, 2, 0)
    );
    assert_eq!(
        registry.requests("PUT", "/blobs/uploads/"),
        uploads,
        "no blob bytes sent again"
    );
    assert_eq!(
        registry.requests("PATCH", "/blobs/uploads/"),
        0,
        "uploads are one PUT each"
    );
}

#[tokio::test]
async fn a_base_image_is_pulled_from_the_registry() {
    let registry = TestRegistry::start();
    let client = Registry::new(&registry.url(), None).unwrap();
    let src = checkout();
    let base_spec = ImageSpec {
        repository: "base".into(),
        entrypoint: None,
        cmd: Some(vec!["/bin/sh".into()]),
        env: BTreeMap::from([("PATH".into(), "/usr/bin:/bin".into())]),
        ..spec(None, "dist/motd", "/etc/motd")
    };
    let base_dir = tempfile::tempdir().unwrap();
    let (base_layout, base) = build_into(&base_spec, src.path(), base_dir.path(), None).await;
    client
        .push(&base_layout, &base, "library/base", &["1".into()])
        .await
        .unwrap();
    let base_layer = base_layout.manifest(&base).unwrap().layers[0]
        .digest
        .clone();

    let app = spec(
        Some(format!("{}/library/base:1", registry.host)),
        "dist/hello",
        "/usr/local/bin/hello",
    );
    let out = tempfile::tempdir().unwrap();
    let (layout, manifest) = build_into(&app, src.path(), out.path(), Some(&client)).await;
    client
        .push(&layout, &manifest, "hello", &["pr-7".into()])
        .await
        .unwrap();

    let inspected = registry.inspect("hello:pr-7", false);
    let layers: Vec<&str> = inspected["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(layers.len(), 2);
    assert_eq!(
        layers[0], base_layer,
        "the base's layer comes first, unchanged"
    );
    let env: Vec<&str> = inspected["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(env, ["PATH=/usr/bin:/bin", "PORT=8080"]);
}

#[tokio::test]
async fn a_missing_base_is_a_clear_error() {
    let registry = TestRegistry::start();
    let client = Registry::new(&registry.url(), None).unwrap();
    let src = checkout();
    let out = tempfile::tempdir().unwrap();
    let layout = Layout::create(out.path()).unwrap();
    let app = spec(
        Some(format!("{}/nothing:1", registry.host)),
        "dist/hello",
        "/hello",
    );
    let error = build(&app, src.path(), &provenance(), &layout, Some(&client))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("nothing:1 was not found"), "{error}");
}

#[tokio::test]
async fn retagging_moves_a_tag_without_uploading() {
    let registry = TestRegistry::start();
    let client = Registry::new(&registry.url(), None).unwrap();
    let src = checkout();
    let out = tempfile::tempdir().unwrap();
    let (layout, first) = build_into(
        &spec(None, "dist/hello", "/hello"),
        src.path(),
        out.path(),
        None,
    )
    .await;
    client
        .push(&layout, &first, "hello", &["sha-1".into()])
        .await
        .unwrap();
    let (layout2, second) = build_into(
        &spec(None, "dist/motd", "/motd"),
        src.path(),
        out.path(),
        None,
    )
    .await;
    client
        .push(&layout2, &second, "hello", &["sha-2".into()])
        .await
        .unwrap();
    let uploads = registry.requests("PUT", "/blobs/uploads/");

    client
        .retag("hello", &first.digest, "env-staging")
        .await
        .unwrap();
    assert_eq!(
        client.resolve("hello", "env-staging").await.unwrap(),
        Some(first.digest.clone())
    );
    client
        .retag("hello", &second.digest, "env-staging")
        .await
        .unwrap();
    assert_eq!(
        registry.inspect("hello:env-staging", false)["Digest"],
        second.digest
    );
    assert_eq!(registry.requests("PUT", "/blobs/uploads/"), uploads);
    assert_eq!(client.resolve("hello", "env-nowhere").await.unwrap(), None);
    let missing = format!("sha256:{}", "0".repeat(64));
    assert!(client
        .retag("hello", &missing, "env-staging")
        .await
        .is_err());
}

#[tokio::test]
async fn the_layout_store_keeps_images_skopeo_can_read() {
    let src = checkout();
    let out = tempfile::tempdir().unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let (layout, manifest) = build_into(
        &spec(None, "dist/hello", "/usr/local/bin/hello"),
        src.path(),
        out.path(),
        None,
    )
    .await;
    let store = LayoutStore::new(store_dir.path());
    let (image, stats) = store
        .push(&layout, &manifest, "hello", &tags())
        .await
        .unwrap();
    assert_eq!(stats.blobs_uploaded, 3);
    store
        .retag("hello", &image.digest, "env-staging")
        .await
        .unwrap();
    assert_eq!(
        store.resolve("hello", "env-staging").await.unwrap(),
        Some(manifest.digest.clone())
    );
    let output = std::process::Command::new("skopeo")
        .args([
            "inspect",
            &format!(
                "oci:{}:env-staging",
                store_dir.path().join("hello").display()
            ),
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let inspected: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(inspected["Labels"][LABEL_REVISION], SHA);
    let (_, again) = store
        .push(&layout, &manifest, "hello", &tags())
        .await
        .unwrap();
    assert_eq!(again.blobs_uploaded, 0);
}

#[tokio::test]
async fn ecr_signs_in_creates_the_repository_and_retags() {
    let moto = slipway_testkit::Moto::start();
    let sdk = moto.sdk_config().await;
    let ecr_client = aws_sdk_ecr::Client::new(&sdk);
    let registry = TestRegistry::start();
    let repository = slipway_testkit::unique("slipway-ecr").to_lowercase();
    // Layers go over the OCI API (moto has none): to the test registry, signed with ECR's token.
    let ecr = Ecr::new(ecr_client.clone(), &registry.url(), true);
    let src = checkout();
    let out = tempfile::tempdir().unwrap();
    let (layout, manifest) = build_into(
        &spec(None, "dist/hello", "/hello"),
        src.path(),
        out.path(),
        None,
    )
    .await;
    let (image, _) = ecr
        .push(&layout, &manifest, &repository, &["sha-1".into()])
        .await
        .unwrap();
    assert_eq!(image.repository, format!("{}/{repository}", registry.host));
    let described = ecr_client
        .describe_repositories()
        .repository_names(&repository)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.repositories().len(),
        1,
        "the repository was created"
    );
    assert_eq!(
        registry.inspect(&format!("{repository}:sha-1"), false)["Digest"],
        manifest.digest
    );
    // A second push finds the repository and reuses the cached token.
    ecr.push(&layout, &manifest, &repository, &["sha-1".into()])
        .await
        .unwrap();

    // Retag inside ECR: put the manifest there as a push would, then move an environment tag.
    let bytes = String::from_utf8(layout.read_blob(&manifest.digest).unwrap()).unwrap();
    ecr_client
        .put_image()
        .repository_name(&repository)
        .image_manifest(bytes)
        .image_manifest_media_type(slipway::image::OCI_MANIFEST)
        .image_tag("sha-1")
        .send()
        .await
        .unwrap();
    let digest = ecr.resolve(&repository, "sha-1").await.unwrap().unwrap();
    ecr.retag(&repository, &digest, "env-production")
        .await
        .unwrap();
    assert_eq!(
        ecr.resolve(&repository, "env-production").await.unwrap(),
        Some(digest.clone())
    );
    // Moving it to where it already is succeeds too.
    ecr.retag(&repository, &digest, "env-production")
        .await
        .unwrap();
    assert_eq!(ecr.resolve(&repository, "env-nowhere").await.unwrap(), None);
}

#[tokio::test]
async fn a_multi_platform_base_gives_the_configured_platform() {
    let registry = TestRegistry::start();
    let client = Registry::new(&registry.url(), None).unwrap();
    let src = checkout();
    // Two single-platform bases, listed under one tag by an OCI index.
    let mut platforms = Vec::new();
    for (arch, file) in [("amd64", "dist/motd"), ("arm64", "dist/hello")] {
        let base = ImageSpec {
            repository: "base".into(),
            platform: format!("linux/{arch}").parse().unwrap(),
            entrypoint: None,
            ..spec(None, file, &format!("/{arch}"))
        };
        let dir = tempfile::tempdir().unwrap();
        let (layout, manifest) = build_into(&base, src.path(), dir.path(), None).await;
        client
            .push(&layout, &manifest, "multi", &[format!("only-{arch}")])
            .await
            .unwrap();
        let layer = layout.manifest(&manifest).unwrap().layers[0].digest.clone();
        platforms.push((arch, manifest, layer));
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": slipway::image::OCI_INDEX,
        "manifests": platforms.iter().map(|(arch, m, _)| serde_json::json!({
            "mediaType": m.media_type, "digest": m.digest, "size": m.size,
            "platform": { "os": "linux", "architecture": arch }
        })).collect::<Vec<_>>()
    });
    client
        .put_manifest(
            "multi",
            "1",
            slipway::image::OCI_INDEX,
            &serde_json::to_vec(&index).unwrap(),
        )
        .await
        .unwrap();

    for (arch, _, base_layer) in &platforms {
        let app = ImageSpec {
            platform: format!("linux/{arch}").parse().unwrap(),
            ..spec(
                Some(format!("{}/multi:1", registry.host)),
                "dist/hello",
                "/usr/local/bin/hello",
            )
        };
        let out = tempfile::tempdir().unwrap();
        let (layout, manifest) = build_into(&app, src.path(), out.path(), Some(&client)).await;
        let layers = layout.manifest(&manifest).unwrap().layers;
        assert_eq!(
            &layers[0].digest, base_layer,
            "{arch}: the {arch} base's layer"
        );
        let config: serde_json::Value = serde_json::from_slice(
            &layout
                .read_blob(&layout.manifest(&manifest).unwrap().config.digest)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(config["architecture"], *arch);
    }
    let s390 = ImageSpec {
        platform: "linux/s390x".parse().unwrap(),
        ..spec(
            Some(format!("{}/multi:1", registry.host)),
            "dist/hello",
            "/hello",
        )
    };
    let out = tempfile::tempdir().unwrap();
    let layout = Layout::create(out.path()).unwrap();
    let error = build(&s390, src.path(), &provenance(), &layout, Some(&client))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("has no image for linux/s390x"), "{error}");
}
