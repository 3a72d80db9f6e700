//! The run pages `slipway serve` shows (checks link to them): steps, status, durations, the log.

use crate::model::job::BuildResult;
use crate::model::run::Run;

/// The pages carry only inline styles; nothing may be scripted, framed, or submitted.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Every page's and download's security headers, wherever it is served: no sniffing a download
/// into HTML, the policy above, no `Referer` carrying a signed link to another site, and no
/// cache keeping a page a link opened.
pub const PAGE_HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
];

/// Add [`PAGE_HEADERS`] to an answer's headers; one it sets itself (the sign-in form's policy:
/// it posts) stays.
pub fn add_page_headers(headers: &mut http::HeaderMap) {
    for (name, value) in PAGE_HEADERS {
        headers
            .entry(name)
            .or_insert(http::HeaderValue::from_static(value));
    }
}

/// Text made safe to place in HTML.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Seconds between reloads of the page of a run that has not finished: the log grows in place.
pub const REFRESH_SECS: u32 = 5;

pub fn run_page(run: Option<&Run>, result: Option<&BuildResult>, log: &str) -> String {
    // Reloaded by the browser itself: the pages' policy allows no script.
    let refresh = match run {
        Some(run) if !run.status.is_finished() => {
            format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">")
        }
        _ => String::new(),
    };
    let title = match run {
        Some(run) => format!(
            "{} — {}",
            super::finished_title(run, result),
            run.sha.short()
        ),
        None => "Build".to_owned(),
    };
    let mut steps = String::new();
    if let Some(result) = result {
        steps.push_str("<table><tr><th>step</th><th>result</th><th>time</th></tr>");
        for step in &result.steps {
            steps.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{:.1}s</td></tr>",
                html_escape(&step.name),
                html_escape(&format!("{:?}", step.status).to_lowercase()),
                step.duration_ms as f64 / 1000.0
            ));
        }
        steps.push_str("</table>");
    }
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">{refresh}<title>{t}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2rem}}pre{{background:#111;color:#eee;padding:1rem;overflow:auto}}\
         td,th{{padding:.2rem .8rem;text-align:left}}</style></head><body><h1>{t}</h1>{steps}<h2>Log</h2><pre>{log}</pre></body></html>",
        t = html_escape(&title),
        log = html_escape(log),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            html_escape("<script>alert('x')</script> & \""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;"
        );
        let page = run_page(None, None, "<img src=x onerror=alert(1)>");
        assert!(!page.contains("<img"));
    }

    #[test]
    fn a_running_build_reloads_and_a_finished_one_does_not() {
        use crate::model::status::RunStatus;
        let mut run = crate::model::run::sample("r1");
        run.status = RunStatus::Running;
        assert!(run_page(Some(&run), None, "").contains("http-equiv=\"refresh\""));
        run.status = RunStatus::Succeeded;
        assert!(!run_page(Some(&run), None, "").contains("refresh"));
    }
}
