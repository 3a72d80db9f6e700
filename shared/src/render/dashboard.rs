//! The dashboard's pages (issue #17): runs, environments, delivery metrics, and the sign-in
//! form. HTML by maud, so every value is escaped by construction; inline styles only, no
//! script, no outside asset (it works offline and under the pages' policy); readable on a
//! phone (one column, tables scroll sideways).

use std::collections::HashSet;

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::metrics::{dora_line, span};
use crate::metrics::Dora;
use crate::model::deploy::{DeployKind, DeployStatus, DeploymentRecord};
use crate::model::run::Run;
use crate::model::status::RunStatus;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}\
header{background:#24292f;color:#fff;padding:.6rem 1rem;display:flex;gap:1rem;flex-wrap:wrap;align-items:center}\
header a{color:#fff;text-decoration:none}header a.on{font-weight:700;text-decoration:underline}\
main{padding:1rem;max-width:72rem;margin:auto}.scroll{overflow-x:auto}\
table{border-collapse:collapse;width:100%;background:#fff}td,th{padding:.35rem .6rem;border-bottom:1px solid #d0d7de;text-align:left;white-space:nowrap}\
.ok{color:#1a7f37}.bad{color:#cf222e}.wait{color:#9a6700}section{margin-bottom:1.5rem}\
code{font-size:.9em}p code{word-break:break-all}svg{background:#fff;border:1px solid #d0d7de;max-width:100%}form label{display:block;margin:.5rem 0}";

/// Which page the header marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Runs,
    Environments,
    Metrics,
}

fn layout(title: &str, tab: Option<Tab>, body: Markup) -> String {
    let link = |href: &str, name: &str, this: Tab| {
        html! { a href=(href) class=[(tab == Some(this)).then_some("on")] { (name) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Slipway" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "Slipway" }
                    (link("/runs", "Runs", Tab::Runs))
                    (link("/environments", "Environments", Tab::Environments))
                    (link("/metrics", "Metrics", Tab::Metrics))
                }
                main { h1 { (title) } (body) }
            }
        }
    }
    .into_string()
}

fn status_class(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Succeeded => "ok",
        RunStatus::Queued | RunStatus::Running => "wait",
        _ => "bad",
    }
}

fn when(unix: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix))
        .to_string()
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_owned()
}

/// A run in the list, with the signed link to its page.
pub struct RunRow<'a> {
    pub run: &'a Run,
    pub link: String,
}

/// The filters the runs list was asked for.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub status: Option<String>,
    pub branch: Option<String>,
}

pub fn runs_page(rows: &[RunRow<'_>], filter: &RunFilter) -> String {
    let body = html! {
        p { "Newest first. Filter with " code { "?status=failed" } " or " code { "?branch=main" } "." }
        @if filter.status.is_some() || filter.branch.is_some() {
            p {
                "Showing "
                @if let Some(status) = &filter.status { "status " code { (status) } " " }
                @if let Some(branch) = &filter.branch { "branch " code { (branch) } " " }
                "· " a href="/runs" { "all runs" }
            }
        }
        @if rows.is_empty() {
            p { "No runs yet." }
        } @else {
            div.scroll { table {
                tr { th { "status" } th { "repository" } th { "pull request" } th { "branch" } th { "commit" } th { "trigger" } th { "by" } th { "took" } th { "started" } }
                @for row in rows {
                    @let run = row.run;
                    tr {
                        td class=(status_class(run.status)) {
                            a href=(row.link) { (format!("{:?}", run.status).to_lowercase()) }
                        }
                        td { (run.repo.full_name) }
                        td { @if let Some(pr) = run.pr { "#" (pr.0) } }
                        td { (run.git_ref.trim_start_matches("refs/heads/")) }
                        td { code { (run.sha.short()) } }
                        td { (format!("{:?}", run.trigger).to_lowercase()) }
                        td { @if let Some(actor) = &run.actor { "@" (actor) } }
                        td { @if let Some(end) = run.finished_at { (span(end.saturating_sub(run.created_at))) } }
                        td { (when(run.created_at)) }
                    }
                }
            } }
        }
    };
    layout("Runs", Some(Tab::Runs), body)
}

/// The signed link to a deploy's log (its steps' run page), when it has one.
pub type LogLink<'a> = Box<dyn Fn(&DeploymentRecord) -> Option<String> + 'a>;

/// One environment of one repository: what runs there, who holds it, what happened.
pub struct EnvironmentView<'a> {
    pub repo: &'a str,
    pub environment: &'a str,
    /// Newest first.
    pub history: Vec<&'a DeploymentRecord>,
    pub lock_holder: Option<&'a str>,
    pub log_link: LogLink<'a>,
}

