//! Image references as people write them: `alpine:3.20`, `ghcr.io/org/app@sha256:…`,
//! `127.0.0.1:5000/base:latest`.

use std::fmt;

const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's API lives on another host than its name.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// `host[:port]`.
    pub registry: String,
    pub repository: String,
    /// A tag or a `sha256:` digest.
    pub reference: String,
}

impl ImageName {
    pub fn parse(text: &str) -> Result<ImageName, String> {
        let bad = |why: &str| format!("image reference {text:?} {why}");
        let text = text.trim();
        if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("must not be empty or contain spaces"));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                if super::digest_hex(digest).is_none() {
                    return Err(bad("has a digest that is not sha256:<64 hex digits>"));
                }
                (rest, Some(digest))
            }
            None => (text, None),
        };
        let (registry, path) = match rest.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), path.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), rest.to_owned()),
        };
        let last_slash = path.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match path[last_slash..].rfind(':') {
            Some(i) => (
                path[..last_slash + i].to_owned(),
                Some(&path[last_slash + i + 1..]),
            ),
            None => (path, None),
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if !valid_repository(&repository) {
            return Err(bad("has an invalid repository name"));
        }
        let reference = match (digest, tag) {
            (Some(digest), _) => digest.to_owned(),
            (None, Some(tag)) if valid_tag(tag) => tag.to_owned(),
            (None, Some(_)) => return Err(bad("has an invalid tag")),
            (None, None) => "latest".to_owned(),
        };
        Ok(ImageName {
            registry,
            repository,
            reference,
        })
    }

    /// `http://` for the loopback (test and local registries), `https://` for the rest.
    pub fn base_url(&self) -> String {
        registry_url(&self.registry)
    }
}

/// The API root for a registry host.
pub fn registry_url(host: &str) -> String {
    let host = if host == DOCKER_HUB {
        DOCKER_HUB_API
    } else {
        host
    };
    let loopback = ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .any(|l| host == *l || host.starts_with(&format!("{l}:")));
    if loopback {
        format!("http://{host}")
    } else {
        format!("https://{host}")
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if self.reference.starts_with("sha256:") {
            '@'
        } else {
            ':'
        };
        write!(
            f,
            "{}/{}{sep}{}",
            self.registry, self.repository, self.reference
        )
    }
}

/// The distribution spec's repository grammar: lowercase components joined by `/`.
pub fn valid_repository(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|part| {
            !part.is_empty()
                && part.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && part
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric())
                && part
                    .bytes()
                    .last()
                    .is_some_and(|b| b.is_ascii_alphanumeric())
        })
}

pub fn valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    tag.len() <= 128
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
