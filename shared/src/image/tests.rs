use std::collections::BTreeMap;

use super::build::{config, Provenance, LABEL_REVISION, LABEL_SOURCE};
use super::layout::Layout;
use super::registry::parse_bearer_challenge;
use super::*;
use crate::model::image::ImageFile;
use crate::model::image::ImageSpec;

#[test]
fn references_parse_as_docker_does() {
    let cases = [
        ("alpine", "docker.io", "library/alpine", "latest"),
        ("alpine:3.20", "docker.io", "library/alpine", "3.20"),
        ("org/app:v1", "docker.io", "org/app", "v1"),
        ("ghcr.io/org/app", "ghcr.io", "org/app", "latest"),
        ("127.0.0.1:5000/base:1", "127.0.0.1:5000", "base", "1"),
        ("localhost/a/b:c", "localhost", "a/b", "c"),
    ];
    for (text, registry, repository, reference) in cases {
        let name = ImageName::parse(text).unwrap();
        assert_eq!(
            (
                name.registry.as_str(),
                name.repository.as_str(),
                name.reference.as_str()
            ),
            (registry, repository, reference),
            "{text}"
        );
    }
    let digest = format!("sha256:{}", "a".repeat(64));
    let name = ImageName::parse(&format!("ghcr.io/org/app:v1@{digest}")).unwrap();
    assert_eq!(name.reference, digest);
    assert_eq!(name.to_string(), format!("ghcr.io/org/app@{digest}"));
}

#[test]
fn bad_references_are_refused() {
    for text in [
        "",
        "a b",
        "Upper/case",
        "x@sha256:abc",
        "app:-bad",
        "a//b",
        "app:",
    ] {
        assert!(ImageName::parse(text).is_err(), "{text:?}");
    }
}

#[test]
fn loopback_registries_are_plain_http() {
    assert_eq!(
        name::registry_url("127.0.0.1:5000"),
        "http://127.0.0.1:5000"
    );
    assert_eq!(name::registry_url("localhost"), "http://localhost");
    assert_eq!(name::registry_url("ghcr.io"), "https://ghcr.io");
    assert_eq!(
        name::registry_url("docker.io"),
        "https://registry-1.docker.io"
    );
    assert_eq!(
        name::registry_url("127.0.0.1.evil.example"),
        "https://127.0.0.1.evil.example"
    );
}

#[test]
fn platforms_parse() {
    assert_eq!(
        "linux/amd64".parse::<Platform>().unwrap(),
        Platform::default()
    );
    let arm: Platform = "linux/arm64/v8".parse().unwrap();
    assert_eq!(arm.variant.as_deref(), Some("v8"));
    for bad in ["linux", "linux/", "a/b/c/d", "linux/am d64"] {
        assert!(bad.parse::<Platform>().is_err(), "{bad}");
    }
}

#[test]
fn bearer_challenges_parse() {
    let params = parse_bearer_challenge(
        r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
    )
    .unwrap();
    assert_eq!(params["realm"], "https://auth.docker.io/token");
    assert_eq!(params["service"], "registry.docker.io");
    assert_eq!(params["scope"], "repository:library/alpine:pull");
    assert!(parse_bearer_challenge(r#"Basic realm="x""#).is_none());
    let bare = parse_bearer_challenge("Bearer realm=x").unwrap();
    assert_eq!(bare["realm"], "x");
}

#[test]
fn an_index_picks_the_platform() {
    let entry = |arch: &str, variant: Option<&str>| Descriptor {
        platform: Some(DescriptorPlatform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: variant.map(Into::into),
        }),
        ..Descriptor::of(OCI_MANIFEST, arch.as_bytes())
    };
    let index = Index {
        schema_version: 2,
        media_type: Some(OCI_INDEX.into()),
        manifests: vec![entry("arm64", Some("v8")), entry("amd64", None)],
    };
    assert_eq!(
        index.pick(&Platform::default()).unwrap().digest,
        sha256_digest(b"amd64")
    );
    let arm: Platform = "linux/arm64".parse().unwrap();
    assert_eq!(index.pick(&arm).unwrap().digest, sha256_digest(b"arm64"));
    let s390: Platform = "linux/s390x".parse().unwrap();
    assert!(index.pick(&s390).is_none());
}

fn spec(files: Vec<ImageFile>) -> ImageSpec {
    ImageSpec {
        repository: "hello".into(),
        base: None,
        platform: Platform::default(),
        files,
        entrypoint: Some(vec!["/usr/local/bin/hello".into()]),
        cmd: None,
        env: BTreeMap::from([("PORT".into(), "8080".into())]),
        workdir: Some("/".into()),
        labels: BTreeMap::new(),
    }
}

#[test]
fn the_config_keeps_the_base_and_adds_provenance() {
    let base = serde_json::json!({
        "architecture": "amd64", "os": "linux", "unknown": 1,
        "config": { "Env": ["PATH=/bin", "PORT=1"], "Cmd": ["sh"], "Labels": { "base": "yes" } },
        "rootfs": { "type": "layers", "diff_ids": ["sha256:base"] },
        "history": [{ "created_by": "base" }]
    });
    let provenance = Provenance {
        revision: "abc".into(),
        source: Some("https://github.com/o/r".into()),
        time: 1_700_000_000,
    };
    let config = config(&spec(vec![]), &provenance, Some(base), "sha256:new");
    assert_eq!(config["unknown"], 1);
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    assert_eq!(config["config"]["Entrypoint"][0], "/usr/local/bin/hello");
    assert!(
        config["config"].get("Cmd").is_none(),
        "a new entrypoint drops the base's Cmd"
    );
    assert_eq!(
        config["config"]["Env"],
        serde_json::json!(["PATH=/bin", "PORT=8080"])
    );
    assert_eq!(config["config"]["Labels"]["base"], "yes");
    assert_eq!(config["config"]["Labels"][LABEL_REVISION], "abc");
    assert_eq!(
        config["config"]["Labels"][LABEL_SOURCE],
        "https://github.com/o/r"
    );
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!(["sha256:base", "sha256:new"])
    );
    assert_eq!(config["history"].as_array().unwrap().len(), 2);
}

