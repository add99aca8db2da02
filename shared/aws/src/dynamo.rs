//! DynamoDB as the job and segment table (one table, see the crate docs for
//! the item layout).
//!
//! Every write is conditional, so a retried or duplicated request changes
//! nothing the second time: a job is created once, a segment item is written
//! once (an equal one is accepted, a different one is a conflict), finishing
//! a segment flips `done` and counts it on the job in one transaction, and a
//! done or failed job never changes stage again.

use crate::error::{jobs_error, retryable_code, AwsError};
use crate::runtime::block_on;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;
use tokio::runtime::Handle;
use vidstega_pipeline::{
    now_ms, Created, Finished, JobRecord, JobStore, OutputRecord, PipelineError, Result, SegmentRecord, Stage,
};

type Item = HashMap<String, AttributeValue>;

/// Partition key attribute (string): `JOB#<job id>` on every item of a job.
pub const PK: &str = "pk";
/// Sort key attribute (string): `JOB` for the job item, `SEG#<index:05>` for segments.
pub const SK: &str = "sk";
/// The sort key of a job item.
pub const JOB_SK: &str = "JOB";

/// The partition key of a job's items.
pub fn job_pk(job_id: &str) -> String {
    format!("JOB#{job_id}")
}

/// The sort key of a segment item (indexes sort as text up to 99,999).
pub fn segment_sk(index: u32) -> String {
    format!("SEG#{index:05}")
}

const SEGMENT_PREFIX: &str = "SEG#";
/// The partition key prefix of a caller's quota items.
const QUOTA_PREFIX: &str = "QUOTA#";
/// The TTL attribute (epoch seconds) of every item.
pub const EXPIRES_AT: &str = "expires_at";
/// How long items live unless set otherwise ([`DynamoJobStore::with_record_ttl`]).
pub const DEFAULT_RECORD_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Segment items written at once by `put_segments`.
const PARALLEL_PUTS: usize = 8;
/// Attempts of a `finish_segment` transaction that lost a race with another.
const TRANSACTION_ATTEMPTS: u32 = 12;

/// The job table in DynamoDB, as the pipeline's [`JobStore`].
///
/// Blocks on `handle` like [`crate::S3Store`]: call it from a thread that is
/// not a runtime worker (a plain thread, or `spawn_blocking` through
/// [`crate::run_blocking`]); the handle must belong to a multi-thread runtime.
#[derive(Clone)]
pub struct DynamoJobStore {
    client: Client,
    table: String,
    handle: Handle,
    record_ttl: Duration,
}

impl fmt::Debug for DynamoJobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoJobStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: String, sk: String) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

fn malformed(item: &Item, what: String) -> PipelineError {
    let pk = item
        .get(PK)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .unwrap_or("?");
    let sk = item
        .get(SK)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .unwrap_or("?");
    PipelineError::Jobs {
        message: format!("malformed item {pk}/{sk}: {what}"),
        retryable: false,
        source: None,
    }
}

fn get_s(item: &Item, name: &str) -> Result<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        other => Err(malformed(item, format!("{name} is {other:?}, not a string"))),
    }
}

fn get_opt_s(item: &Item, name: &str) -> Result<Option<String>> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(_) => get_s(item, name).map(Some),
    }
}

fn get_n(item: &Item, name: &str) -> Result<u64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| malformed(item, format!("{name} = {v:?} is not a whole number"))),
        other => Err(malformed(item, format!("{name} is {other:?}, not a number"))),
    }
}

fn get_opt_n(item: &Item, name: &str) -> Result<Option<u64>> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(_) => get_n(item, name).map(Some),
    }
}

fn get_u32(item: &Item, name: &str) -> Result<u32> {
    let v = get_n(item, name)?;
    u32::try_from(v).map_err(|_| malformed(item, format!("{name} = {v} is too large")))
}

fn get_bool(item: &Item, name: &str) -> Result<bool> {
    match item.get(name) {
        Some(AttributeValue::Bool(v)) => Ok(*v),
        other => Err(malformed(item, format!("{name} is {other:?}, not a boolean"))),
    }
}

