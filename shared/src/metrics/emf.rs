//! Delivery events as CloudWatch Embedded Metric Format lines: a function prints one JSON
//! document on its standard output and CloudWatch Logs turns it into metrics, with no API call
//! (and no permission) of the function's. On one machine nothing is printed.

use serde_json::{json, Value};

/// The CloudWatch namespace of Slipway's metrics (template.yaml's dashboard reads it).
pub const NAMESPACE: &str = "Slipway";

/// Something that ended, worth counting.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivered<'a> {
    Build {
        repo: &'a str,
        succeeded: bool,
        duration_secs: u64,
    },
    Deploy {
        repo: &'a str,
        environment: &'a str,
        rollback: bool,
        went_live: bool,
        lead_time_secs: Option<u64>,
    },
}

/// Where delivery events go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Telemetry {
    /// One machine: `slipway metrics` reads the records instead.
    #[default]
    Off,
    /// Lambda: one EMF line per event on standard output.
    EmbeddedMetricFormat,
}

impl Telemetry {
    pub fn record(self, event: &Delivered<'_>) {
        if self == Telemetry::EmbeddedMetricFormat {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            println!("{}", emf_line(event, now));
        }
    }
}

/// A metric's name, unit and value.
type Metric = (&'static str, &'static str, Value);

/// The EMF document for `event` at `timestamp_ms`.
pub fn emf_line(event: &Delivered<'_>, timestamp_ms: u64) -> String {
    let (dimensions, mut values, metrics): (Vec<&str>, Value, Vec<Metric>) = match *event {
        Delivered::Build {
            repo,
            succeeded,
            duration_secs,
        } => (
            vec!["Repository"],
            json!({ "Repository": repo }),
            vec![
                ("Builds", "Count", json!(1)),
                ("BuildFailures", "Count", json!(u8::from(!succeeded))),
                ("BuildDuration", "Seconds", json!(duration_secs)),
            ],
        ),
        Delivered::Deploy {
            repo,
            environment,
            rollback,
            went_live,
            lead_time_secs,
        } => {
            let mut metrics = vec![
                ("Deploys", "Count", json!(u8::from(!rollback))),
                ("DeployFailures", "Count", json!(u8::from(!went_live))),
                ("Rollbacks", "Count", json!(u8::from(rollback))),
            ];
            if let Some(lead) = lead_time_secs {
                metrics.push(("LeadTime", "Seconds", json!(lead)));
            }
            (
                vec!["Repository", "Environment"],
                json!({ "Repository": repo, "Environment": environment }),
                metrics,
            )
        }
    };
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, unit, _)| json!({ "Name": name, "Unit": unit }))
        .collect();
    for (name, _, value) in metrics {
        values[name] = value;
    }
    values["_aws"] = json!({
        "Timestamp": timestamp_ms,
        "CloudWatchMetrics": [{
            "Namespace": NAMESPACE,
            "Dimensions": [dimensions],
            "Metrics": definitions,
        }],
    });
    values.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(event: &Delivered<'_>) -> Value {
        serde_json::from_str(&emf_line(event, 1_700_000_000_000)).unwrap()
    }

    #[test]
    fn a_build_is_counted_timed_and_failed_or_not() {
        let doc = parse(&Delivered::Build {
            repo: "octo/app",
            succeeded: false,
            duration_secs: 95,
        });
        let spec = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(spec["Namespace"], NAMESPACE);
        assert_eq!(spec["Dimensions"], json!([["Repository"]]));
        assert_eq!(doc["Repository"], "octo/app");
        assert_eq!(
            (doc["Builds"].clone(), doc["BuildFailures"].clone()),
            (json!(1), json!(1))
        );
        assert_eq!(doc["BuildDuration"], 95);
        // Every metric the document declares has its value beside it.
        for metric in spec["Metrics"].as_array().unwrap() {
            assert!(
                doc.get(metric["Name"].as_str().unwrap()).is_some(),
                "{metric}"
            );
        }
    }

    #[test]
    fn deploys_and_rollbacks_by_environment() {
        let cases = [
            (false, true, Some(3600), (1, 0, 0), Some(3600)),
            (false, false, None, (1, 1, 0), None),
            (true, true, None, (0, 0, 1), None),
        ];
        for (rollback, went_live, lead, (deploys, failures, rollbacks), lead_out) in cases {
            let doc = parse(&Delivered::Deploy {
                repo: "octo/app",
                environment: "production",
                rollback,
                went_live,
                lead_time_secs: lead,
            });
            let at = format!("rollback {rollback}, live {went_live}");
            assert_eq!(doc["Environment"], "production", "{at}");
            assert_eq!(
                doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
                json!([["Repository", "Environment"]])
            );
            assert_eq!(
                (
                    doc["Deploys"].as_u64(),
                    doc["DeployFailures"].as_u64(),
                    doc["Rollbacks"].as_u64()
                ),
                (Some(deploys), Some(failures), Some(rollbacks)),
                "{at}"
            );
            assert_eq!(doc["LeadTime"].as_u64(), lead_out, "{at}");
        }
    }
}
