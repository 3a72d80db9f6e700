//! What the command writes and says once the App exists: the settings file for `slipway serve`
//! and the next steps. Pure: the caller writes the file and prints the steps.

use std::path::{Path, PathBuf};

use slipway::webhook::Secret;
use slipway::wire::settings::{
    GITHUB_API_URL, GITHUB_APP_ID, GITHUB_PRIVATE_KEY, GITHUB_WEBHOOK_SECRET,
};

use super::plan::App;

/// Where the App's private key and webhook secret went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Only a build with the `aws` feature stores there; the steps for it are pure, and tested
    /// in every build.
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    SecretsManager {
        private_key_arn: String,
        webhook_secret_arn: String,
    },
    EnvFile {
        env_file: PathBuf,
        key_file: PathBuf,
    },
}

/// The env file's text. It holds the webhook secret, so it is written (mode 0600), never
/// printed. The key stays in its own file, which `SLIPWAY_GITHUB_PRIVATE_KEY` may name: a PEM's
/// lines do not survive every env-file reader.
pub fn env_file(
    app: &App,
    webhook_secret: Option<&Secret>,
    key_file: &Path,
    api_url: Option<&str>,
) -> String {
    let mut out = format!(
        "# The GitHub App {} ({}), for `slipway serve`. Keep this file private.\n",
        app.slug, app.html_url
    );
    let mut line = |name: &str, value: &str| {
        out.push_str(&format!("{name}={}\n", shell_quote(value)));
    };
    line(GITHUB_APP_ID, &app.id.to_string());
    line(GITHUB_PRIVATE_KEY, &key_file.to_string_lossy());
    if let Some(secret) = webhook_secret {
        line(
            GITHUB_WEBHOOK_SECRET,
            &String::from_utf8_lossy(secret.expose()),
        );
    }
    if let Some(api) = api_url {
        line(GITHUB_API_URL, api);
    }
    out
}

/// A value as a POSIX shell reads it back: bare when that is unambiguous (and so also right for
/// readers that take values literally, such as `docker --env-file`), else single-quoted.
pub fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:@%+=,-".contains(c));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// What the person does next, one step a line; the terminal and the browser show the same.
/// `api_url` is the GitHub API URL when it is not github.com's.
pub fn next_steps(
    app: &App,
    stored: &Stored,
    api_url: Option<&str>,
    has_webhook_secret: bool,
) -> Vec<String> {
    let mut steps = Vec::new();
    match stored {
        Stored::SecretsManager {
            private_key_arn,
            webhook_secret_arn,
        } => {
            steps.push(format!(
                "The App's private key is in {private_key_arn} and its webhook secret in \
                 {webhook_secret_arn}."
            ));
            if !has_webhook_secret {
                steps.push(format!(
                    "GitHub sent no webhook secret: in the App's settings, set its webhook \
                     secret to the value of {webhook_secret_arn} (aws secretsmanager \
                     get-secret-value --secret-id {webhook_secret_arn})."
                ));
            }
            let api = api_url
                .map(|url| format!(" GitHubApiUrl={url}"))
                .unwrap_or_default();
            steps.push(format!(
                "Deploy again with the App's id: sam deploy --parameter-overrides \
                 GitHubAppId={}{api} (the parameters you do not name keep their values from the \
                 last deploy), or sam deploy --guided and enter {} as GitHubAppId, which also \
                 records it in samconfig.toml for later guided deploys.",
                app.id, app.id
            ));
        }
        Stored::EnvFile { env_file, key_file } => {
            steps.push(format!(
                "Wrote {} (the App's id and webhook secret) and {} (its private key), both \
                 readable only by you.",
                env_file.display(),
                key_file.display()
            ));
            if !has_webhook_secret {
                steps.push(format!(
                    "GitHub sent no webhook secret: set one in the App's settings and add it to \
                     {} as {GITHUB_WEBHOOK_SECRET}=...",
                    env_file.display()
                ));
            }
            steps.push(format!(
                "Start Slipway with them: set -a; . {}; set +a; slipway serve",
                shell_quote(&env_file.to_string_lossy())
            ));
        }
    }
    steps.push(format!(
        "Then install the App on the repositories Slipway should build: {}",
        app.install_url()
    ));
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> App {
        App {
            id: 4242,
            slug: "slipway-ci".into(),
            html_url: "https://github.com/apps/slipway-ci".into(),
        }
    }

    #[test]
    fn values_are_quoted_only_when_a_shell_would_misread_them() {
        for (value, quoted) in [
            ("4242", "4242"),
            ("/home/me/slipway.env.pem", "/home/me/slipway.env.pem"),
            (
                "https://ghe.example.com/api/v3",
                "https://ghe.example.com/api/v3",
            ),
            ("/home/me/my apps/k.pem", "'/home/me/my apps/k.pem'"),
            ("it's", r"'it'\''s'"),
            ("$HOME", "'$HOME'"),
            ("", "''"),
        ] {
            assert_eq!(shell_quote(value), quoted, "{value}");
        }
    }

    #[test]
    fn the_env_file_holds_what_serve_reads() {
        let secret = Secret::new("whs 1").unwrap();
        let key = Path::new("/srv/slipway.env.pem");
        let text = env_file(&app(), Some(&secret), key, None);
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "SLIPWAY_GITHUB_APP_ID=4242",
                "SLIPWAY_GITHUB_PRIVATE_KEY=/srv/slipway.env.pem",
                "SLIPWAY_GITHUB_WEBHOOK_SECRET='whs 1'",
            ]
        );
        let ghes = env_file(&app(), None, key, Some("https://ghe.example.com/api/v3"));
        assert!(ghes.ends_with("SLIPWAY_GITHUB_API_URL=https://ghe.example.com/api/v3\n"));
        assert!(!ghes.contains(GITHUB_WEBHOOK_SECRET), "{ghes}");
    }

    #[test]
    fn the_next_steps_follow_where_the_secrets_went() {
        let aws = Stored::SecretsManager {
            private_key_arn: "arn:pk".into(),
            webhook_secret_arn: "arn:ws".into(),
        };
        let file = Stored::EnvFile {
            env_file: "/srv/slipway.env".into(),
            key_file: "/srv/slipway.env.pem".into(),
        };
        let install = "https://github.com/apps/slipway-ci/installations/new";
        for (stored, api, has_secret, expected) in [
            (
                &aws,
                None,
                true,
                vec![
                    "arn:pk",
                    "--parameter-overrides GitHubAppId=4242 (",
                    install,
                ],
            ),
            (
                &aws,
                Some("https://ghe/api/v3"),
                true,
                vec![
                    "arn:ws",
                    "GitHubAppId=4242 GitHubApiUrl=https://ghe/api/v3 (",
                    install,
                ],
            ),
            (
                &aws,
                None,
                false,
                vec![
                    "arn:pk",
                    "GitHub sent no webhook secret",
                    "GitHubAppId=4242",
                    install,
                ],
            ),
            (
                &file,
                None,
                true,
                vec![
                    "/srv/slipway.env.pem",
                    "set -a; . /srv/slipway.env; set +a",
                    install,
                ],
            ),
            (
                &file,
                None,
                false,
                vec![
                    "/srv/slipway.env.pem",
                    "GitHub sent no webhook secret",
                    "set -a",
                    install,
                ],
            ),
        ] {
            let steps = next_steps(&app(), stored, api, has_secret);
            assert_eq!(steps.len(), expected.len(), "{steps:#?}");
            for (step, part) in steps.iter().zip(expected) {
                assert!(step.contains(part), "{step:?} lacks {part:?}");
            }
        }
    }
}
