//! The forge clients the settings describe: GitHub (an App, or a token) and GitLab.

#[cfg(feature = "forges")]
use crate::forge::Forges;
use crate::model::secret::Secret;
use crate::wire::settings::{
    Env, SettingsError, GITHUB_API_URL, GITHUB_APP_ID, GITHUB_PRIVATE_KEY, GITHUB_TOKEN,
    GITLAB_TOKEN, GITLAB_URL,
};

/// GitHub as an App (`SLIPWAY_GITHUB_APP_ID` + `SLIPWAY_GITHUB_PRIVATE_KEY`, preferred) or with
/// `SLIPWAY_GITHUB_TOKEN`; GitLab with `SLIPWAY_GITLAB_TOKEN`.
#[cfg(feature = "forges")]
pub fn forges(env: &Env) -> Result<Forges, SettingsError> {
    use crate::forge::github::{GithubAuth, GithubClient, DEFAULT_API_URL};
    use crate::forge::gitlab::GitlabForge;
    use crate::forge::retry::RetryPolicy;

    let invalid = |name: &'static str| {
        move |e: crate::forge::ForgeError| SettingsError::Invalid {
            name,
            reason: e.to_string(),
        }
    };
    let github_auth = match (
        env.get(GITHUB_APP_ID),
        env.get(GITHUB_PRIVATE_KEY),
        env.get(GITHUB_TOKEN),
    ) {
        (Some(id), Some(key), _) => {
            let app_id = id.trim().parse().map_err(|_| SettingsError::Invalid {
                name: GITHUB_APP_ID,
                reason: "must be the App's numeric id".into(),
            })?;
            let pem = if key.trim_start().starts_with("-----BEGIN") {
                key.as_bytes().to_vec()
            } else {
                std::fs::read(key.trim()).map_err(|e| SettingsError::Invalid {
                    name: GITHUB_PRIVATE_KEY,
                    reason: format!("neither PEM text nor a readable file: {e}"),
                })?
            };
            Some(GithubAuth::app(app_id, &pem).map_err(invalid(GITHUB_PRIVATE_KEY))?)
        }
        (Some(_), None, _) | (None, Some(_), _) => {
            return Err(SettingsError::Invalid {
                name: GITHUB_APP_ID,
                reason: format!("a GitHub App needs both {GITHUB_APP_ID} and {GITHUB_PRIVATE_KEY}"),
            })
        }
        (None, None, Some(token)) => {
            Some(GithubAuth::Token(Secret::new(token).map_err(|source| {
                SettingsError::Secret {
                    name: GITHUB_TOKEN,
                    source,
                }
            })?))
        }
        (None, None, None) => None,
    };
    let github = github_auth
        .map(|auth| {
            let url = env.get(GITHUB_API_URL).unwrap_or(DEFAULT_API_URL);
            GithubClient::new(url, auth, RetryPolicy::default()).map_err(invalid(GITHUB_API_URL))
        })
        .transpose()?;
    let gitlab = env
        .get(GITLAB_TOKEN)
        .map(|token| {
            let token = Secret::new(token).map_err(|source| SettingsError::Secret {
                name: GITLAB_TOKEN,
                source,
            })?;
            let url = env.get(GITLAB_URL).unwrap_or("https://gitlab.com");
            GitlabForge::new(url, &token, RetryPolicy::default()).map_err(invalid(GITLAB_TOKEN))
        })
        .transpose()?;
    Ok(Forges {
        github,
        gitlab,
        ..Forges::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn forges_from_settings() {
        let none = forges(&Env::default()).unwrap();
        assert!(none.github.is_none() && none.gitlab.is_none());
        let both = forges(&Env::from_pairs([
            (GITHUB_TOKEN, "ghp_x"),
            (GITLAB_TOKEN, "glpat-x"),
        ]))
        .unwrap();
        assert!(both.github.is_some() && both.gitlab.is_some());
        let half_app = forges(&Env::from_pairs([(GITHUB_APP_ID, "12")]));
        assert!(matches!(half_app, Err(SettingsError::Invalid { .. })));
        let bad_key = forges(&Env::from_pairs([
            (GITHUB_APP_ID, "12"),
            (GITHUB_PRIVATE_KEY, "-----BEGIN nothing"),
        ]));
        let err = bad_key.err().unwrap().to_string();
        assert!(err.contains(GITHUB_PRIVATE_KEY), "{err}");
    }
}
