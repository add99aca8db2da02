//! Records every AWS call the SDK clients make, and the IAM permissions each
//! one needs, so a test can check a function's role in `template.yaml`
//! against what its handler really does (local AWS-protocol servers do not
//! enforce IAM).
//!
//! A [`CallRecorder`] is an SDK interceptor. Attach it to clients with
//! [`CallRecorder::clients`] (or pass [`CallRecorder::interceptor`] to
//! [`crate::AwsClients::with_interceptor`]); every operation those clients
//! send *or presign* is recorded once, with the resource it names and the
//! HTTP status of its answer. Presigning runs the clients' interceptors up to
//! the point where the request would be sent, so a presigned GET or PUT is
//! recorded too (as `presigned`): whoever uses the URL acts with the
//! signer's permissions.
//!
//! [`AwsCall::permissions`] maps a call to the IAM actions and resources it
//! needs, with this crate's adapters in mind:
//!
//! - S3 `HeadObject` needs `s3:GetObject` on the key and `s3:ListBucket` on
//!   the bucket (with `s3:prefix` = the key): without ListBucket S3 answers a
//!   missing key with 403, not 404, and [`crate::S3Store`] relies on the 404
//!   to report "no such object". A `GetObject` answered with 404 needs the
//!   same (the store tells a missing object from a refused one by it).
//! - `CreateMultipartUpload` needs `s3:PutObject` and
//!   `s3:AbortMultipartUpload`: the store aborts every multipart upload that
//!   fails. `UploadPart` and `CompleteMultipartUpload` need `s3:PutObject`.
//! - `ListObjectsV2` needs `s3:ListBucket` on the bucket, with `s3:prefix`.
//! - DynamoDB operations need `dynamodb:<Operation>` on the table;
//!   `TransactWriteItems` needs the action of each of its items
//!   (`ConditionCheckItem`, `PutItem`, `UpdateItem`, `DeleteItem`) on that
//!   item's table, and `TransactGetItems` `GetItem` on each.
//! - Step Functions and SQS operations need `states:<Operation>` on the
//!   state machine or execution, and `sqs:<Operation>` on the queue.
//!
//! Built only with the `call-recorder` feature (tests enable it through a
//! dev-dependency), so Lambda binaries carry none of this.

use crate::config::AwsClients;
use aws_config::SdkConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef, Input,
};
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::fmt;
use std::sync::{Arc, Mutex};

/// What a recorded call names.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// An S3 object.
    Object {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// An S3 bucket, and the key prefix of a listing.
    Bucket {
        /// The bucket.
        bucket: String,
        /// `Prefix` of a listing (`None`: the whole bucket, or not a listing).
        prefix: Option<String>,
    },
    /// A DynamoDB table.
    Table(String),
    /// The items of a DynamoDB transaction: (IAM action without the
    /// `dynamodb:` prefix, table), one per item.
    TableItems(Vec<(String, String)>),
    /// A Step Functions state machine or execution ARN.
    Arn(String),
    /// An SQS queue URL.
    QueueUrl(String),
    /// An SQS queue name (CreateQueue, GetQueueUrl).
    QueueName(String),
    /// An operation this recorder does not know the resource of.
    Unknown,
}

/// One operation a client sent or presigned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsCall {
    /// The SDK's service id: `S3`, `DynamoDB`, `SFN`, `SQS`.
    pub service: String,
    /// The operation, e.g. `GetObject`.
    pub operation: String,
    /// The resource it names.
    pub target: Target,
    /// Presigned rather than sent: the URL acts with the signer's rights.
    pub presigned: bool,
    /// The HTTP status of the answer (`None`: presigned, cancelled, or no
    /// answer arrived).
    pub status: Option<u16>,
}

/// One IAM permission a call needs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission {
    /// The IAM action, e.g. `s3:GetObject`.
    pub action: String,
    /// What it acts on.
    pub resource: Resource,
    /// The `s3:prefix` condition key of a bucket-level S3 request.
    pub s3_prefix: Option<String>,
}

/// The resource of a [`Permission`], by name; [`Resource::arn`] makes its ARN.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    /// An S3 object: `arn:<partition>:s3:::<bucket>/<key>`.
    S3Object {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// An S3 bucket: `arn:<partition>:s3:::<bucket>`.
    S3Bucket(String),
    /// A DynamoDB table: `arn:<partition>:dynamodb:<region>:<account>:table/<name>`.
    Table(String),
    /// A resource already named by its ARN (Step Functions).
    Arn(String),
    /// An SQS queue by name: `arn:<partition>:sqs:<region>:<account>:<name>`.
    Queue(String),
}

