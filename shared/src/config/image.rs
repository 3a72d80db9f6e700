//! `build.image`: what the image is made of, checked like the rest of the file.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{env_map, At, ConfigError};
use crate::image::name::valid_repository;
use crate::image::ImageName;
use crate::model::image::{ImageFile, ImageSpec, Platform};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawImage {
    repository: Spanned<String>,
    #[serde(default)]
    base: Option<Spanned<String>>,
    #[serde(default)]
    platform: Option<Spanned<String>>,
    #[serde(default)]
    files: Vec<Spanned<RawImageFile>>,
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    workdir: Option<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImageFile {
    from: String,
    to: String,
    #[serde(default)]
    mode: Option<String>,
}

pub(super) fn image(raw: RawImage, at: At) -> Result<ImageSpec, ConfigError> {
    let repository = raw.repository.value.trim().to_owned();
    if !valid_repository(&repository) {
        return Err(at(
            &raw.repository.referenced,
            format!("build.image.repository {repository:?} must be lowercase letters, digits, and . _ - separated by /"),
        ));
    }
    let base = match raw.base {
        None => None,
        Some(b) if b.value.trim() == "scratch" => None,
        Some(b) => {
            let text = b.value.trim().to_owned();
            ImageName::parse(&text).map_err(|e| at(&b.referenced, e))?;
            Some(text)
        }
    };
    let platform = match raw.platform {
        None => Platform::default(),
        Some(p) => p.value.trim().parse().map_err(|e| at(&p.referenced, e))?,
    };
    let mut files = Vec::new();
    for (i, file) in raw.files.into_iter().enumerate() {
        let RawImageFile { from, to, mode } = file.value;
        let field = format!("build.image.files[{i}]");
        let relative_ok =
            !from.is_empty() && !from.starts_with('/') && !from.split('/').any(|p| p == "..");
        if !relative_ok {
            let message =
                format!("{field}.from {from:?} must be relative to the checkout, without ..");
            return Err(at(&file.referenced, message));
        }
        if !to.starts_with('/') || to.split('/').any(|p| p == "..") || to.contains('\0') {
            let message =
                format!("{field}.to {to:?} must be an absolute path in the image, without ..");
            return Err(at(&file.referenced, message));
        }
        let mode = match mode {
            None => None,
            Some(m) => match u32::from_str_radix(m.trim(), 8) {
                Ok(bits) if bits <= 0o7777 => Some(bits),
                _ => {
                    let message =
                        format!("{field}.mode {m:?} must be octal permission bits like \"0755\"");
                    return Err(at(&file.referenced, message));
                }
            },
        };
        files.push(ImageFile { from, to, mode });
    }
    let env = env_map(raw.env, "build.image.env", at)?;
    let workdir = match raw.workdir {
        None => None,
        Some(w) if w.value.starts_with('/') => Some(w.value),
        Some(w) => {
            let message = format!("build.image.workdir {:?} must be an absolute path", w.value);
            return Err(at(&w.referenced, message));
        }
    };
    Ok(ImageSpec {
        repository,
        base,
        platform,
        files,
        entrypoint: raw.entrypoint,
        cmd: raw.cmd,
        env,
        workdir,
        labels: raw.labels,
    })
}
