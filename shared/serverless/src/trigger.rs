//! What a message on the jobs queue asks for.
//!
//! The queue carries S3 event notifications (from uploads under `uploads/`),
//! the `s3:TestEvent` S3 sends when notifications are configured, and job
//! messages sent directly. Notification keys arrive URL-encoded (`+` for a
//! space).

use percent_encoding::percent_decode_str;
use serde::Deserialize;
use vidstega_pipeline::contract::JobMessage;

/// A parsed queue message.
#[derive(Clone, Debug, PartialEq)]
pub enum Trigger {
    /// S3's test message: nothing to do.
    TestEvent,
    /// Objects were created.
    Uploads(Vec<Upload>),
    /// A job message.
    Job(JobMessage),
}

/// One created object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    /// Its bucket.
    pub bucket: String,
    /// Its key, decoded.
    pub key: String,
    /// The event name, e.g. `ObjectCreated:Put`.
    pub event: String,
}

/// The fields of an S3 notification the planner reads. Lenient on purpose:
/// some S3-compatible servers omit `userIdentity` and `requestParameters`,
/// which the full `aws_lambda_events` record requires.
#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "Records")]
    records: Vec<NotificationRecord>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NotificationRecord {
    #[serde(default)]
    event_name: String,
    s3: NotificationEntity,
}

#[derive(Deserialize)]
struct NotificationEntity {
    bucket: NotificationBucket,
    object: NotificationObject,
}

#[derive(Deserialize)]
struct NotificationBucket {
    name: String,
}

#[derive(Deserialize)]
struct NotificationObject {
    key: String,
}

/// Decodes an S3 notification key: `+` is a space, then percent-decoding.
pub fn decode_key(key: &str) -> String {
    percent_decode_str(&key.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Parses a queue message body.
pub fn parse_trigger(body: &str) -> Result<Trigger, String> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("the message is not JSON: {e}"))?;
    if value.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
        return Ok(Trigger::TestEvent);
    }
    if value.get("Records").is_some() {
        let n: Notification =
            serde_json::from_value(value).map_err(|e| format!("not a usable S3 notification: {e}"))?;
        return Ok(Trigger::Uploads(
            n.records
                .into_iter()
                .map(|r| Upload {
                    bucket: r.s3.bucket.name,
                    key: decode_key(&r.s3.object.key),
                    event: r.event_name,
                })
                .collect(),
        ));
    }
    serde_json::from_value::<JobMessage>(value)
        .map(Trigger::Job)
        .map_err(|e| format!("neither an S3 notification nor a job message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_decoded() {
        assert_eq!(
            decode_key("uploads/job-1234abcd/my+video%281%29.mp4"),
            "uploads/job-1234abcd/my video(1).mp4"
        );
        assert_eq!(
            decode_key("uploads%2Fjob-1234abcd%2Fvideo"),
            "uploads/job-1234abcd/video"
        );
    }

    #[test]
    fn bodies_are_classified() {
        assert_eq!(
            parse_trigger(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#).unwrap(),
            Trigger::TestEvent
        );
        let moto = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put",
            "s3":{"bucket":{"name":"b","arn":"arn:aws:s3:::b"},"object":{"key":"uploads%2Fjob-1234abcd%2Fvideo","size":3}}}]}"#;
        match parse_trigger(moto).unwrap() {
            Trigger::Uploads(u) => assert_eq!(u[0].key, "uploads/job-1234abcd/video"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_trigger(r#"{"job_id":"job-1234abcd"}"#).unwrap(),
            Trigger::Job(_)
        ));
        assert!(parse_trigger("not json").is_err());
        assert!(parse_trigger(r#"{"job_id":"x","evil":1}"#).is_err());
    }
}
