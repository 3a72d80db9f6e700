//! Container images: what `build.image` asks for, and what a push published.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `build.image` in `.slipway.yml`: what goes into the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSpec {
    /// The repository name in the registry, e.g. `hello-service`.
    pub repository: String,
    /// A reference to pull, or `None` for `scratch`.
    pub base: Option<String>,
    pub platform: Platform,
    pub files: Vec<ImageFile>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub workdir: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// A file or directory of the checkout, put at `to` in the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageFile {
    /// Relative to the checkout.
    pub from: String,
    /// Absolute in the image.
    pub to: String,
    /// Permission bits; by default 0755 for executables and directories, 0644 for the rest.
    pub mode: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// The platform an image is built for when its config names none: the building machine's
/// own (Linux on this CPU), so an image built on the arm64 CodeBuild fleet runs there and on
/// Graviton, and one built by `slipway run` on a laptop runs on that laptop.
impl Default for Platform {
    fn default() -> Self {
        Platform {
            os: "linux".into(),
            architecture: oci_architecture(std::env::consts::ARCH).into(),
            variant: None,
        }
    }
}

/// The OCI (Go) name of a Rust target architecture.
fn oci_architecture(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other, // arm, riscv64, s390x, loongarch64: the same name in both
    }
}

impl std::str::FromStr for Platform {
    type Err = String;

    /// `linux/amd64`, `linux/arm64/v8`.
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric());
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: (*os).into(),
                architecture: (*arch).into(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform {
                os: (*os).into(),
                architecture: (*arch).into(),
                variant: Some((*variant).into()),
            }),
            _ => Err(format!(
                "platform {s:?} must look like linux/amd64 or linux/arm64/v8"
            )),
        }
    }
}

/// An image a build published: `repository@digest`, and the tags that point at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedImage {
    /// Where it lives, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello-service`.
    pub repository: String,
    /// The repository as the store knows it (`build.image.repository`), for retags.
    #[serde(default)]
    pub name: String,
    pub digest: String,
    pub tags: Vec<String>,
}

impl PublishedImage {
    /// The immutable reference deploys use.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.repository, self.digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_platform_is_the_building_machines() {
        for (rust, oci) in [
            ("x86_64", "amd64"),
            ("aarch64", "arm64"),
            ("x86", "386"),
            ("riscv64", "riscv64"),
        ] {
            assert_eq!(oci_architecture(rust), oci);
        }
        let here = Platform::default();
        assert_eq!(here.os, "linux");
        assert_eq!(here.architecture, oci_architecture(std::env::consts::ARCH));
    }
}