/// The partition, region and account that ARNs are built in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArnScope {
    /// e.g. `aws`.
    pub partition: String,
    /// e.g. `us-east-1`.
    pub region: String,
    /// e.g. `123456789012`.
    pub account: String,
}

impl Resource {
    /// The resource's ARN in `scope`.
    pub fn arn(&self, scope: &ArnScope) -> String {
        let ArnScope {
            partition,
            region,
            account,
        } = scope;
        match self {
            Resource::S3Object { bucket, key } => format!("arn:{partition}:s3:::{bucket}/{key}"),
            Resource::S3Bucket(bucket) => format!("arn:{partition}:s3:::{bucket}"),
            Resource::Table(name) => format!("arn:{partition}:dynamodb:{region}:{account}:table/{name}"),
            Resource::Arn(arn) => arn.clone(),
            Resource::Queue(name) => format!("arn:{partition}:sqs:{region}:{account}:{name}"),
        }
    }
}

impl fmt::Display for AwsCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.service, self.operation)?;
        match &self.target {
            Target::Object { bucket, key } => write!(f, " s3://{bucket}/{key}")?,
            Target::Bucket { bucket, prefix } => {
                write!(f, " s3://{bucket}")?;
                if let Some(p) = prefix {
                    write!(f, " prefix {p:?}")?;
                }
            }
            Target::Table(t) => write!(f, " table {t}")?,
            Target::TableItems(items) => {
                let items: Vec<String> = items.iter().map(|(a, t)| format!("{a} on {t}")).collect();
                write!(f, " [{}]", items.join(", "))?;
            }
            Target::Arn(arn) => write!(f, " {arn}")?,
            Target::QueueUrl(url) => write!(f, " {url}")?,
            Target::QueueName(name) => write!(f, " queue {name}")?,
            Target::Unknown => write!(f, " (resource unknown)")?,
        }
        if self.presigned {
            write!(f, " (presigned)")?;
        }
        if let Some(status) = self.status {
            write!(f, " → {status}")?;
        }
        Ok(())
    }
}

/// The queue name of a queue URL (its last path segment).
fn queue_name(url: &str) -> String {
    url.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(url)
        .to_string()
}

impl AwsCall {
    /// The IAM permissions this call needs (see the module docs), or why it
    /// cannot tell: an operation this recorder has no mapping for.
    pub fn permissions(&self) -> Result<Vec<Permission>, String> {
        let unmapped = || Err(format!("no IAM mapping for {self}"));
        let perm = |action: &str, resource: Resource| Permission {
            action: action.to_string(),
            resource,
            s3_prefix: None,
        };
        let op = self.operation.as_str();
        match (self.service.as_str(), &self.target) {
            ("S3", Target::Object { bucket, key }) => {
                let object = || Resource::S3Object {
                    bucket: bucket.clone(),
                    key: key.clone(),
                };
                let list_for_404 = || Permission {
                    action: "s3:ListBucket".into(),
                    resource: Resource::S3Bucket(bucket.clone()),
                    s3_prefix: Some(key.clone()),
                };
                Ok(match op {
                    "HeadObject" => vec![perm("s3:GetObject", object()), list_for_404()],
                    "GetObject" if !self.presigned && self.status == Some(404) => {
                        vec![perm("s3:GetObject", object()), list_for_404()]
                    }
                    "GetObject" => vec![perm("s3:GetObject", object())],
                    "PutObject" | "UploadPart" | "CompleteMultipartUpload" => {
                        vec![perm("s3:PutObject", object())]
                    }
                    "CreateMultipartUpload" => vec![
                        perm("s3:PutObject", object()),
                        perm("s3:AbortMultipartUpload", object()),
                    ],
                    "AbortMultipartUpload" => vec![perm("s3:AbortMultipartUpload", object())],
                    "ListParts" => vec![perm("s3:ListMultipartUploadParts", object())],
                    "DeleteObject" => vec![perm("s3:DeleteObject", object())],
                    "CopyObject" => vec![perm("s3:PutObject", object())],
                    _ => return unmapped(),
                })
            }
            ("S3", Target::Bucket { bucket, prefix }) => {
                let bucket = Resource::S3Bucket(bucket.clone());
                Ok(match op {
                    "ListObjectsV2" | "ListObjects" => vec![Permission {
                        action: "s3:ListBucket".into(),
                        resource: bucket,
                        s3_prefix: Some(prefix.clone().unwrap_or_default()),
                    }],
                    "ListMultipartUploads" => vec![perm("s3:ListBucketMultipartUploads", bucket)],
                    "CreateBucket" => vec![perm("s3:CreateBucket", bucket)],
                    "DeleteBucket" => vec![perm("s3:DeleteBucket", bucket)],
                    "HeadBucket" => vec![perm("s3:ListBucket", bucket)],
                    "PutBucketNotificationConfiguration" => vec![perm("s3:PutBucketNotification", bucket)],
                    _ => return unmapped(),
                })
            }
            ("DynamoDB", Target::Table(table)) => Ok(vec![perm(
                &format!("dynamodb:{op}"),
                Resource::Table(table.clone()),
            )]),
            ("DynamoDB", Target::TableItems(items)) if !items.is_empty() => Ok(items
                .iter()
                .map(|(action, table)| perm(&format!("dynamodb:{action}"), Resource::Table(table.clone())))
                .collect()),
            ("SFN", Target::Arn(arn)) => Ok(vec![perm(&format!("states:{op}"), Resource::Arn(arn.clone()))]),
            ("SQS", Target::QueueUrl(url)) => {
                Ok(vec![perm(&format!("sqs:{op}"), Resource::Queue(queue_name(url)))])
            }
            ("SQS", Target::QueueName(name)) => {
                Ok(vec![perm(&format!("sqs:{op}"), Resource::Queue(name.clone()))])
            }
            _ => unmapped(),
        }
    }
}

