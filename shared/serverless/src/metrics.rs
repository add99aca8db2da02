//! CloudWatch metrics in the embedded metric format (EMF): one JSON line on
//! standard output per metric, which Lambda's log delivery turns into
//! metrics in the `VidStega` namespace (no API call, no extra permission).
//!
//! The names are constants so the template's alarms and dashboard
//! (`template.yaml`) and the code cannot drift apart: a test reads both.

use serde_json::{json, Map, Value};
use std::sync::Mutex;

/// The namespace of every metric.
pub const NAMESPACE: &str = "VidStega";
/// A job created by presign (count).
pub const JOBS_ACCEPTED: &str = "JobsAccepted";
/// A job refused by presign's admission control (count).
pub const JOBS_REFUSED: &str = "JobsRefused";
/// A job finished with its output stored (count).
pub const JOBS_DONE: &str = "JobsDone";
/// A job marked failed (count), with the dimension [`CAUSE`].
pub const JOBS_FAILED: &str = "JobsFailed";
/// A job the sweeper failed for making no progress (count).
pub const JOBS_SWEPT: &str = "JobsSwept";
/// A planner message that could never succeed (malformed, an invalid job id
/// or options), deleted on its first receive instead of retried (count).
pub const MESSAGES_REJECTED: &str = "MessagesRejected";
/// Bytes of a stored output.
pub const OUTPUT_BYTES: &str = "OutputBytes";
/// Time one segment took to embed (milliseconds).
pub const SEGMENT_MILLIS: &str = "SegmentMillis";
/// Time concat took (milliseconds).
pub const CONCAT_MILLIS: &str = "ConcatMillis";
/// The dimension of [`JOBS_FAILED`]: `input` (the user's video or message
/// could not be used) or `internal` (ours: retries ran out, a bug, AWS).
pub const CAUSE: &str = "Cause";

/// A metric's unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A count.
    Count,
    /// Bytes.
    Bytes,
    /// Milliseconds.
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Bytes => "Bytes",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// Lines captured instead of printed (tests).
static CAPTURE: Mutex<Option<Vec<Value>>> = Mutex::new(None);

/// Emits one metric with its dimensions (name, value pairs), and the job it
/// concerns as a plain property (searchable in the logs, not a dimension).
pub fn emit(name: &str, value: f64, unit: Unit, dimensions: &[(&str, &str)], job_id: Option<&str>) {
    let mut line = Map::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let names: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": now,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [names],
                "Metrics": [{ "Name": name, "Unit": unit.as_str() }],
            }],
        }),
    );
    for (k, v) in dimensions {
        line.insert((*k).into(), Value::from(*v));
    }
    if let Some(job) = job_id {
        line.insert("JobId".into(), Value::from(job));
    }
    line.insert(name.into(), json!(value));
    let line = Value::Object(line);
    let mut capture = CAPTURE.lock().unwrap_or_else(|e| e.into_inner());
    match capture.as_mut() {
        Some(lines) => lines.push(line),
        None => println!("{line}"),
    }
}

/// Captures the metrics emitted from now on instead of printing them, and
/// returns those captured so far (tests).
pub fn capture() -> Vec<Value> {
    let mut capture = CAPTURE.lock().unwrap_or_else(|e| e.into_inner());
    capture.replace(Vec::new()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_embedded_metric_format() {
        let _ = capture();
        emit(
            JOBS_FAILED,
            1.0,
            Unit::Count,
            &[(CAUSE, "input")],
            Some("job-metrics-test"),
        );
        let lines = capture();
        let line = lines.iter().find(|l| l["JobId"] == "job-metrics-test").unwrap();
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0], CAUSE);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            JOBS_FAILED
        );
        assert_eq!(line[CAUSE], "input");
        assert_eq!(line[JOBS_FAILED], 1.0);
    }
}
