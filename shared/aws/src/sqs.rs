//! The job queue: send a JSON message; receive and delete (for tests and
//! local tools).

use crate::error::AwsError;
use aws_sdk_sqs::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// An SQS queue carrying JSON job messages. Its methods are async (they are
/// called from Lambda handlers), unlike the synchronous store ports.
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

impl fmt::Debug for SqsQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqsQueue")
            .field("queue_url", &self.queue_url)
            .finish_non_exhaustive()
    }
}

/// A received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The id SQS gave the message.
    pub message_id: String,
    /// The body as sent.
    pub body: String,
    /// What [`SqsQueue::delete`] needs.
    pub receipt_handle: String,
}

impl ReceivedMessage {
    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, AwsError> {
        Ok(serde_json::from_str(&self.body)?)
    }
}

impl SqsQueue {
    /// A queue by URL.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// Creates a standard queue named `name` (or finds the existing one) and
    /// returns it. For tests and local use.
    pub async fn create(client: Client, name: &str) -> Result<Self, AwsError> {
        let out = client
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| AwsError::service("sqs", &format!("create queue {name:?}"), e))?;
        let url = out.queue_url.ok_or_else(|| AwsError::Service {
            service: "sqs",
            message: format!("creating queue {name:?} returned no URL"),
            retryable: true,
            source: None,
        })?;
        Ok(SqsQueue::new(client, url))
    }

    /// The queue URL.
    pub fn url(&self) -> &str {
        &self.queue_url
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends `message` as a JSON body; returns the message id.
    pub async fn send_json<T: Serialize + ?Sized>(&self, message: &T) -> Result<String, AwsError> {
        let body = serde_json::to_string(message)?;
        let out = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| AwsError::service("sqs", &format!("send a message to {}", self.queue_url), e))?;
        Ok(out.message_id.unwrap_or_default())
    }

    /// Receives up to `max` messages (1–10), waiting up to `wait` (at most
    /// 20 s) for the first.
    pub async fn receive(&self, max: i32, wait: Duration) -> Result<Vec<ReceivedMessage>, AwsError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .send()
            .await
            .map_err(|e| AwsError::service("sqs", &format!("receive from {}", self.queue_url), e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| ReceivedMessage {
                message_id: m.message_id.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
                receipt_handle: m.receipt_handle.unwrap_or_default(),
            })
            .collect())
    }

    /// Messages in the queue: waiting plus in flight (being handled), as
    /// SQS approximates them.
    pub async fn depth(&self) -> Result<u64, AwsError> {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| AwsError::service("sqs", "read the queue's depth", e))?;
        let attrs = out.attributes.unwrap_or_default();
        let count = |a: A| attrs.get(&a).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Ok(count(A::ApproximateNumberOfMessages) + count(A::ApproximateNumberOfMessagesNotVisible))
    }

    /// Deletes a received message.
    pub async fn delete(&self, receipt_handle: &str) -> Result<(), AwsError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| AwsError::service("sqs", &format!("delete a message from {}", self.queue_url), e))?;
        Ok(())
    }
}
