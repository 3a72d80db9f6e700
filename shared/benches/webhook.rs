//! The webhook edge's CPU cost: verify + parse of a 25 KB pull_request delivery, and signature
//! verification throughput against raw SHA-256 on 1 MiB and 25 MiB bodies.
//!
//! `cargo bench -p slipway --bench webhook`; `scripts/bench-webhook` adds `openssl speed` for scale.

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use slipway::model::event::ForgeKind;
use slipway::webhook::{github, verify_and_parse, Ingress, Secret, WebhookSecrets};

const SECRET: &str = "bench-secret";

/// The opened pull request fixture, its description grown until the payload is 25,000 bytes.
fn pull_request_25kb() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/github/pull_request.opened.1.json"
    );
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    doc["pull_request"]["body"] = "".into();
    let base = serde_json::to_vec(&doc).unwrap().len();
    let words = "Fixes the flaky retry test; see the linked issue for the trace. ";
    let body: String = words.chars().cycle().take(25_000 - base).collect();
    doc["pull_request"]["body"] = body.into();
    let bytes = serde_json::to_vec(&doc).unwrap();
    assert_eq!(bytes.len(), 25_000);
    bytes
}

fn headers(body: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", "application/json".parse().unwrap());
    h.insert("x-github-event", "pull_request".parse().unwrap());
    h.insert(
        "x-github-delivery",
        "72d3162e-cc78-11e3-81ab-4c9367dc0958".parse().unwrap(),
    );
    let signature = github::signature(SECRET.as_bytes(), body);
    h.insert("x-hub-signature-256", signature.parse().unwrap());
    h
}

fn ingress() -> Ingress {
    let mut ingress = Ingress::new(WebhookSecrets {
        github: vec![Secret::new(SECRET).unwrap()],
        ..Default::default()
    });
    ingress.max_body_bytes = 32 * 1024 * 1024;
    ingress
}

fn verify_and_parse_25kb(c: &mut Criterion) {
    let body = pull_request_25kb();
    let h = headers(&body);
    let ingress = ingress();
    let now = SystemTime::now();
    let secrets = &ingress.secrets.github;
    let mut group = c.benchmark_group("pull_request_25kb");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("verify_and_parse", |b| {
        b.iter(|| verify_and_parse(&ingress, ForgeKind::Github, &h, black_box(&body), now).unwrap())
    });
    group.bench_function("verify_only", |b| {
        b.iter(|| github::verify(secrets, &h, black_box(&body)).unwrap())
    });
    group.finish();
}

fn verification_throughput(c: &mut Criterion) {
    let ingress = ingress();
    let secrets = &ingress.secrets.github;
    let mut group = c.benchmark_group("throughput");
    group.sample_size(20);
    for (label, size) in [("1MiB", 1usize << 20), ("25MiB", 25usize << 20)] {
        let body: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let h = headers(&body);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("hmac_verify", label), &body, |b, body| {
            b.iter(|| github::verify(secrets, &h, black_box(body)).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("raw_sha256", label), &body, |b, body| {
            b.iter(|| Sha256::digest(black_box(body)))
        });
    }
    group.finish();
}

criterion_group!(benches, verify_and_parse_25kb, verification_throughput);
criterion_main!(benches);