fn layer_of(dir: &std::path::Path, files: &[ImageFile], time: u64) -> (layer::LayerBlob, Vec<u8>) {
    let entries = layer::entries(dir, files).unwrap();
    let out = tempfile::NamedTempFile::new().unwrap();
    let blob = layer::write(&entries, time, out.path()).unwrap();
    (blob, std::fs::read(out.path()).unwrap())
}

#[test]
fn layers_are_reproducible_and_normalised() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dist/static")).unwrap();
    std::fs::write(dir.path().join("dist/hello"), b"#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(
        dir.path().join("dist/hello"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    std::fs::write(dir.path().join("dist/static/b.txt"), b"b").unwrap();
    std::fs::write(dir.path().join("dist/static/a.txt"), b"a").unwrap();
    let files = vec![
        ImageFile {
            from: "dist/static".into(),
            to: "/srv/www".into(),
            mode: None,
        },
        ImageFile {
            from: "dist/hello".into(),
            to: "/usr/local/bin/hello".into(),
            mode: Some(0o755),
        },
    ];
    let (first, bytes) = layer_of(dir.path(), &files, 1_700_000_000);
    // Touch the sources: mtimes and order on disk must not matter.
    std::fs::write(dir.path().join("dist/static/a.txt"), b"a").unwrap();
    let (second, _) = layer_of(dir.path(), &files, 1_700_000_000);
    assert_eq!(first, second);
    let (other_time, _) = layer_of(dir.path(), &files, 1);
    assert_ne!(first.digest, other_time.digest);
    assert_eq!(first.digest, sha256_digest(&bytes));
    assert_eq!(first.size, bytes.len() as u64);

    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let listed: Vec<(String, u32, u64, u64)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.mtime().unwrap(),
            )
        })
        .collect();
    let names: Vec<&str> = listed.iter().map(|l| l.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "srv/",
            "srv/www/",
            "srv/www/a.txt",
            "srv/www/b.txt",
            "usr/",
            "usr/local/",
            "usr/local/bin/",
            "usr/local/bin/hello"
        ]
    );
    assert!(listed.iter().all(|l| l.2 == 0 && l.3 == 1_700_000_000));
    assert_eq!(listed[2].1, 0o644);
    assert_eq!(listed[7].1, 0o755);
    // gzip header: no name flag, mtime zero.
    assert_eq!(bytes[3] & 0x08, 0);
    assert_eq!(&bytes[4..8], &[0, 0, 0, 0]);
}

#[test]
fn files_outside_the_checkout_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"x").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link")).unwrap();
    let files = [ImageFile {
        from: "link".into(),
        to: "/x".into(),
        mode: None,
    }];
    assert!(layer::entries(dir.path(), &files)
        .unwrap_err()
        .contains("outside the checkout"));
    let missing = [ImageFile {
        from: "nope".into(),
        to: "/x".into(),
        mode: None,
    }];
    assert!(layer::entries(dir.path(), &missing).is_err());
}

#[test]
fn layout_tags_move_and_survive_other_tags() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path()).unwrap();
    let one = layout.write_blob(OCI_MANIFEST, b"{\"one\":1}").unwrap();
    let two = layout.write_blob(OCI_MANIFEST, b"{\"two\":2}").unwrap();
    layout.tag(&one, "sha-1").unwrap();
    layout.tag(&one, "env-staging").unwrap();
    layout.tag(&two, "env-staging").unwrap();
    assert_eq!(layout.find("sha-1").unwrap().unwrap().digest, one.digest);
    assert_eq!(
        layout.find("env-staging").unwrap().unwrap().digest,
        two.digest
    );
    assert_eq!(layout.index().unwrap().manifests.len(), 2);
    assert!(layout.find("missing").unwrap().is_none());
    assert!(dir.path().join("oci-layout").is_file());
}
