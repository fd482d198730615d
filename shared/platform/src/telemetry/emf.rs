//! Metrics as CloudWatch Embedded Metric Format: one JSON document per line
//! on stdout, which CloudWatch Logs turns into metrics (no API call, no
//! latency added). The specification:
//! https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
//! Outside Lambda the same values go to the log, readably, at DEBUG.

use serde_json::{Map, Value, json};

/// The units used here, spelled as the specification lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    None,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::None => "None",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Metric<'a> {
    pub name: &'a str,
    pub unit: Unit,
    pub value: f64,
}

impl<'a> Metric<'a> {
    pub fn count(name: &'a str, value: u64) -> Self {
        Self { name, unit: Unit::Count, value: value as f64 }
    }

    pub fn milliseconds(name: &'a str, value: f64) -> Self {
        Self { name, unit: Unit::Milliseconds, value }
    }

    pub fn plain(name: &'a str, value: f64) -> Self {
        Self { name, unit: Unit::None, value }
    }
}

/// The namespace of every metric: one per stack (template.yaml sets
/// `METRICS_NAMESPACE` to `ServerlessOcr/<stack name>`).
/// Read once per process: it is asked for on every request.
pub fn namespace() -> &'static str {
    static NAMESPACE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAMESPACE.get_or_init(|| std::env::var("METRICS_NAMESPACE").unwrap_or_else(|_| "ServerlessOcr/local".into()))
}

/// One EMF document: `metrics` under one dimension set, `Service` plus
/// `dimensions`; `properties` ride along (searchable in Logs Insights, not
/// metrics: ids, say).
pub fn document(
    namespace: &str,
    service: &str,
    dimensions: &[(&str, &str)],
    metrics: &[Metric<'_>],
    properties: &[(&str, Value)],
    timestamp_ms: i64,
) -> Value {
    let mut root = Map::new();
    for (name, value) in properties {
        root.insert((*name).to_owned(), value.clone());
    }
    let mut dimension_set = vec![Value::from("Service")];
    root.insert("Service".into(), service.into());
    for (name, value) in dimensions {
        dimension_set.push((*name).into());
        root.insert((*name).to_owned(), (*value).into());
    }
    let mut definitions = Vec::new();
    for metric in metrics {
        definitions.push(json!({ "Name": metric.name, "Unit": metric.unit.as_str() }));
        root.insert(metric.name.to_owned(), json!(metric.value));
    }
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimension_set],
                "Metrics": definitions,
            }],
        }),
    );
    Value::Object(root)
}

/// Emits `metrics` for this process's service: an EMF line on stdout in
/// Lambda, a DEBUG log line elsewhere.
pub fn emit(dimensions: &[(&str, &str)], metrics: &[Metric<'_>], properties: &[(&str, Value)]) {
    if metrics.is_empty() {
        return;
    }
    if super::in_lambda() {
        let now = time::OffsetDateTime::now_utc();
        let timestamp_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        let line = document(namespace(), super::service(), dimensions, metrics, properties, timestamp_ms);
        println!("{line}");
    } else {
        let values: Vec<String> = metrics.iter().map(|m| format!("{}={}", m.name, m.value)).collect();
        let dimensions: Vec<String> = dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect();
        tracing::debug!(target: "metrics", dimensions = %dimensions.join(" "), "{}", values.join(" "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The structure the specification requires, checked member by member.
    #[test]
    fn documents_follow_the_specification() {
        let doc = document(
            "ServerlessOcr/test",
            "ocr",
            &[("Outcome", "done")],
            &[
                Metric::count("Jobs", 1),
                Metric::milliseconds("OcrMilliseconds", 412.5),
                Metric::plain("Megapixels", 0.3),
            ],
            &[("job_id", json!("01a2"))],
            1_790_000_000_000,
        );
        let aws = &doc["_aws"];
        assert_eq!(aws["Timestamp"], json!(1_790_000_000_000i64));
        let directives = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics is an array");
        assert_eq!(directives.len(), 1);
        let directive = &directives[0];
        assert_eq!(directive["Namespace"], "ServerlessOcr/test");
        let sets = directive["Dimensions"].as_array().expect("Dimensions is an array of dimension sets");
        for set in sets {
            let set = set.as_array().expect("a dimension set is an array");
            assert!(!set.is_empty() && set.len() <= 30);
            for key in set {
                // Every dimension key is a root member holding a string.
                assert!(doc[key.as_str().unwrap()].is_string(), "dimension {key} is not a string member");
            }
        }
        let metrics = directive["Metrics"].as_array().expect("Metrics is an array");
        let names: Vec<&str> = metrics.iter().map(|m| m["Name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Jobs", "OcrMilliseconds", "Megapixels"]);
        for metric in metrics {
            let name = metric["Name"].as_str().unwrap();
            // Every metric named is a root member holding a number.
            assert!(doc[name].is_number(), "metric {name} is not a number member");
            let unit = metric["Unit"].as_str().unwrap();
            assert!(["Count", "Milliseconds", "None"].contains(&unit));
        }
        assert_eq!(doc["OcrMilliseconds"], json!(412.5));
        assert_eq!(doc["Service"], "ocr");
        assert_eq!(doc["job_id"], "01a2", "properties are kept as plain members");
    }
}
