//! The one call to GitHub: `POST /app-manifests/{code}/conversions`, which answers with the new
//! App's id, private key and webhook secret. It needs no token: the code is the credential.

use std::time::Duration;

use anyhow::Context as _;

use super::plan::{self, Conversion};

pub struct Github {
    client: reqwest::Client,
    api_url: String,
}

impl Github {
    pub fn new(api_url: &str) -> anyhow::Result<Self> {
        // Checked now, so that a mistyped URL fails before the App is made.
        plan::conversion_url(api_url, "code")?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("slipway-setup/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(30))
            .build()
            .context("cannot make an HTTP client")?;
        Ok(Github {
            client,
            api_url: api_url.to_owned(),
        })
    }

    pub async fn convert(&self, code: &str) -> anyhow::Result<Conversion> {
        let url = plan::conversion_url(&self.api_url, code)?;
        let response = self
            .client
            .post(&url)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .send()
            .await
            // The URL holds the code, which stays valid for an hour: keep it out of the error.
            .map_err(|e| anyhow::anyhow!("cannot reach {}: {}", self.api_url, e.without_url()))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| anyhow::anyhow!("GitHub's answer broke off: {}", e.without_url()))?;
        if !status.is_success() {
            anyhow::bail!(plan::refusal(status.as_u16(), &body));
        }
        plan::conversion(&body)
    }
}
