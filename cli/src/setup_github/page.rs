//! The local pages the browser sees: the form that sends the manifest to GitHub, and what came
//! of GitHub's callback. Self-contained HTML (no script, no outside assets); every value is
//! escaped.

use slipway::render::html_escape as escape;

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:42em;margin:3em auto;\
         padding:0 1em}}code{{overflow-wrap:anywhere}}button{{font-size:1em;padding:.5em 1em}}\
         </style></head>\n<body>\n<h1>{}</h1>\n{body}\n</body></html>\n",
        escape(title),
        escape(title)
    )
}

/// What the form will do, for the person about to press its button.
pub struct Form<'a> {
    /// GitHub's "new App" page, with this run's state.
    pub action: &'a str,
    /// The manifest's JSON.
    pub manifest: &'a str,
    pub name: &'a str,
    pub owner: &'a str,
    pub hook_url: &'a str,
    /// Where the key and secret will go, in words.
    pub destination: &'a str,
}

pub fn form(f: &Form) -> String {
    let body = format!(
        "<p>This creates the GitHub App <strong>{name}</strong> for {owner}, with the \
         permissions and events Slipway needs and its webhook pointed at <code>{hook}</code>.</p>\n\
         <p>GitHub shows what the App asks for and lets you change its name before you confirm. \
         It then sends this browser back here, and <code>slipway setup github</code> stores the \
         App's private key and webhook secret in {destination}. Neither is shown.</p>\n\
         <form method=\"post\" action=\"{action}\">\n\
         <input type=\"hidden\" name=\"manifest\" value=\"{manifest}\">\n\
         <button type=\"submit\">Create the GitHub App on GitHub</button>\n</form>",
        name = escape(f.name),
        owner = escape(f.owner),
        hook = escape(f.hook_url),
        destination = escape(f.destination),
        action = escape(f.action),
        manifest = escape(f.manifest),
    );
    page("Create Slipway's GitHub App", &body)
}

/// The App exists and its secrets are stored: the same next steps as the terminal's.
pub fn created(slug: &str, id: u64, steps: &[String]) -> String {
    let items: String = steps
        .iter()
        .map(|s| format!("<li>{}</li>\n", escape(s)))
        .collect();
    let body = format!(
        "<p>GitHub created the App <strong>{}</strong> (id {id}). Next:</p>\n<ol>\n{items}</ol>\n\
         <p>The terminal says the same; you can close this page.</p>",
        escape(slug)
    );
    page("The GitHub App was created", &body)
}

pub fn failed(message: &str) -> String {
    let body = format!(
        "<p>{}</p>\n<p>The terminal says the same; you can close this page.</p>",
        escape(message)
    );
    page("The GitHub App was not set up", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_stays_text() {
        for (text, escaped) in [
            ("plain", "plain"),
            ("<script>", "&lt;script&gt;"),
            (r#"{"a":"b & c"}"#, "{&quot;a&quot;:&quot;b &amp; c&quot;}"),
            ("it's", "it&#39;s"),
        ] {
            assert_eq!(escape(text), escaped);
        }
    }

    #[test]
    fn the_form_posts_the_manifest_to_github() {
        let html = form(&Form {
            action: "https://github.com/settings/apps/new?state=ab",
            manifest: r#"{"name":"<b>"}"#,
            name: "<b>",
            owner: "your account",
            hook_url: "https://x/webhooks/github",
            destination: "AWS Secrets Manager",
        });
        assert!(html.contains(
            r#"<form method="post" action="https://github.com/settings/apps/new?state=ab">"#
        ));
        assert!(html.contains(
            r#"<input type="hidden" name="manifest" value="{&quot;name&quot;:&quot;&lt;b&gt;&quot;}">"#
        ));
        assert!(!html.contains("<b>"), "{html}");
        assert!(!html.contains("<script"), "{html}");
    }
}