/// The item of a job.
fn job_item(job: &JobRecord) -> Item {
    let mut item = key(job_pk(&job.job_id), JOB_SK.into());
    item.insert("job_id".into(), s(&job.job_id));
    item.insert("stage".into(), s(job.stage.as_str()));
    item.insert("video_key".into(), s(&job.video_key));
    item.insert("envelope_key".into(), s(&job.envelope_key));
    item.insert("output_key".into(), s(&job.output_key));
    item.insert("segments_total".into(), n(job.segments_total.into()));
    item.insert("segments_done".into(), n(job.segments_done.into()));
    if let Some(error) = &job.error {
        item.insert("error".into(), s(error));
    }
    item.insert("created_ms".into(), n(job.created_ms));
    item.insert("updated_ms".into(), n(job.updated_ms));
    item
}

fn job_from_item(item: &Item) -> Result<JobRecord> {
    let stage = get_s(item, "stage")?;
    Ok(JobRecord {
        job_id: get_s(item, "job_id")?,
        stage: stage.parse().map_err(|e: String| malformed(item, e))?,
        video_key: get_s(item, "video_key")?,
        envelope_key: get_s(item, "envelope_key")?,
        output_key: get_s(item, "output_key")?,
        segments_total: get_u32(item, "segments_total")?,
        segments_done: get_u32(item, "segments_done")?,
        error: get_opt_s(item, "error")?,
        created_ms: get_n(item, "created_ms")?,
        updated_ms: get_n(item, "updated_ms")?,
    })
}

/// The job item's `output` attribute (a map: `key`, `bytes`, `tag`,
/// `verified`), what concat recorded about the output object.
fn output_value(output: &OutputRecord) -> AttributeValue {
    let mut m = Item::new();
    m.insert("key".into(), s(&output.key));
    m.insert("bytes".into(), n(output.bytes));
    if let Some(tag) = &output.tag {
        m.insert("tag".into(), s(tag));
    }
    m.insert("verified".into(), AttributeValue::Bool(output.verified));
    AttributeValue::M(m)
}

fn output_from_item(item: &Item) -> Result<Option<OutputRecord>> {
    let m = match item.get("output") {
        None | Some(AttributeValue::Null(_)) => return Ok(None),
        Some(AttributeValue::M(m)) => m,
        Some(other) => return Err(malformed(item, format!("output is {other:?}, not a map"))),
    };
    Ok(Some(OutputRecord {
        key: get_s(m, "key")?,
        bytes: get_n(m, "bytes")?,
        tag: get_opt_s(m, "tag")?,
        verified: get_bool(m, "verified")?,
    }))
}

/// The item of a planned segment (not done yet).
fn segment_item(job_id: &str, seg: &SegmentRecord) -> Item {
    let mut item = key(job_pk(job_id), segment_sk(seg.index));
    item.insert("job_id".into(), s(job_id));
    item.insert("index".into(), n(seg.index.into()));
    item.insert("frame_start".into(), n(seg.frame_start));
    item.insert("frame_end".into(), n(seg.frame_end));
    item.insert("bit_start".into(), n(seg.bit_start));
    item.insert("bit_end".into(), n(seg.bit_end));
    item.insert("done".into(), AttributeValue::Bool(false));
    item
}

fn segment_from_item(item: &Item) -> Result<SegmentRecord> {
    Ok(SegmentRecord {
        index: get_u32(item, "index")?,
        frame_start: get_n(item, "frame_start")?,
        frame_end: get_n(item, "frame_end")?,
        bit_start: get_n(item, "bit_start")?,
        bit_end: get_n(item, "bit_end")?,
        done: get_bool(item, "done")?,
        millis: get_opt_n(item, "millis")?,
    })
}

fn same_ranges(a: &SegmentRecord, b: &SegmentRecord) -> bool {
    (a.frame_start, a.frame_end, a.bit_start, a.bit_end)
        == (b.frame_start, b.frame_end, b.bit_start, b.bit_end)
}

fn conflict(message: String) -> PipelineError {
    PipelineError::Conflict(message)
}

fn build_error(what: &str, e: aws_sdk_dynamodb::error::BuildError) -> PipelineError {
    PipelineError::Jobs {
        message: format!("cannot build the request to {what}"),
        retryable: false,
        source: Some(Box::new(e)),
    }
}

