//! Upload one file with the S3 artifact store and report time and peak memory, for
//! `scripts/bench-upload` (which compares it with `aws s3 cp` of the same file).
//!
//! `upload FILE BUCKET KEY` with `SLIPWAY_S3_ENDPOINT` and the usual `AWS_*` variables.

use std::time::Instant;

use slipway::artifacts::s3::S3Store;
use slipway::artifacts::ArtifactStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, file, bucket, key] = &args[..] else {
        return Err("usage: upload FILE BUCKET KEY".into());
    };
    let sdk = slipway::wire::aws::sdk_config().await;
    let mut config = aws_sdk_s3::config::Builder::from(&sdk);
    if let Ok(endpoint) = std::env::var("SLIPWAY_S3_ENDPOINT") {
        config = config.endpoint_url(endpoint).force_path_style(true);
    }
    let store = S3Store::new(
        aws_sdk_s3::Client::from_conf(config.build()),
        bucket.as_str(),
    );
    let started = Instant::now();
    let stored = store
        .put_file(key, file.as_ref(), "application/octet-stream")
        .await?;
    let elapsed = started.elapsed();
    let status = std::fs::read_to_string("/proc/self/status")?;
    let peak_kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    println!(
        "slipway: {:.2} s, {} bytes, sha256 {}, peak RSS {} MiB",
        elapsed.as_secs_f64(),
        stored.size,
        stored.sha256,
        peak_kib / 1024
    );
    Ok(())
}
