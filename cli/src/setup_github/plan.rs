//! The pure decisions of `slipway setup github`: the manifest sent to GitHub, the URLs of the
//! flow, which callbacks are exchanged, and what GitHub's answer becomes. No I/O here.

use std::net::SocketAddr;

use anyhow::{bail, ensure, Context as _};
use serde_json::Value;
use slipway::forge::github::DEFAULT_API_URL;
use slipway::webhook::Secret;

/// One file says which permissions and events the App asks for, and a test
/// (`the_app_manifest_grants_what_each_event_it_asks_for_needs`) checks it against the code: so
/// the command embeds that file rather than a copy.
const MANIFEST: &str = include_str!("../../../infra/github-app-manifest.json");

/// GitHub refuses longer App names on its form; saying so before the browser opens is kinder.
const MAX_APP_NAME: usize = 34;

/// The manifest the page posts: the repository's, with this App's name, its webhook URL and the
/// local callback GitHub sends the browser back to.
pub fn manifest(name: &str, hook_url: &str, redirect_url: &str) -> anyhow::Result<Value> {
    let name = name.trim();
    ensure!(!name.is_empty(), "--name must not be empty");
    ensure!(
        name.chars().count() <= MAX_APP_NAME,
        "--name {name:?} is longer than the {MAX_APP_NAME} characters GitHub allows"
    );
    let mut manifest: Value =
        serde_json::from_str(MANIFEST).context("infra/github-app-manifest.json is not JSON")?;
    manifest["name"] = name.into();
    manifest["hook_attributes"]["url"] = hook_url.into();
    manifest["redirect_url"] = redirect_url.into();
    Ok(manifest)
}

/// Where GitHub delivers webhooks: the stack's `WebhookUrl` output (which ends in `/`) or a
/// server's base URL, plus `/webhooks/github` unless it is already there.
pub fn hook_url(webhook_url: &str) -> anyhow::Result<String> {
    let base = http_url("--webhook-url", webhook_url)?;
    ensure!(
        !base.contains(['?', '#']),
        "--webhook-url {webhook_url:?}: give the base URL, without a query or fragment"
    );
    Ok(if base.ends_with("/webhooks/github") {
        base
    } else {
        format!("{base}/webhooks/github")
    })
}

/// GitHub's page that creates an App from the posted manifest, in the user's account or an
/// organization's; GitHub hands `state` back on the callback.
pub fn new_app_url(github_url: &str, org: Option<&str>, state: &str) -> anyhow::Result<String> {
    let github = http_url("--github-url", github_url)?;
    Ok(match org {
        None => format!("{github}/settings/apps/new?state={state}"),
        Some(org) => {
            // Logins are letters, digits and hyphens: anything else would also change the path.
            ensure!(
                !org.is_empty() && org.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "--org {org:?} is not a GitHub organization login"
            );
            format!("{github}/organizations/{org}/settings/apps/new?state={state}")
        }
    })
}

/// The REST API that goes with `--github-url`: github.com's own, or a GitHub Enterprise
/// Server's `/api/v3`, unless `--github-api-url` names one.
pub fn api_url(github_url: &str, api_url: Option<&str>) -> anyhow::Result<String> {
    if let Some(api) = api_url {
        return http_url("--github-api-url", api);
    }
    let github = http_url("--github-url", github_url)?;
    Ok(if github.eq_ignore_ascii_case("https://github.com") {
        DEFAULT_API_URL.to_owned()
    } else {
        format!("{github}/api/v3")
    })
}

/// The conversion endpoint for a manifest code (GHES: the API URL ends in `/api/v3`).
pub fn conversion_url(api_url: &str, code: &str) -> anyhow::Result<String> {
    let api = http_url("--github-api-url", api_url)?;
    Ok(format!("{api}/app-manifests/{code}/conversions"))
}

/// An http(s) URL without its trailing slashes.
fn http_url(flag: &str, url: &str) -> anyhow::Result<String> {
    let url = url.trim();
    ensure!(
        url.starts_with("https://") || url.starts_with("http://"),
        "{flag} {url:?} must start with https:// (or http://)"
    );
    let trimmed = url.trim_end_matches('/');
    let host = trimmed.split_once("://").map_or("", |(_, rest)| rest);
    ensure!(
        !host.is_empty() && !host.starts_with('/'),
        "{flag} {url:?} has no host"
    );
    Ok(trimmed.to_owned())
}

/// This command's own base URL, which GitHub sends the browser back to: it must be an address a
/// browser can open, not a wildcard.
pub fn local_base_url(addr: SocketAddr) -> anyhow::Result<String> {
    if addr.ip().is_unspecified() {
        bail!(
            "--listen {addr}: GitHub sends the browser back to this address, so it must be one a \
             browser can open, such as 127.0.0.1:{}",
            addr.port()
        );
    }
    Ok(format!("http://{addr}"))
}