pub fn environments_page(views: &[EnvironmentView<'_>]) -> String {
    let body = html! {
        @if views.is_empty() { p { "Nothing deployed yet." } }
        @for view in views {
            @let rolled_back: HashSet<&str> = view.history.iter()
                .filter(|d| d.kind == DeployKind::Rollback && d.is_live())
                .filter_map(|d| d.previous.as_ref().map(|p| p.deployment_id.as_str()))
                .collect();
            @let current = view.history.iter().find(|d| d.is_live());
            section {
                h2 { (view.repo) " · " code { (view.environment) } }
                p {
                    @match current {
                        Some(d) => {
                            "Runs " code { (d.sha.short()) }
                            @if let Some(image) = &d.image { " (" code { (image.digest) } ")" }
                            ", deployed by @" (d.actor) " at " (when(d.finished_at.unwrap_or(d.created_ms / 1000))) "."
                        }
                        None => { "Nothing live." }
                    }
                    " "
                    @match view.lock_holder {
                        Some(holder) => { span.wait { "Locked by deploy " code { (holder) } "." } }
                        None => { "Not locked." }
                    }
                }
                div.scroll { table {
                    tr { th { "deploy" } th { "result" } th { "commit" } th { "by" } th { "when" } th { "log" } }
                    @for d in view.history.iter().take(20) {
                        tr {
                            td { code { (d.id) } " " (match d.kind { DeployKind::Deploy => "deploy", DeployKind::Auto => "auto deploy", DeployKind::Rollback => "↩ rollback" }) }
                            td {
                                @match (d.status, rolled_back.contains(d.id.as_str())) {
                                    (_, true) => span.bad { "rolled back" },
                                    (DeployStatus::Succeeded, _) => span.ok { "deployed" },
                                    (DeployStatus::Failed, _) => span.bad { "failed" },
                                    (DeployStatus::InProgress, _) => span.wait { "in progress" },
                                }
                            }
                            td { code { (d.sha.short()) } }
                            td { "@" (d.actor) }
                            td { (when(d.finished_at.unwrap_or(d.created_ms / 1000))) }
                            td { @if let Some(link) = (view.log_link)(d) { a href=(link) { "log" } } }
                        }
                    }
                } }
            }
        }
    };
    layout("Environments", Some(Tab::Environments), body)
}

/// Deploys per day as bars: a small SVG, scaled to the busiest day.
fn deploys_chart(dora: &Dora) -> Markup {
    let days = dora.deploys_by_day.len().max(1);
    let most = dora
        .deploys_by_day
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let width = days * 6;
    html! {
        svg viewBox=(format!("0 0 {width} 42")) width=(width * 3) height="126" role="img"
            aria-label=(format!("deploys per day over {days} days, at most {most}")) {
            @for (day, count) in dora.deploys_by_day.iter().enumerate() {
                @let height = count * 40 / most;
                rect x=(day * 6 + 1) y=(41 - height) width="4" height=(height) fill="#2da44e" {
                    title { (count) " deploy(s)" }
                }
            }
            line x1="0" y1="41.5" x2=(width) y2="41.5" stroke="#8c959f" stroke-width="0.5" {}
        }
    }
}

pub fn metrics_page(days: u64, rows: &[(String, String, Dora)]) -> String {
    let body = html! {
        p {
            "Over the last " (days) " days: "
            @for choice in [7u64, 30, 90] {
                @if choice == days { strong { (choice) "d" } } @else { a href=(format!("/metrics?days={choice}")) { (choice) "d" } }
                " "
            }
        }
        @if rows.is_empty() { p { "No deployments recorded." } }
        @for (repo, environment, dora) in rows {
            section {
                h2 { (repo) " · " code { (environment) } }
                p { (dora_line(dora)) }
                p { "Deploys per day" }
                (deploys_chart(dora))
            }
        }
        section {
            h2 { "How each figure is computed" }
            ul {
                li { strong { "Deployment frequency" } ": deploys that went live in the window, per day (rollbacks are not counted)." }
                li { strong { "Lead time" } ": median time from a change's first build in Slipway to the end of its deploy." }
                li { strong { "Change failure rate" } ": deploys that failed or were later rolled back, of all that ended." }
                li { strong { "Time to restore" } ": median time from a failure to the next deploy that went live." }
            }
            p { "docs/metrics.md has the full definitions; " code { "slipway metrics --json" } " prints the same figures." }
        }
    };
    layout("Delivery", Some(Tab::Metrics), body)
}

pub fn sign_in_page(refused: bool) -> String {
    let body = html! {
        @if refused { p.bad { "That token is not the dashboard's." } }
        form method="post" action="/login" {
            label { "Operator token (SLIPWAY_DASHBOARD_TOKEN) " input type="password" name="token" autocomplete="current-password" required; }
            button type="submit" { "Sign in" }
        }
    };
    layout("Sign in", None, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_nothing_is_scripted() {
        let mut run = crate::model::run::sample("0123456789abcdef");
        run.git_ref = "refs/heads/<script>alert(1)</script>".into();
        run.actor = Some("<b>mallory</b>".into());
        let page = runs_page(
            &[RunRow {
                run: &run,
                link: "/runs/x?a=1&b=2".into(),
            }],
            &RunFilter {
                status: Some("\"><img src=x>".into()),
                branch: None,
            },
        );
        assert!(
            !page.contains("<script>") && !page.contains("<img"),
            "{page}"
        );
        assert!(page.contains("&lt;script&gt;"));
        assert!(
            page.contains("@&lt;b&gt;mallory&lt;/b&gt;"),
            "who, escaped: {page}"
        );
        assert!(page.contains("href=\"/runs/x?a=1&amp;b=2\""));
    }

    #[test]
    fn the_chart_has_a_bar_per_day_scaled_to_the_busiest() {
        let mut dora =
            crate::metrics::dora(&[], |_| None, crate::metrics::Window { end: 0, days: 3 });
        dora.deploys_by_day = vec![0, 2, 1];
        let svg = deploys_chart(&dora).into_string();
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(
            svg.contains("height=\"40\""),
            "the busiest day is full height: {svg}"
        );
        assert!(svg.contains("height=\"20\""), "{svg}");
    }
}
