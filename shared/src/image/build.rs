//! Assemble an image into a layout: the base's layers, one layer of the build's files, and a
//! config carrying the entrypoint, environment and provenance labels.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::layer;
use super::layout::Layout;
use super::registry::Registry;
use super::{
    Descriptor, ImageName, Manifest, DOCKER_LAYER_GZIP, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST,
};
use crate::image::ImageError;
use crate::model::image::ImageSpec;

pub const LABEL_REVISION: &str = "org.opencontainers.image.revision";
pub const LABEL_SOURCE: &str = "org.opencontainers.image.source";
pub const LABEL_CREATED: &str = "org.opencontainers.image.created";

/// Where the image comes from, for its labels.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub revision: String,
    pub source: Option<String>,
    /// Unix seconds: every mtime in the layer and the `created` time.
    pub time: u64,
}

/// Build the image for `spec` from `workdir` into `layout`; returns the manifest's descriptor.
/// `base_registry` pulls the base (`None` gives a registry for the base's own host).
pub async fn build(
    spec: &ImageSpec,
    workdir: &Path,
    provenance: &Provenance,
    layout: &Layout,
    base_registry: Option<&Registry>,
) -> Result<Descriptor, ImageError> {
    let (mut layers, base_config) = match &spec.base {
        None => (Vec::new(), None),
        Some(base) => {
            let name = ImageName::parse(base).map_err(ImageError::Invalid)?;
            let own;
            let registry = match base_registry {
                Some(r) if r.host() == name.registry => r,
                _ => {
                    own = Registry::new(&name.base_url(), None)?;
                    &own
                }
            };
            let (manifest, config) = registry.pull(&name, &spec.platform, layout).await?;
            let layers: Vec<Descriptor> = manifest.layers.into_iter().map(oci_layer).collect();
            (layers, Some(serde_json::from_slice::<Value>(&config)?))
        }
    };

    let entries = layer::entries(workdir, &spec.files).map_err(ImageError::Invalid)?;
    let temp = layout.temp_path();
    let written = {
        let temp = temp.clone();
        let time = provenance.time;
        tokio::task::spawn_blocking(move || layer::write(&entries, time, &temp)).await??
    };
    layout.adopt_blob(&temp, &written.digest)?;
    layers.push(Descriptor {
        media_type: OCI_LAYER_GZIP.into(),
        digest: written.digest.clone(),
        size: written.size,
        platform: None,
        annotations: Default::default(),
    });

    let config = config(spec, provenance, base_config, &written.diff_id);
    let config_bytes = serde_json::to_vec(&config)?;
    let config = layout.write_blob(OCI_CONFIG, &config_bytes)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        config,
        layers,
        annotations: Default::default(),
    };
    Ok(layout.write_blob(OCI_MANIFEST, &serde_json::to_vec(&manifest)?)?)
}

/// Docker's layer media type names the same bytes; an OCI manifest names them the OCI way.
fn oci_layer(mut layer: Descriptor) -> Descriptor {
    if layer.media_type == DOCKER_LAYER_GZIP {
        layer.media_type = OCI_LAYER_GZIP.into();
    }
    layer
}

/// The image config: the base's (unknown fields kept), with ours on top.
pub fn config(
    spec: &ImageSpec,
    provenance: &Provenance,
    base: Option<Value>,
    diff_id: &str,
) -> Value {
    let created = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(provenance.time),
    )
    .to_string();
    let mut root = match base {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    root.insert("created".into(), json!(created));
    root.insert("os".into(), json!(spec.platform.os));
    root.insert("architecture".into(), json!(spec.platform.architecture));
    match &spec.platform.variant {
        Some(v) => root.insert("variant".into(), json!(v)),
        None => root.remove("variant"),
    };

    let mut inner = match root.remove("config") {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    if let Some(entrypoint) = &spec.entrypoint {
        inner.insert("Entrypoint".into(), json!(entrypoint));
        // A new entrypoint does not keep the base's arguments, as in a Dockerfile.
        inner.remove("Cmd");
    }
    if let Some(cmd) = &spec.cmd {
        inner.insert("Cmd".into(), json!(cmd));
    }
    if let Some(workdir) = &spec.workdir {
        inner.insert("WorkingDir".into(), json!(workdir));
    }
    let mut env: Vec<String> = inner
        .get("Env")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for (key, value) in &spec.env {
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(format!("{key}={value}"));
    }
    if !env.is_empty() {
        inner.insert("Env".into(), json!(env));
    }
    let mut labels = match inner.remove("Labels") {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for (key, value) in &spec.labels {
        labels.insert(key.clone(), json!(value));
    }
    labels.insert(LABEL_REVISION.into(), json!(provenance.revision));
    labels.insert(LABEL_CREATED.into(), json!(created));
    if let Some(source) = &provenance.source {
        labels.insert(LABEL_SOURCE.into(), json!(source));
    }
    inner.insert("Labels".into(), Value::Object(labels));
    root.insert("config".into(), Value::Object(inner));

    let mut diff_ids: Vec<Value> = root
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    diff_ids.push(json!(diff_id));
    root.insert(
        "rootfs".into(),
        json!({ "type": "layers", "diff_ids": diff_ids }),
    );
    let mut history: Vec<Value> = root
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    history.push(
        json!({ "created": created, "created_by": "slipway", "comment": "build.image.files" }),
    );
    root.insert("history".into(), Value::Array(history));
    Value::Object(root)
}