/// Whether a request's `Host` names this server. A web page that rebinds its own host name to
/// 127.0.0.1 could otherwise read the local page (and its state) from the browser.
pub fn host_allowed(host: Option<&str>, addr: SocketAddr) -> bool {
    let Some(host) = host else {
        return false;
    };
    let port = addr.port();
    let mut names = vec![addr.to_string()];
    if addr.ip().is_loopback() {
        names.push(format!("localhost:{port}"));
    }
    if port == 80 {
        // Browsers leave the default port out of `Host`.
        let bare: Vec<String> = names
            .iter()
            .filter_map(|n| n.strip_suffix(":80").map(str::to_owned))
            .collect();
        names.extend(bare);
    }
    names.iter().any(|n| n.eq_ignore_ascii_case(host))
}

/// What to do with a request to the callback.
#[derive(Debug, PartialEq, Eq)]
pub enum Callback<'a> {
    /// Turn this code into the App.
    Exchange(&'a str),
    /// Answer 400 with this text; exchange nothing.
    Refuse(&'static str),
}

/// The state must be the one this run put on the form (compared in constant time): a callback
/// with any other state may carry a code for an App someone else made, whose key would then be
/// stored as this App's. The code is checked only after that.
pub fn callback<'a>(
    expected_state: &Secret,
    state: Option<&str>,
    code: Option<&'a str>,
) -> Callback<'a> {
    match state {
        None => return Callback::Refuse(NO_STATE),
        Some(state) if !expected_state.matches(state.as_bytes()) => {
            return Callback::Refuse(WRONG_STATE)
        }
        Some(_) => {}
    }
    // GitHub's codes are short hex strings; anything else would change the request's path.
    match code {
        Some(code)
            if !code.is_empty()
                && code.len() <= 100
                && code
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            Callback::Exchange(code)
        }
        Some(_) => Callback::Refuse(BAD_CODE),
        None => Callback::Refuse(NO_CODE),
    }
}

pub const NO_STATE: &str = "This callback has no state, so nothing was exchanged. Start again \
    from the page `slipway setup github` printed.";
pub const WRONG_STATE: &str = "This callback's state is not the one this run of `slipway setup \
    github` made, so nothing was exchanged. Start again from the page it printed.";
pub const BAD_CODE: &str = "This callback's code is not one GitHub makes, so nothing was \
    exchanged.";
pub const NO_CODE: &str = "This callback has no code: GitHub did not create the App (was it \
    cancelled?).";

/// What GitHub answered for the code: the App, its private key and its webhook secret.
#[derive(Debug)]
pub struct Conversion {
    pub app: App,
    pub pem: Secret,
    /// GitHub makes one for an App with an active webhook, as the manifest asks; the schema
    /// allows none.
    pub webhook_secret: Option<Secret>,
}

/// The public facts about the new App (safe to print).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub id: u64,
    pub slug: String,
    pub html_url: String,
}

impl App {
    pub fn install_url(&self) -> String {
        format!("{}/installations/new", self.html_url.trim_end_matches('/'))
    }
}

/// GitHub's 201 answer. Errors name the missing field, never the body: it holds the key.
pub fn conversion(body: &[u8]) -> anyhow::Result<Conversion> {
    let answer: Value =
        serde_json::from_slice(body).map_err(|_| anyhow::anyhow!("GitHub's answer is not JSON"))?;
    let text = |field: &str| {
        answer[field]
            .as_str()
            .filter(|v| !v.is_empty())
            .with_context(|| format!("GitHub's answer has no `{field}`"))
    };
    let id = answer["id"]
        .as_u64()
        .context("GitHub's answer has no numeric `id`")?;
    let pem = text("pem")?;
    ensure!(
        pem.trim_start().starts_with("-----BEGIN"),
        "GitHub's answer has a `pem` that is not a PEM key"
    );
    let secret = |value: &str| Secret::new(value).expect("checked non-empty");
    Ok(Conversion {
        app: App {
            id,
            slug: text("slug")?.to_owned(),
            html_url: text("html_url")?.to_owned(),
        },
        pem: secret(pem),
        webhook_secret: answer["webhook_secret"]
            .as_str()
            .filter(|v| !v.is_empty())
            .map(secret),
    })
}

/// Why GitHub did not convert the code, for the terminal and the browser: its status, its
/// `message` when it gave one, and what to do.
pub fn refusal(status: u16, body: &[u8]) -> String {
    let message = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        v["message"]
            .as_str()
            .map(|m| m.chars().take(200).collect::<String>())
    });
    let said = message.map(|m| format!(" ({m})")).unwrap_or_default();
    let hint = match status {
        404 | 422 => "a code works once, for an hour",
        401 | 403 => "check --github-api-url",
        _ => "GitHub may be having trouble",
    };
    // GitHub made the App before it sent the browser back: a second run needs another name,
    // or the first App deleted.
    format!(
        "GitHub answered {status}{said} when asked for the new App's credentials ({hint}). \
         The App itself may exist already: delete it (Settings → Developer settings → GitHub \
         Apps) or pass another --name, then run `slipway setup github` again"
    )
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
