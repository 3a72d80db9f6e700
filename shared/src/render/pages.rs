//! The run pages `slipway serve` shows (checks link to them): steps, status, durations, the log.

use crate::model::job::BuildResult;
use crate::model::run::Run;

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

pub fn run_page(run: Option<&Run>, result: Option<&BuildResult>, log: &str) -> String {
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
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title>\
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
}