/// Records the AWS calls of the clients it is attached to. Cheap to clone;
/// clones share one log.
#[derive(Clone, Debug, Default)]
pub struct CallRecorder {
    calls: Arc<Mutex<Vec<AwsCall>>>,
}

/// The index in the log of the call an execution is making.
#[derive(Debug)]
struct Pending(usize);

impl Storable for Pending {
    type Storer = StoreReplace<Self>;
}

impl CallRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// This recorder as an SDK interceptor.
    pub fn interceptor(&self) -> SharedInterceptor {
        SharedInterceptor::new(self.clone())
    }

    /// The four clients for `sdk`, recording into this recorder.
    pub fn clients(&self, sdk: &SdkConfig) -> AwsClients {
        AwsClients::with_interceptor(sdk, self.interceptor())
    }

    /// Every call recorded so far, in the order they started.
    pub fn calls(&self) -> Vec<AwsCall> {
        self.log().clone()
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Vec<AwsCall>> {
        // A panicking test thread must not hide the other threads' calls.
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The service, operation and resource of an operation's input, for the
/// operations the adapters (and their tests) use.
fn describe(input: &Input) -> Option<(&'static str, &'static str, Target)> {
    macro_rules! s3_object {
        ($($op:literal => $ty:ty),* $(,)?) => {$(
            if let Some(i) = input.downcast_ref::<$ty>() {
                return Some(("S3", $op, Target::Object {
                    bucket: i.bucket().unwrap_or_default().to_string(),
                    key: i.key().unwrap_or_default().to_string(),
                }));
            }
        )*};
    }
    macro_rules! s3_bucket {
        ($($op:literal => $ty:ty),* $(,)?) => {$(
            if let Some(i) = input.downcast_ref::<$ty>() {
                return Some(("S3", $op, Target::Bucket {
                    bucket: i.bucket().unwrap_or_default().to_string(),
                    prefix: None,
                }));
            }
        )*};
    }
    macro_rules! table {
        ($($op:literal => $ty:ty),* $(,)?) => {$(
            if let Some(i) = input.downcast_ref::<$ty>() {
                return Some(("DynamoDB", $op, Target::Table(i.table_name().unwrap_or_default().to_string())));
            }
        )*};
    }
    macro_rules! by_arn {
        ($($op:literal => $ty:ty => $field:ident),* $(,)?) => {$(
            if let Some(i) = input.downcast_ref::<$ty>() {
                return Some(("SFN", $op, Target::Arn(i.$field().unwrap_or_default().to_string())));
            }
        )*};
    }
    macro_rules! queue {
        ($($op:literal => $ty:ty),* $(,)?) => {$(
            if let Some(i) = input.downcast_ref::<$ty>() {
                return Some(("SQS", $op, Target::QueueUrl(i.queue_url().unwrap_or_default().to_string())));
            }
        )*};
    }
    {
        use aws_sdk_s3::operation::*;
        s3_object!(
            "GetObject" => get_object::GetObjectInput,
            "HeadObject" => head_object::HeadObjectInput,
            "PutObject" => put_object::PutObjectInput,
            "DeleteObject" => delete_object::DeleteObjectInput,
            "CreateMultipartUpload" => create_multipart_upload::CreateMultipartUploadInput,
            "UploadPart" => upload_part::UploadPartInput,
            "CompleteMultipartUpload" => complete_multipart_upload::CompleteMultipartUploadInput,
            "AbortMultipartUpload" => abort_multipart_upload::AbortMultipartUploadInput,
            "ListParts" => list_parts::ListPartsInput,
            "CopyObject" => copy_object::CopyObjectInput,
        );
        if let Some(i) = input.downcast_ref::<list_objects_v2::ListObjectsV2Input>() {
            return Some((
                "S3",
                "ListObjectsV2",
                Target::Bucket {
                    bucket: i.bucket().unwrap_or_default().to_string(),
                    prefix: Some(i.prefix().unwrap_or_default().to_string()),
                },
            ));
        }
        s3_bucket!(
            "CreateBucket" => create_bucket::CreateBucketInput,
            "DeleteBucket" => delete_bucket::DeleteBucketInput,
            "HeadBucket" => head_bucket::HeadBucketInput,
            "ListMultipartUploads" => list_multipart_uploads::ListMultipartUploadsInput,
            "PutBucketNotificationConfiguration" =>
                put_bucket_notification_configuration::PutBucketNotificationConfigurationInput,
        );
    }
    {
        use aws_sdk_dynamodb::operation::*;
        table!(
            "GetItem" => get_item::GetItemInput,
            "PutItem" => put_item::PutItemInput,
            "UpdateItem" => update_item::UpdateItemInput,
            "DeleteItem" => delete_item::DeleteItemInput,
            "Query" => query::QueryInput,
            "Scan" => scan::ScanInput,
            "CreateTable" => create_table::CreateTableInput,
            "DescribeTable" => describe_table::DescribeTableInput,
            "DeleteTable" => delete_table::DeleteTableInput,
        );
        if let Some(i) = input.downcast_ref::<transact_write_items::TransactWriteItemsInput>() {
            let items = i
                .transact_items()
                .iter()
                .filter_map(|item| {
                    if let Some(c) = item.condition_check() {
                        Some(("ConditionCheckItem", c.table_name()))
                    } else if let Some(p) = item.put() {
                        Some(("PutItem", p.table_name()))
                    } else if let Some(u) = item.update() {
                        Some(("UpdateItem", u.table_name()))
                    } else {
                        item.delete().map(|d| ("DeleteItem", d.table_name()))
                    }
                })
                .map(|(a, t)| (a.to_string(), t.to_string()))
                .collect();
            return Some(("DynamoDB", "TransactWriteItems", Target::TableItems(items)));
        }
        if let Some(i) = input.downcast_ref::<transact_get_items::TransactGetItemsInput>() {
            let items = i
                .transact_items()
                .iter()
                .filter_map(|item| item.get())
                .map(|g| ("GetItem".to_string(), g.table_name().to_string()))
                .collect();
            return Some(("DynamoDB", "TransactGetItems", Target::TableItems(items)));
        }
    }
    {
        use aws_sdk_sfn::operation::*;
        by_arn!(
            "StartExecution" => start_execution::StartExecutionInput => state_machine_arn,
            "DescribeStateMachine" => describe_state_machine::DescribeStateMachineInput => state_machine_arn,
            "ListExecutions" => list_executions::ListExecutionsInput => state_machine_arn,
            "DeleteStateMachine" => delete_state_machine::DeleteStateMachineInput => state_machine_arn,
            "DescribeExecution" => describe_execution::DescribeExecutionInput => execution_arn,
            "StopExecution" => stop_execution::StopExecutionInput => execution_arn,
            "GetExecutionHistory" => get_execution_history::GetExecutionHistoryInput => execution_arn,
        );
    }
    {
        use aws_sdk_sqs::operation::*;
        queue!(
            "SendMessage" => send_message::SendMessageInput,
            "ReceiveMessage" => receive_message::ReceiveMessageInput,
            "DeleteMessage" => delete_message::DeleteMessageInput,
            "ChangeMessageVisibility" => change_message_visibility::ChangeMessageVisibilityInput,
            "GetQueueAttributes" => get_queue_attributes::GetQueueAttributesInput,
            "PurgeQueue" => purge_queue::PurgeQueueInput,
        );
        if let Some(i) = input.downcast_ref::<create_queue::CreateQueueInput>() {
            let name = i.queue_name().unwrap_or_default().to_string();
            return Some(("SQS", "CreateQueue", Target::QueueName(name)));
        }
        if let Some(i) = input.downcast_ref::<get_queue_url::GetQueueUrlInput>() {
            let name = i.queue_name().unwrap_or_default().to_string();
            return Some(("SQS", "GetQueueUrl", Target::QueueName(name)));
        }
    }
    None
}

impl Intercept for CallRecorder {
    fn name(&self) -> &'static str {
        "VidStegaCallRecorder"
    }

    /// Records the call as it starts (so a call whose future is dropped is
    /// still seen), remembering its place in the log for the answer.
    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation, target) = describe(context.input()).unwrap_or(("", "", Target::Unknown));
        let mut log = self.log();
        log.push(AwsCall {
            service: service.to_string(),
            operation: operation.to_string(),
            target,
            presigned: false,
            status: None,
        });
        cfg.interceptor_state().store_put(Pending(log.len() - 1));
        Ok(())
    }

    /// Adds the answer's status, whether the call was only presigned, and
    /// the SDK's own service and operation names.
    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(&Pending(index)) = cfg.load::<Pending>() else {
            return Ok(());
        };
        let metadata = cfg.load::<Metadata>();
        let mut log = self.log();
        let Some(call) = log.get_mut(index) else {
            return Ok(());
        };
        if let Some(m) = metadata {
            call.service = m.service().to_string();
            call.operation = m.name().to_string();
        }
        let response = context.response();
        call.status = response.map(|r| r.status().as_u16());
        // A presigned request stops before it is sent: no answer, no error.
        call.presigned = response.is_none() && context.output_or_error().is_none();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(service: &str, operation: &str, target: Target, status: Option<u16>) -> AwsCall {
        AwsCall {
            service: service.into(),
            operation: operation.into(),
            target,
            presigned: false,
            status,
        }
    }

    fn object() -> Target {
        Target::Object {
            bucket: "b".into(),
            key: "jobs/j/plan.json".into(),
        }
    }

    fn actions(c: &AwsCall) -> Vec<String> {
        c.permissions().unwrap().into_iter().map(|p| p.action).collect()
    }

    #[test]
    fn a_head_needs_list_bucket_on_its_key_to_see_404s() {
        let perms = call("S3", "HeadObject", object(), Some(200))
            .permissions()
            .unwrap();
        assert_eq!(perms.len(), 2);
        assert_eq!(perms[1].action, "s3:ListBucket");
        assert_eq!(perms[1].resource, Resource::S3Bucket("b".into()));
        assert_eq!(perms[1].s3_prefix.as_deref(), Some("jobs/j/plan.json"));
    }

    #[test]
    fn a_get_needs_list_bucket_only_when_it_relied_on_a_404() {
        assert_eq!(
            actions(&call("S3", "GetObject", object(), Some(200))),
            ["s3:GetObject"]
        );
        assert_eq!(
            actions(&call("S3", "GetObject", object(), Some(404))),
            ["s3:GetObject", "s3:ListBucket"]
        );
    }

    #[test]
    fn multipart_uploads_need_put_and_abort() {
        assert_eq!(
            actions(&call("S3", "CreateMultipartUpload", object(), Some(200))),
            ["s3:PutObject", "s3:AbortMultipartUpload"]
        );
        assert_eq!(
            actions(&call("S3", "UploadPart", object(), Some(200))),
            ["s3:PutObject"]
        );
    }

    #[test]
    fn transactions_need_the_actions_of_their_items() {
        let c = call(
            "DynamoDB",
            "TransactWriteItems",
            Target::TableItems(vec![
                ("UpdateItem".into(), "t".into()),
                ("ConditionCheckItem".into(), "t".into()),
            ]),
            Some(200),
        );
        assert_eq!(
            actions(&c),
            ["dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"]
        );
    }

    #[test]
    fn arns_are_built_in_the_scope() {
        let scope = ArnScope {
            partition: "aws".into(),
            region: "eu-west-1".into(),
            account: "111122223333".into(),
        };
        assert_eq!(
            Resource::Table("jobs".into()).arn(&scope),
            "arn:aws:dynamodb:eu-west-1:111122223333:table/jobs"
        );
        let c = call(
            "SQS",
            "SendMessage",
            Target::QueueUrl("http://localhost:5000/123456789012/q1".into()),
            Some(200),
        );
        assert_eq!(
            c.permissions().unwrap()[0].resource.arn(&scope),
            "arn:aws:sqs:eu-west-1:111122223333:q1"
        );
    }

    #[test]
    fn unknown_operations_are_reported_not_guessed() {
        let e = call("S3", "GetObjectAcl", object(), Some(200))
            .permissions()
            .unwrap_err();
        assert!(e.contains("GetObjectAcl"), "{e}");
        assert!(call("Lambda", "Invoke", Target::Unknown, None)
            .permissions()
            .is_err());
    }
}
