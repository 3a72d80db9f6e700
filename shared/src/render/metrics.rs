//! The DORA measures as `slipway metrics` and `/status` say them.

use crate::metrics::Dora;

/// `3h 20m`, `2d 4h`, `45s`: the two largest units.
pub fn span(secs: u64) -> String {
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let mut parts = Vec::new();
    let mut rest = secs;
    for (size, unit) in units {
        if rest >= size || (parts.is_empty() && size == 1) {
            parts.push(format!("{}{unit}", rest / size));
            rest %= size;
        }
        if parts.len() == 2 {
            break;
        }
    }
    parts.join(" ")
}

fn or_dash(value: Option<String>) -> String {
    value.unwrap_or_else(|| "—".to_owned())
}

/// One line: frequency, lead time, failure rate, time to restore.
pub fn dora_line(d: &Dora) -> String {
    format!(
        "{} deploy(s) in {}d ({:.2}/day) · lead time {} · change failure rate {} · time to restore {}{}",
        d.deploys,
        d.days,
        d.deploys_per_day,
        or_dash(d.lead_time_secs.map(span)),
        or_dash(
            d.change_failure_rate
                .map(|r| format!("{:.0}% ({}/{})", r * 100.0, d.failed_deploys, d.finished_deploys))
        ),
        or_dash(d.time_to_restore_secs.map(span)),
        match d.unrestored {
            0 => String::new(),
            n => format!(" ({n} not restored yet)"),
        }
    )
}

/// `/status`'s closing lines: each environment's delivery over the window.
pub fn delivery_summary(days: u64, rows: &[(String, Dora)]) -> String {
    if rows.iter().all(|(_, d)| d.finished_deploys == 0) {
        return String::new();
    }
    let mut text =
        format!("\n**Delivery, last {days} days** (`slipway metrics` explains each figure)\n");
    for (environment, dora) in rows {
        text.push_str(&format!("- `{environment}`: {}\n", dora_line(dora)));
    }
    text
}

/// `slipway metrics`: a heading per repository and environment, then its line.
pub fn metrics_report(rows: &[(String, String, Dora)]) -> String {
    if rows.is_empty() {
        return "no deployments recorded\n".to_owned();
    }
    let mut out = String::new();
    for (repo, environment, dora) in rows {
        out.push_str(&format!("{repo} {environment}: {}\n", dora_line(dora)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_show_the_two_largest_units() {
        let cases = [
            (0, "0s"),
            (45, "45s"),
            (60, "1m"),
            (3_725, "1h 2m"),
            (2 * 86_400 + 4 * 3_600 + 59, "2d 4h"),
        ];
        for (secs, want) in cases {
            assert_eq!(span(secs), want, "{secs}");
        }
    }

    #[test]
    fn the_status_summary_is_left_out_until_something_was_deployed() {
        let none = crate::metrics::dora(&[], |_| None, crate::metrics::Window { end: 0, days: 30 });
        assert_eq!(
            delivery_summary(30, &[("staging".into(), none.clone())]),
            ""
        );
        let mut some = none;
        some.finished_deploys = 1;
        some.deploys = 1;
        let text = delivery_summary(30, &[("staging".into(), some)]);
        assert!(text.contains("**Delivery, last 30 days**"), "{text}");
        assert!(text.contains("- `staging`: 1 deploy(s) in 30d"), "{text}");
    }

    #[test]
    fn a_line_with_and_without_figures() {
        let mut d = crate::metrics::dora(&[], |_| None, crate::metrics::Window { end: 0, days: 7 });
        assert_eq!(
            dora_line(&d),
            "0 deploy(s) in 7d (0.00/day) · lead time — · change failure rate — · time to restore —"
        );
        d.deploys = 3;
        d.deploys_per_day = 3.0 / 7.0;
        d.lead_time_secs = Some(5_400);
        d.failed_deploys = 1;
        d.finished_deploys = 4;
        d.change_failure_rate = Some(0.25);
        d.time_to_restore_secs = Some(1_800);
        d.unrestored = 1;
        assert_eq!(
            dora_line(&d),
            "3 deploy(s) in 7d (0.43/day) · lead time 1h 30m · change failure rate 25% (1/4) · \
             time to restore 30m (1 not restored yet)"
        );
    }
}
