//! Image push for `scripts/bench-push`, which compares it with `skopeo copy` of the same OCI
//! layout to the same registry.
//!
//! `push layout DIR LAYERS MIB_EACH`: an image of LAYERS layers of random bytes, tagged `bench`.
//! `push push DIR REGISTRY_URL REPOSITORY`: push `DIR:bench` there; prints the time taken.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use slipway::image::layer::{self, Entry};
use slipway::image::layout::Layout;
use slipway::image::registry::Registry;
use slipway::image::{Descriptor, ImageStore, Manifest, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};

fn make_layout(
    dir: &str,
    layers: usize,
    mib: usize,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let layout = Layout::create(dir)?;
    let scratch = tempfile::tempdir()?;
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for i in 0..layers {
        let source = scratch.path().join(format!("data-{i}"));
        let mut file = std::io::BufWriter::new(std::fs::File::create(&source)?);
        let mut rng = fastrand::Rng::with_seed(i as u64);
        let mut chunk = vec![0u8; 1 << 20];
        for _ in 0..mib {
            rng.fill(&mut chunk);
            file.write_all(&chunk)?;
        }
        file.flush()?;
        let entries = BTreeMap::from([(
            format!("data/{i}.bin"),
            Entry::File {
                source,
                mode: 0o644,
            },
        )]);
        let temp = layout.temp_path();
        let blob = layer::write(&entries, 0, &temp)?;
        layout.adopt_blob(&temp, &blob.digest)?;
        descriptors.push(Descriptor {
            media_type: OCI_LAYER_GZIP.into(),
            digest: blob.digest,
            size: blob.size,
            platform: None,
            annotations: BTreeMap::new(),
        });
        diff_ids.push(blob.diff_id);
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "config": {}
    });
    let config = layout.write_blob(OCI_CONFIG, &serde_json::to_vec(&config)?)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        config,
        layers: descriptors,
        annotations: BTreeMap::new(),
    };
    let manifest = layout.write_blob(OCI_MANIFEST, &serde_json::to_vec(&manifest)?)?;
    layout.tag(&manifest, "bench")?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().collect();
    match &args[1..] {
        [cmd, dir, layers, mib] if cmd == "layout" => {
            make_layout(dir, layers.parse()?, mib.parse()?)
        }
        [cmd, dir, url, repository] if cmd == "push" => {
            let layout = Layout::create(dir)?;
            let manifest = layout.find("bench")?.ok_or("the layout has no bench tag")?;
            let registry = Registry::new(url, None)?;
            let started = Instant::now();
            let (_, stats) = registry
                .push(&layout, &manifest, repository, &["latest".into()])
                .await?;
            println!(
                "slipway push: {:.3} s ({} blobs, {} bytes)",
                started.elapsed().as_secs_f64(),
                stats.blobs_uploaded,
                stats.bytes_uploaded
            );
            Ok(())
        }
        _ => {
            Err("usage: push layout DIR LAYERS MIB | push push DIR REGISTRY_URL REPOSITORY".into())
        }
    }
}
