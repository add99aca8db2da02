//! The SQS event source mapping (jobs queue → planner), as Lambda's poller
//! runs one: long-poll the queue for up to `BatchSize` messages, invoke the
//! function once with them as an SQS event, then delete what succeeded.
//!
//! * A function error (or a service error) fails the whole batch: nothing is
//!   deleted.
//! * With `ReportBatchItemFailures`, the messages the function lists in
//!   `batchItemFailures` are not deleted; an empty or missing list is a full
//!   success; an identifier that is empty or not in the batch, or an answer
//!   that is not such a document, fails the whole batch (Lambda's rules).
//! * Messages not deleted come back after the queue's visibility timeout;
//!   after `maxReceiveCount` receives the queue's redrive policy moves them to
//!   the dead-letter queue. That is SQS's job, not the poller's: moto 5.2.5
//!   implements it (the receive after the last allowed one moves the message
//!   and returns nothing), so the shim relies on it, as Lambda relies on SQS.
//!
//! One poller, no batching window (`MaximumBatchingWindowInSeconds` 0).

use super::front::Invoker;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::runtime::Handle;

/// What the mapping polls and invokes.
#[derive(Clone, Debug)]
pub struct Mapping {
    /// The queue's URL.
    pub queue_url: String,
    /// The queue's ARN (`eventSourceARN`).
    pub queue_arn: String,
    /// The function invoked.
    pub function: String,
    /// `BatchSize`.
    pub batch_size: i32,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub report_batch_item_failures: bool,
    /// `awsRegion`.
    pub region: String,
}

/// One invocation of the function with a batch.
#[derive(Clone, Debug)]
pub struct Batch {
    /// The messages: id and `ApproximateReceiveCount`.
    pub messages: Vec<(String, u32)>,
    /// The function (or service) error, if the invocation failed.
    pub error: Option<String>,
    /// The ids the function reported as failed.
    pub reported_failures: Vec<String>,
    /// The ids deleted from the queue.
    pub deleted: Vec<String>,
}

/// A running mapping: polls until dropped.
pub struct EventSource {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    batches: Arc<Mutex<Vec<Batch>>>,
    problems: Arc<Mutex<Vec<String>>>,
}

/// The SQS event record Lambda passes for `m`.
fn record(m: &aws_sdk_sqs::types::Message, mapping: &Mapping) -> Value {
    let attributes: Map<String, Value> = m
        .attributes()
        .map(|a| {
            a.iter()
                .map(|(k, v)| (k.as_str().to_string(), Value::String(v.clone())))
                .collect()
        })
        .unwrap_or_default();
    let message_attributes: Map<String, Value> = m
        .message_attributes()
        .map(|a| {
            a.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        json!({
                            "stringValue": v.string_value(),
                            "stringListValues": [],
                            "binaryListValues": [],
                            "dataType": v.data_type(),
                        }),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "messageId": m.message_id(),
        "receiptHandle": m.receipt_handle(),
        "body": m.body(),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": m.md5_of_body(),
        "eventSource": "aws:sqs",
        "eventSourceARN": mapping.queue_arn,
        "awsRegion": mapping.region,
    })
}

/// The ids to keep (not delete) after the function answered `response`:
/// `None` means the whole batch failed.
fn failures(response: &[u8], ids: &[String]) -> Option<Vec<String>> {
    if response.is_empty() {
        return Some(Vec::new());
    }
    let value: Value = serde_json::from_slice(response).ok()?;
    let list = match value.get("batchItemFailures") {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return None,
    };
    list.iter()
        .map(|item| {
            let id = item.get("itemIdentifier")?.as_str()?;
            (!id.is_empty() && ids.iter().any(|i| i == id)).then(|| id.to_string())
        })
        .collect()
}