/// A pause before retrying a lost transaction race: exponential from 10 ms,
/// capped at 400 ms, with full jitter.
fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let cap = (10u64 << attempt.min(5)).min(400);
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    Duration::from_millis(1 + random % cap)
}

/// Creates the job table (partition key `pk`, sort key `sk`, both strings,
/// on-demand billing) unless it exists, and waits until it is active. For
/// tests and local use; deployed tables come from the infrastructure template.
pub async fn create_table(client: &Client, table: &str) -> std::result::Result<(), AwsError> {
    let build_err = |e: aws_sdk_dynamodb::error::BuildError| AwsError::Service {
        service: "dynamodb",
        message: format!("cannot build the request to create table {table:?}"),
        retryable: false,
        source: Some(Box::new(e)),
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build_err)
    };
    let key_elem = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(build_err)
    };
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(PK)?)
        .attribute_definitions(attr(SK)?)
        .key_schema(key_elem(PK, KeyType::Hash)?)
        .key_schema(key_elem(SK, KeyType::Range)?)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(CreateTableError::ResourceInUseException(_))
            ) => {}
        Err(e) => {
            return Err(AwsError::service(
                "dynamodb",
                &format!("create table {table:?}"),
                e,
            ))
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| AwsError::service("dynamodb", &format!("describe table {table:?}"), e))?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(AwsError::Service {
                service: "dynamodb",
                message: format!("table {table:?} is not active after 60 s"),
                retryable: true,
                source: None,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl DynamoJobStore {
    /// A store for `table` that blocks on `handle`.
    pub fn new(client: Client, table: impl Into<String>, handle: Handle) -> Self {
        DynamoJobStore {
            client,
            table: table.into(),
            handle,
            record_ttl: DEFAULT_RECORD_TTL,
        }
    }

    /// Sets how long items live: each job and segment item gets
    /// `expires_at` (epoch seconds) that long after it is written, and the
    /// table's TTL deletes it some time after that (template.yaml).
    pub fn with_record_ttl(mut self, ttl: Duration) -> Self {
        self.record_ttl = ttl;
        self
    }

    /// `item` with `expires_at`: the record TTL from now.
    fn with_expiry(&self, mut item: Item) -> Item {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        item.insert(EXPIRES_AT.into(), n((now + self.record_ttl).as_secs()));
        item
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the table if needed (see [`create_table`]).
    pub async fn create_table(&self) -> std::result::Result<(), AwsError> {
        create_table(&self.client, &self.table).await
    }

    fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        block_on(&self.handle, fut)
    }

    fn err<E>(&self, what: &str, e: SdkError<E, HttpResponse>) -> PipelineError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        jobs_error(what, &self.table, e)
    }

    async fn get_item(&self, pk: String, sk: String, what: &str) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.err(what, e))?;
        Ok(out.item)
    }

    async fn get_job(&self, job_id: &str) -> Result<Option<JobRecord>> {
        self.get_item(job_pk(job_id), JOB_SK.into(), &format!("read job {job_id}"))
            .await?
            .map(|item| job_from_item(&item))
            .transpose()
    }

    async fn get_segment(&self, job_id: &str, index: u32) -> Result<Option<SegmentRecord>> {
        self.get_item(
            job_pk(job_id),
            segment_sk(index),
            &format!("read segment {index} of job {job_id}"),
        )
        .await?
        .map(|item| segment_from_item(&item))
        .transpose()
    }

    async fn create_job_async(&self, job: &JobRecord) -> Result<Created> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.with_expiry(job_item(job))))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let e = match put {
            Ok(_) => return Ok(Created::New),
            Err(e) => e,
        };
        if let Some(PutItemError::ConditionalCheckFailedException(c)) = e.as_service_error() {
            let existing = match c.item() {
                Some(item) => Some(job_from_item(item)?),
                None => self.get_job(&job.job_id).await?,
            };
            return match existing {
                Some(existing) => Ok(Created::Existing(existing)),
                None => Err(PipelineError::Jobs {
                    message: format!("job {} vanished while being created", job.job_id),
                    retryable: true,
                    source: None,
                }),
            };
        }
        Err(self.err(&format!("create job {}", job.job_id), e))
    }

    /// Writes one segment item unless it exists; an existing one must have
    /// the same ranges.
    async fn put_segment(self, job_id: String, seg: SegmentRecord) -> Result<()> {
        let index = seg.index;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.with_expiry(segment_item(&job_id, &seg))))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let e = match put {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let Some(PutItemError::ConditionalCheckFailedException(c)) = e.as_service_error() else {
            return Err(self.err(&format!("write segment {index} of job {job_id}"), e));
        };
        let existing = match c.item() {
            Some(item) => Some(segment_from_item(item)?),
            None => self.get_segment(&job_id, index).await?,
        };
        match existing {
            Some(existing) if same_ranges(&existing, &seg) => Ok(()),
            Some(_) => Err(conflict(format!(
                "job {job_id} already has a different segment {index}"
            ))),
            None => Err(PipelineError::Jobs {
                message: format!("segment {index} of job {job_id} vanished while being written"),
                retryable: true,
                source: None,
            }),
        }
    }

    async fn put_segments_async(&self, job_id: &str, segments: &[SegmentRecord]) -> Result<()> {
        let total = u32::try_from(segments.len())
            .map_err(|_| PipelineError::InvalidInput(format!("job {job_id}: too many segments")))?;
        let job = self
            .get_job(job_id)
            .await?
            .ok_or_else(|| conflict(format!("job {job_id} does not exist")))?;
        let check_total = |job: &JobRecord| {
            if job.segments_total != 0 && job.segments_total != total {
                Err(conflict(format!(
                    "job {job_id} already has a plan of {} segments, not {total}",
                    job.segments_total
                )))
            } else {
                Ok(())
            }
        };
        check_total(&job)?;

        let mut tasks = tokio::task::JoinSet::new();
        let mut pending = segments.iter();
        let mut failed: Option<PipelineError> = None;
        loop {
            while failed.is_none() && tasks.len() < PARALLEL_PUTS {
                let Some(seg) = pending.next() else { break };
                tasks.spawn(self.clone().put_segment(job_id.to_string(), seg.clone()));
            }
            match tasks.join_next().await {
                None => break,
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(e))) => {
                    // Keep the first error; let writes in flight finish (they
                    // are harmless) but start no more.
                    failed.get_or_insert(e);
                }
                Some(Err(join)) if join.is_cancelled() => {}
                Some(Err(join)) => std::panic::resume_unwind(join.into_panic()),
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }

        // Record the total; a queued job moves to embedding.
        let now = n(now_ms());
        let planned = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(job_pk(job_id), JOB_SK.into())))
            .update_expression("SET #stage = :embedding, #total = :n, #updated = :now")
            .condition_expression(
                "attribute_exists(#pk) AND #stage = :queued AND (#total = :zero OR #total = :n)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#stage", "stage")
            .expression_attribute_names("#total", "segments_total")
            .expression_attribute_names("#updated", "updated_ms")
            .expression_attribute_values(":embedding", s(Stage::Embedding.as_str()))
            .expression_attribute_values(":queued", s(Stage::Queued.as_str()))
            .expression_attribute_values(":n", n(total.into()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", now.clone())
            .send()
            .await;
        let e = match planned {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if !matches!(
            e.as_service_error(),
            Some(UpdateItemError::ConditionalCheckFailedException(_))
        ) {
            return Err(self.err(&format!("record the plan of job {job_id}"), e));
        }
        // Not queued any more (a repeated plan, or a job that failed or was
        // moved on): record the total if it is still unset, keep the stage.
        let job = self
            .get_job(job_id)
            .await?
            .ok_or_else(|| conflict(format!("job {job_id} does not exist")))?;
        check_total(&job)?;
        if job.segments_total == total {
            return Ok(());
        }
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(job_pk(job_id), JOB_SK.into())))
            .update_expression("SET #total = :n, #updated = :now")
            .condition_expression("attribute_exists(#pk) AND (#total = :zero OR #total = :n)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#total", "segments_total")
            .expression_attribute_names("#updated", "updated_ms")
            .expression_attribute_values(":n", n(total.into()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", now)
            .send()
            .await;
        match counted {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                // Lost a race with a different plan, or the job is gone.
                let job = self
                    .get_job(job_id)
                    .await?
                    .ok_or_else(|| conflict(format!("job {job_id} does not exist")))?;
                check_total(&job)
            }
            Err(e) => Err(self.err(&format!("record the plan of job {job_id}"), e)),
        }
    }

    async fn segments_async(&self, job_id: &str) -> Result<Vec<SegmentRecord>> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :seg)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(job_pk(job_id)))
            .expression_attribute_values(":seg", s(SEGMENT_PREFIX))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut segments = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err(&format!("read the segments of job {job_id}"), e))?;
            for item in page.items() {
                segments.push(segment_from_item(item)?);
            }
        }
        segments.sort_by_key(|s| s.index);
        Ok(segments)
    }

    fn finish_transaction(&self, job_id: &str, index: u32, millis: u64) -> Result<Vec<TransactWriteItem>> {
        let what = "finish a segment";
        let segment = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(job_pk(job_id), segment_sk(index))))
            .update_expression("SET #done = :true, #millis = :millis")
            .condition_expression("attribute_exists(#pk) AND #done = :false")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#done", "done")
            .expression_attribute_names("#millis", "millis")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":millis", n(millis))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| build_error(what, e))?;
        let job = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(job_pk(job_id), JOB_SK.into())))
            .update_expression("ADD #done :one SET #updated = :now")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#done", "segments_done")
            .expression_attribute_names("#updated", "updated_ms")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now_ms()))
            .build()
            .map_err(|e| build_error(what, e))?;
        Ok(vec![
            TransactWriteItem::builder().update(segment).build(),
            TransactWriteItem::builder().update(job).build(),
        ])
    }

    async fn finish_segment_async(&self, job_id: &str, index: u32, millis: u64) -> Result<Finished> {
        let what = format!("finish segment {index} of job {job_id}");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(self.finish_transaction(job_id, index, millis)?))
                .send()
                .await;
            let e = match sent {
                Ok(_) => {
                    // The transaction returns nothing: read the counter. Under
                    // concurrent finishes it may already include later ones.
                    let job = self
                        .get_job(job_id)
                        .await?
                        .ok_or_else(|| conflict(format!("job {job_id} vanished")))?;
                    return Ok(Finished::Now {
                        done: job.segments_done,
                    });
                }
                Err(e) => e,
            };
            let reasons = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    c.cancellation_reasons().to_vec()
                }
                _ if e.code() == Some("TransactionConflictException") && attempt < TRANSACTION_ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                _ => return Err(self.err(&what, e)),
            };
            let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
            if code(0) == "ConditionalCheckFailed" {
                // Done already, or no such segment: the old item tells which.
                let existing = match reasons[0].item() {
                    Some(item) => Some(segment_from_item(item)?),
                    None => self.get_segment(job_id, index).await?,
                };
                match existing {
                    None => return Err(conflict(format!("job {job_id} has no segment {index}"))),
                    Some(seg) if seg.done => return Ok(Finished::Already),
                    // Not done after all (cannot happen: segments are never
                    // reset), so try again.
                    Some(_) => {}
                }
            } else if code(1) == "ConditionalCheckFailed" {
                return Err(conflict(format!("job {job_id} does not exist")));
            } else if !reasons.iter().filter_map(|r| r.code()).any(retryable_code) {
                return Err(self.err(&what, e));
            }
            // A race with another transaction on the same items (or throttling).
            if attempt >= TRANSACTION_ATTEMPTS {
                return Err(self.err(&what, e));
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    /// One conditional UpdateItem on the caller's window item:
    /// `ADD count 1` unless it has reached `limit`.
    async fn take_quota_async(&self, caller: &str, window_start_ms: u64, limit: u32) -> Result<bool> {
        if limit == 0 {
            return Ok(false);
        }
        let expires = window_start_ms / 1000 + 2 * 3600;
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                format!("{QUOTA_PREFIX}{caller}"),
                format!("WINDOW#{window_start_ms}"),
            )))
            .update_expression("ADD #count :one SET #expires = :expires")
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit.into()))
            .expression_attribute_values(":expires", n(expires))
            .send()
            .await;
        match update {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.err(&format!("count a job for caller {caller}"), e)),
        }
    }

    /// Scans the table for job items that are not final and idle since
    /// `idle_since_ms` (the table holds only unexpired jobs: TTL).
    async fn idle_jobs_async(&self, idle_since_ms: u64) -> Result<Vec<JobRecord>> {
        let mut jobs = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("#sk = :job AND NOT (#stage IN (:done, :failed)) AND #updated < :since")
                .expression_attribute_names("#sk", SK)
                .expression_attribute_names("#stage", "stage")
                .expression_attribute_names("#updated", "updated_ms")
                .expression_attribute_values(":job", s(JOB_SK))
                .expression_attribute_values(":done", s(Stage::Done.as_str()))
                .expression_attribute_values(":failed", s(Stage::Failed.as_str()))
                .expression_attribute_values(":since", n(idle_since_ms))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.err("scan for idle jobs", e))?;
            for item in out.items() {
                jobs.push(job_from_item(item)?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        jobs.sort_by_key(|j| j.updated_ms);
        Ok(jobs)
    }

    async fn record_output_async(&self, job_id: &str, output: &OutputRecord) -> Result<()> {
        let what = format!("record the output of job {job_id}");
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(job_pk(job_id), JOB_SK.into())))
            .condition_expression("attribute_exists(#pk) AND NOT (#stage IN (:done, :failed))")
            .update_expression("SET #output = :output, #updated = :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#stage", "stage")
            .expression_attribute_names("#output", "output")
            .expression_attribute_names("#updated", "updated_ms")
            .expression_attribute_values(":output", output_value(output))
            .expression_attribute_values(":done", s(Stage::Done.as_str()))
            .expression_attribute_values(":failed", s(Stage::Failed.as_str()))
            .expression_attribute_values(":now", n(now_ms()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let e = match sent {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let Some(UpdateItemError::ConditionalCheckFailedException(c)) = e.as_service_error() else {
            return Err(self.err(&what, e));
        };
        Err(match c.item() {
            Some(item) => conflict(format!(
                "cannot {what}: the job is {}",
                get_s(item, "stage").unwrap_or_default()
            )),
            None => conflict(format!("job {job_id} does not exist")),
        })
    }

    async fn set_stage_async(&self, job_id: &str, stage: Stage, error: Option<&str>) -> Result<()> {
        let what = format!("move job {job_id} to {stage}");
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(job_pk(job_id), JOB_SK.into())))
            .condition_expression("attribute_exists(#pk) AND NOT (#stage IN (:done, :failed))")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#stage", "stage")
            .expression_attribute_names("#updated", "updated_ms")
            .expression_attribute_values(":stage", s(stage.as_str()))
            .expression_attribute_values(":done", s(Stage::Done.as_str()))
            .expression_attribute_values(":failed", s(Stage::Failed.as_str()))
            .expression_attribute_values(":now", n(now_ms()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        update = match error {
            Some(error) => update
                .update_expression("SET #stage = :stage, #updated = :now, #error = :error")
                .expression_attribute_names("#error", "error")
                .expression_attribute_values(":error", s(error)),
            None => update.update_expression("SET #stage = :stage, #updated = :now"),
        };
        let e = match update.send().await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let Some(UpdateItemError::ConditionalCheckFailedException(c)) = e.as_service_error() else {
            return Err(self.err(&what, e));
        };
        // The job is final (it stays as it is) or missing (an error).
        let existing = match c.item() {
            Some(item) => Some(job_from_item(item)?),
            None => self.get_job(job_id).await?,
        };
        match existing {
            None => Err(conflict(format!("job {job_id} does not exist"))),
            Some(job) if job.stage.is_final() => Ok(()),
            Some(job) => Err(PipelineError::Jobs {
                message: format!("cannot {what}: the job changed meanwhile (now {})", job.stage),
                retryable: true,
                source: None,
            }),
        }
    }
}

impl JobStore for DynamoJobStore {
    /// A PutItem conditioned on the job not existing; a duplicate returns the
    /// stored job.
    fn create_job(&self, job: &JobRecord) -> Result<Created> {
        self.block_on(self.create_job_async(job))
    }

    /// A strongly consistent GetItem.
    fn job(&self, job_id: &str) -> Result<Option<JobRecord>> {
        self.block_on(self.get_job(job_id))
    }

    /// Conditional PutItems (not existing, or existing with equal ranges;
    /// different ranges or a different segment count are a
    /// [`PipelineError::Conflict`]), then an UpdateItem recording
    /// `segments_total` and moving a queued job to embedding. A missing job is
    /// a conflict.
    fn put_segments(&self, job_id: &str, segments: &[SegmentRecord]) -> Result<()> {
        self.block_on(self.put_segments_async(job_id, segments))
    }

    /// A strongly consistent Query of the job's `SEG#` items, by index.
    fn segments(&self, job_id: &str) -> Result<Vec<SegmentRecord>> {
        self.block_on(self.segments_async(job_id))
    }

    /// One TransactWriteItems: the segment's `done` false → true with its
    /// millis, and `ADD segments_done 1` on the job. A segment already done
    /// gives [`Finished::Already`]; a missing segment or job is a
    /// [`PipelineError::Conflict`]. Transactions that lose a race with
    /// another on the same items are retried here. `done` is read right after
    /// the transaction, so under concurrent finishes it may count later ones.
    fn finish_segment(&self, job_id: &str, index: u32, millis: u64) -> Result<Finished> {
        self.block_on(self.finish_segment_async(job_id, index, millis))
    }

    /// An UpdateItem conditioned on the job existing and not being done or
    /// failed: a final job silently stays as it is, a missing one is a
    /// [`PipelineError::Conflict`]. `error` is recorded when given.
    fn set_stage(&self, job_id: &str, stage: Stage, error: Option<&str>) -> Result<()> {
        self.block_on(self.set_stage_async(job_id, stage, error))
    }

    /// An UpdateItem of the job item's `output` map, conditioned as
    /// [`JobStore::set_stage`] is; a final or missing job is a
    /// [`PipelineError::Conflict`].
    fn record_output(&self, job_id: &str, output: &OutputRecord) -> Result<()> {
        self.block_on(self.record_output_async(job_id, output))
    }

    /// The job item's `output` map, from a strongly consistent GetItem.
    fn output(&self, job_id: &str) -> Result<Option<OutputRecord>> {
        self.block_on(async {
            match self
                .get_item(job_pk(job_id), JOB_SK.into(), &format!("read job {job_id}"))
                .await?
            {
                Some(item) => output_from_item(&item),
                None => Ok(None),
            }
        })
    }

    /// A Scan of the job items (filtered; paginated).
    fn idle_jobs(&self, idle_since_ms: u64) -> Result<Vec<JobRecord>> {
        self.block_on(self.idle_jobs_async(idle_since_ms))
    }

    /// A conditional UpdateItem of `pk = QUOTA#<caller>`,
    /// `sk = WINDOW#<start ms>` (expiring two hours after the window starts).
    fn take_quota(&self, caller: &str, window_start_ms: u64, limit: u32) -> Result<bool> {
        self.block_on(self.take_quota_async(caller, window_start_ms, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip() {
        let mut job = JobRecord::new("j1", "v", "e", "o");
        job.error = Some("boom".into());
        job.segments_total = 4;
        let item = job_item(&job);
        assert_eq!(item[PK], s("JOB#j1"));
        assert_eq!(item[SK], s("JOB"));
        assert_eq!(job_from_item(&item).unwrap(), job);

        let seg = SegmentRecord {
            index: 7,
            frame_start: 1,
            frame_end: 2,
            bit_start: 3,
            bit_end: 4,
            done: false,
            millis: None,
        };
        let item = segment_item("j1", &seg);
        assert_eq!(item[SK], s("SEG#00007"));
        assert_eq!(segment_from_item(&item).unwrap(), seg);
    }

    #[test]
    fn malformed_items_are_fatal_errors() {
        let mut item = job_item(&JobRecord::new("j1", "v", "e", "o"));
        item.insert("segments_done".into(), s("three"));
        let e = job_from_item(&item).unwrap_err();
        assert!(e.to_string().contains("JOB#j1/JOB"), "{e}");
        assert!(matches!(e, PipelineError::Jobs { retryable: false, .. }));
    }

    #[test]
    fn backoff_is_bounded() {
        for attempt in 0..20 {
            let d = backoff(attempt);
            assert!(d >= Duration::from_millis(1) && d <= Duration::from_millis(400));
        }
    }
}