impl EventSource {
    /// Starts polling `mapping.queue_url` with `sqs` (on `handle`'s runtime)
    /// and invoking through `invoker`.
    pub fn start(
        handle: Handle,
        sqs: aws_sdk_sqs::Client,
        invoker: Invoker,
        mapping: Mapping,
    ) -> EventSource {
        let stop = Arc::new(AtomicBool::new(false));
        let batches = Arc::new(Mutex::new(Vec::new()));
        let problems = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, batches, problems) = (Arc::clone(&stop), Arc::clone(&batches), Arc::clone(&problems));
            std::thread::Builder::new()
                .name("sqs-event-source".into())
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match poll_once(&handle, &sqs, &invoker, &mapping) {
                            Ok(Some(batch)) => batches.lock().unwrap().push(batch),
                            Ok(None) => {}
                            Err(e) => {
                                eprintln!("[sqs event source] {e}");
                                problems.lock().unwrap().push(e);
                                std::thread::sleep(Duration::from_millis(500));
                            }
                        }
                    }
                })
                .unwrap()
        };
        EventSource {
            stop,
            thread: Some(thread),
            batches,
            problems,
        }
    }

    /// Every batch handled so far.
    pub fn batches(&self) -> Vec<Batch> {
        self.batches.lock().unwrap().clone()
    }

    /// Stops polling after the current receive or invocation.
    pub fn signal_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// SQS calls that failed (the tests fail on any).
    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().unwrap().clone()
    }
}

impl Drop for EventSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One receive (long poll, 1 s), and the invocation if it got messages.
fn poll_once(
    handle: &Handle,
    sqs: &aws_sdk_sqs::Client,
    invoker: &Invoker,
    mapping: &Mapping,
) -> Result<Option<Batch>, String> {
    let received = handle
        .block_on(
            sqs.receive_message()
                .queue_url(&mapping.queue_url)
                .max_number_of_messages(mapping.batch_size)
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send(),
        )
        .map_err(|e| format!("ReceiveMessage: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    let messages = received.messages();
    if messages.is_empty() {
        return Ok(None);
    }
    let event = json!({ "Records": messages.iter().map(|m| record(m, mapping)).collect::<Vec<_>>() });
    let ids: Vec<String> = messages
        .iter()
        .map(|m| m.message_id().unwrap_or_default().to_string())
        .collect();
    let answer = invoker.invoke(&mapping.function, event.to_string().as_bytes());
    let (error, keep) = if answer.status != 200 || answer.function_error.is_some() {
        let error = serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .and_then(|v| v.get("errorType").and_then(Value::as_str).map(str::to_string))
            .or_else(|| answer.service_error.clone())
            .unwrap_or_else(|| format!("HTTP {}", answer.status));
        (Some(error), ids.clone())
    } else if mapping.report_batch_item_failures {
        match failures(&answer.body, &ids) {
            Some(keep) => (None, keep),
            None => (Some("an invalid batchItemFailures answer".into()), ids.clone()),
        }
    } else {
        (None, Vec::new())
    };
    let mut deleted = Vec::new();
    for m in messages {
        let id = m.message_id().unwrap_or_default();
        if keep.iter().any(|k| k == id) {
            continue;
        }
        handle
            .block_on(
                sqs.delete_message()
                    .queue_url(&mapping.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send(),
            )
            .map_err(|e| format!("DeleteMessage: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        deleted.push(id.to_string());
    }
    let reported_failures = if error.is_none() { keep } else { Vec::new() };
    Ok(Some(Batch {
        messages: messages
            .iter()
            .map(|m| {
                let count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                (m.message_id().unwrap_or_default().to_string(), count)
            })
            .collect(),
        error,
        reported_failures,
        deleted,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_item_failures_follow_lambdas_rules() {
        let ids = vec!["a".to_string(), "b".to_string()];
        assert_eq!(failures(b"", &ids), Some(vec![]));
        assert_eq!(failures(br#"{"batchItemFailures":[]}"#, &ids), Some(vec![]));
        assert_eq!(failures(br#"{"batchItemFailures":null}"#, &ids), Some(vec![]));
        assert_eq!(
            failures(br#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#, &ids),
            Some(vec!["b".to_string()])
        );
        // An unknown or empty identifier, or a malformed answer: the whole batch failed.
        assert_eq!(
            failures(br#"{"batchItemFailures":[{"itemIdentifier":"z"}]}"#, &ids),
            None
        );
        assert_eq!(
            failures(br#"{"batchItemFailures":[{"itemIdentifier":""}]}"#, &ids),
            None
        );
        assert_eq!(failures(br#"{"batchItemFailures":[{"id":"a"}]}"#, &ids), None);
        assert_eq!(failures(b"not json", &ids), None);
    }
}
