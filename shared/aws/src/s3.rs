//! S3 as the object store.
//!
//! Files are streamed from disk (multipart above [`MULTIPART_THRESHOLD`]),
//! streams are uploaded part by part holding about one part in memory, and a
//! failed multipart upload is aborted so no parts are left behind. ffmpeg
//! reads objects through presigned GET URLs.

use crate::error::{classify, store_error, AwsError};
use crate::loopback::Loopback;
use crate::runtime::block_on;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{
    BucketLocationConstraint, ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart,
    CreateBucketConfiguration,
};
use aws_sdk_s3::Client;
use std::fmt;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::Handle;
use vidstega_pipeline::{MediaSource, ObjectStat, ObjectStore, PipelineError, Result};

const MIB: u64 = 1024 * 1024;

/// Files larger than this are uploaded as multipart uploads.
pub const MULTIPART_THRESHOLD: u64 = 8 * MIB;
/// The smallest part this store uploads (S3's own minimum is 5 MiB).
pub const MIN_PART_SIZE: u64 = 8 * MIB;
/// The largest part this store uploads.
pub const MAX_PART_SIZE: u64 = 64 * MIB;
/// S3's limit on the parts of one upload.
pub const MAX_PARTS: u64 = 10_000;
/// How many parts of a file are uploaded at once.
const PARALLEL_FILE_PARTS: usize = 4;
/// How many parts of a stream are uploaded at once (each held in memory).
const PARALLEL_STREAM_PARTS: usize = 4;
/// How long presigned URLs stay valid unless configured otherwise.
pub const DEFAULT_PRESIGN_TTL: Duration = Duration::from_secs(3600);
/// The longest validity SigV4 presigning allows.
pub const MAX_PRESIGN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// An S3 bucket as the pipeline's [`ObjectStore`].
///
/// # Threads
///
/// The [`ObjectStore`] methods are synchronous: each one blocks the calling
/// thread on the tokio runtime behind `handle` until the S3 calls are done.
/// Call them from a thread that is **not** a runtime worker: a plain thread
/// (the pipeline's step threads), or from async code through
/// [`tokio::task::spawn_blocking`] (see [`crate::run_blocking`]). The handle
/// must belong to a multi-thread runtime, which drives the network while the
/// caller blocks. Called on a multi-thread worker by mistake, a method still
/// works (it uses [`tokio::task::block_in_place`]) but stalls that worker; on
/// a current-thread runtime it panics.
///
/// Presigned URLs are bearer credentials: they are returned, never logged,
/// and error messages name the bucket and key only.
#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    handle: Handle,
    presign_ttl: Duration,
    /// The loopback server ffmpeg reads objects through, started on the
    /// first [`ObjectStore::media_source`] and shared by clones.
    loopback: Arc<Mutex<Option<Arc<Loopback>>>>,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.bucket)
            .field("presign_ttl", &self.presign_ttl)
            .finish_non_exhaustive()
    }
}

/// A presigned PUT: the URL and the headers the uploader must send with it.
#[derive(Clone, PartialEq, Eq)]
pub struct PresignedPut {
    /// The URL to PUT the object's bytes to. A bearer credential: never log it.
    pub url: String,
    /// Headers that were signed and must be sent as they are (e.g. `content-type`).
    pub headers: Vec<(String, String)>,
    /// How long the URL stays valid from when it was made.
    pub expires_in: Duration,
}

impl fmt::Debug for PresignedPut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresignedPut")
            .field("url", &"<signed, redacted>")
            .field("headers", &self.headers)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

fn invalid(message: String) -> PipelineError {
    PipelineError::InvalidInput(message)
}

fn is_not_found(status: Option<u16>, code: Option<&str>) -> bool {
    matches!(code, Some("NoSuchKey" | "NotFound")) || (status == Some(404) && code.is_none())
}

/// The part size for a file of `len` bytes: at least [`MIN_PART_SIZE`], large
/// enough to stay within [`MAX_PARTS`], rounded up to whole MiB.
pub fn file_part_size(len: u64) -> Option<u64> {
    let needed = len.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    let size = needed.max(MIN_PART_SIZE);
    (size <= MAX_PART_SIZE).then_some(size)
}

/// The size of part `number` (1-based) of a stream of unknown length: 8 MiB
/// for the first 1,000 parts, then 16, 32 and finally 64 MiB, so a stream can
/// grow to about 490 GiB within [`MAX_PARTS`] while small streams use small
/// buffers.
pub fn stream_part_size(number: u64) -> u64 {
    match number {
        0..=1000 => MIN_PART_SIZE,
        1001..=2000 => 2 * MIN_PART_SIZE,
        2001..=3000 => 4 * MIN_PART_SIZE,
        _ => MAX_PART_SIZE,
    }
}

/// Reads up to `size` bytes; fewer only at the end of the stream.
fn read_part(reader: &mut dyn Read, size: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(size as usize);
    reader.take(size).read_to_end(&mut buf)?;
    Ok(buf)
}

impl S3Store {
    /// A store for `bucket` that blocks on `handle` (see the type's docs) and
    /// presigns URLs for [`DEFAULT_PRESIGN_TTL`].
    pub fn new(client: Client, bucket: impl Into<String>, handle: Handle) -> Self {
        S3Store {
            client,
            bucket: bucket.into(),
            handle,
            presign_ttl: DEFAULT_PRESIGN_TTL,
            loopback: Arc::default(),
        }
    }

    /// Sets how long the URLs of [`ObjectStore::media_source`] stay valid
    /// (clamped to 1 s ..= 7 days).
    pub fn with_presign_ttl(mut self, ttl: Duration) -> Self {
        self.presign_ttl = ttl.clamp(Duration::from_secs(1), MAX_PRESIGN_TTL);
        self
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// How long media-source URLs stay valid.
    pub fn presign_ttl(&self) -> Duration {
        self.presign_ttl
    }

    fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        block_on(&self.handle, fut)
    }

    fn err<E>(&self, what: &str, key: &str, e: SdkError<E, HttpResponse>) -> PipelineError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        store_error(what, &self.bucket, key, e)
    }

    fn missing(&self, key: &str) -> PipelineError {
        invalid(format!(
            "object {key:?} does not exist in bucket {:?}",
            self.bucket
        ))
    }

    fn presigning(&self, key: &str, ttl: Duration) -> Result<PresigningConfig> {
        PresigningConfig::expires_in(ttl).map_err(|e| PipelineError::Store {
            message: format!(
                "cannot presign {key:?} in bucket {:?} for {ttl:?}: {e}",
                self.bucket
            ),
            retryable: false,
            source: Some(Box::new(e)),
        })
    }

    /// A presigned GET URL for `key`, valid for `ttl` (at most 7 days).
    pub async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String> {
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(self.presigning(key, ttl)?)
            .await
            .map_err(|e| self.err("presign a download of", key, e))?;
        Ok(req.uri().to_string())
    }

    /// A presigned PUT URL for uploading `key` directly (e.g. from a browser),
    /// valid for `ttl` (at most 7 days). With a `content_type`, the uploader
    /// must send exactly that `Content-Type`; it is among the returned headers.
    pub async fn presign_put(
        &self,
        key: &str,
        ttl: Duration,
        content_type: Option<&str>,
    ) -> Result<PresignedPut> {
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .set_content_type(content_type.map(str::to_string))
            .presigned(self.presigning(key, ttl)?)
            .await
            .map_err(|e| self.err("presign an upload to", key, e))?;
        Ok(PresignedPut {
            url: req.uri().to_string(),
            headers: req
                .headers()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            expires_in: ttl,
        })
    }

    /// Creates the bucket if it does not exist yet (for tests and local use).
    pub async fn create_bucket(&self) -> std::result::Result<(), AwsError> {
        let mut req = self.client.create_bucket().bucket(&self.bucket);
        let region = self.client.config().region().map(|r| r.as_ref().to_string());
        if let Some(region) = region.filter(|r| r != "us-east-1") {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region.as_str()))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.code(), Some("BucketAlreadyOwnedByYou")) => Ok(()),
            Err(e) => Err(AwsError::service(
                "s3",
                &format!("create bucket {:?}", self.bucket),
                e,
            )),
        }
    }

    async fn head(&self, key: &str) -> Result<Option<u64>> {
        Ok(self.head_stat(key).await?.map(|s| s.bytes))
    }

    async fn head_stat(&self, key: &str) -> Result<Option<ObjectStat>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectStat {
                bytes: out.content_length().unwrap_or(0).max(0) as u64,
                tag: out.e_tag().map(str::to_string),
            })),
            Err(e) => {
                let f = classify(&e);
                if is_not_found(f.status, f.code.as_deref()) {
                    Ok(None)
                } else {
                    Err(self.err("look up", key, e))
                }
            }
        }
    }

    async fn get(&self, key: &str, range: Option<&Range<u64>>) -> Result<Vec<u8>> {
        let header = range.map(|r| format!("bytes={}-{}", r.start, r.end - 1));
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_range(header)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let f = classify(&e);
                if is_not_found(f.status, f.code.as_deref()) {
                    return Err(self.missing(key));
                }
                if let (Some(r), Some("InvalidRange")) = (range, f.code.as_deref()) {
                    return Err(invalid(format!(
                        "bytes {}..{} are outside {key:?} in bucket {:?}",
                        r.start, r.end, self.bucket
                    )));
                }
                return Err(self.err("read", key, e));
            }
        };
        let total = out
            .content_range()
            .and_then(|cr| cr.rsplit('/').next())
            .and_then(|t| t.parse::<u64>().ok());
        let bytes = out.body.collect().await.map_err(|e| PipelineError::Store {
            message: format!(
                "cannot read {key:?} in bucket {:?}: the download broke off",
                self.bucket
            ),
            retryable: true,
            source: Some(Box::new(e)),
        })?;
        let bytes = bytes.into_bytes().to_vec();
        if let Some(r) = range {
            if bytes.len() as u64 != r.end - r.start {
                let size = total.map(|t| format!(" ({t} bytes)")).unwrap_or_default();
                return Err(invalid(format!(
                    "bytes {}..{} are outside {key:?} in bucket {:?}{size}",
                    r.start, r.end, self.bucket
                )));
            }
        }
        Ok(bytes)
    }

    async fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        let len = bytes.len() as i64;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(len)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| self.err("write", key, e))?;
        Ok(())
    }

    async fn put_small_file(&self, key: &str, file: &Path, len: u64) -> Result<()> {
        let body = ByteStream::read_from()
            .path(file)
            .length(Length::Exact(len))
            .build()
            .await
            .map_err(|e| file_error(key, file, e))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(len as i64)
            .body(body)
            .send()
            .await
            .map_err(|e| self.err("upload", key, e))?;
        Ok(())
    }

    async fn create_multipart(&self, key: &str) -> Result<String> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .map_err(|e| self.err("start a multipart upload of", key, e))?;
        out.upload_id.ok_or_else(|| PipelineError::Store {
            message: format!(
                "cannot start a multipart upload of {key:?} in bucket {:?}: no upload id in the answer",
                self.bucket
            ),
            retryable: true,
            source: None,
        })
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        mut parts: Vec<CompletedPart>,
    ) -> Result<()> {
        parts.sort_by_key(|p| p.part_number());
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| self.err("complete the multipart upload of", key, e))?;
        Ok(())
    }

    /// Aborts a multipart upload, so its parts are deleted. Best effort: a
    /// failure is logged (the bucket's lifecycle rule for incomplete uploads
    /// is the backstop).
    async fn abort_multipart(&self, key: &str, upload_id: &str) {
        if let Err(e) = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            let f = classify(&e);
            tracing::warn!(
                bucket = %self.bucket,
                key,
                error = %f.summary,
                "cannot abort a failed multipart upload; its parts stay until the bucket's lifecycle rule removes them"
            );
        }
    }

    async fn put_file_parts(
        &self,
        key: &str,
        upload_id: &str,
        file: &Path,
        len: u64,
    ) -> Result<Vec<CompletedPart>> {
        let part_size = file_part_size(len).ok_or_else(|| {
            invalid(format!(
                "{} ({len} bytes) is too large for one S3 object",
                file.display()
            ))
        })?;
        let count = len.div_ceil(part_size);
        let mut parts = Vec::with_capacity(count as usize);
        let mut tasks = tokio::task::JoinSet::new();
        let mut next = 0u64;
        let mut failed: Option<PipelineError> = None;
        loop {
            while failed.is_none() && next < count && tasks.len() < PARALLEL_FILE_PARTS {
                let offset = next * part_size;
                let size = part_size.min(len - offset);
                next += 1;
                let part = FilePart {
                    store: self.clone(),
                    key: key.to_string(),
                    upload_id: upload_id.to_string(),
                    file: file.to_path_buf(),
                    number: next as i32,
                    offset,
                    size,
                };
                tasks.spawn(part.upload());
            }
            match tasks.join_next().await {
                None => break,
                Some(Ok(Ok(part))) => parts.push(part),
                Some(Ok(Err(e))) => {
                    if failed.is_none() {
                        // Stop the other parts too: the upload is aborted anyway.
                        tasks.abort_all();
                        failed = Some(e);
                    }
                }
                Some(Err(join)) if join.is_cancelled() => {}
                Some(Err(join)) => std::panic::resume_unwind(join.into_panic()),
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(parts),
        }
    }

    /// Uploads `first` and then the rest of `reader` as parts of `upload_id`
    /// and completes the upload; the caller aborts it on error.
    fn stream_parts(&self, key: &str, upload_id: &str, first: Vec<u8>, reader: &mut dyn Read) -> Result<u64> {
        // Parts upload on the runtime while this thread reads the next one
        // from the stream; at most PARALLEL_STREAM_PARTS are in flight, so
        // memory stays at a few parts whatever the stream's length.
        let mut parts = Vec::new();
        let mut tasks = tokio::task::JoinSet::new();
        let mut total = 0u64;
        let mut chunk = first;
        let mut number = 1u64;
        loop {
            let size = chunk.len() as u64;
            total += size;
            let last = size < stream_part_size(number);
            if size > 0 {
                if tasks.len() >= PARALLEL_STREAM_PARTS {
                    parts.push(self.block_on(next_part(&mut tasks))?);
                }
                let (store, key, upload_id) = (self.clone(), key.to_string(), upload_id.to_string());
                tasks.spawn_on(
                    async move {
                        store
                            .upload_part_bytes(&key, &upload_id, number as i32, chunk)
                            .await
                    },
                    &self.handle,
                );
            }
            if last {
                break;
            }
            number += 1;
            if number > MAX_PARTS {
                return Err(invalid(format!(
                    "the stream for {key:?} is too large for one S3 object"
                )));
            }
            chunk = read_part(reader, stream_part_size(number)).map_err(|e| stream_read_error(key, e))?;
        }
        while !tasks.is_empty() {
            parts.push(self.block_on(next_part(&mut tasks))?);
        }
        parts.sort_by_key(|p| p.part_number());
        self.block_on(self.complete_multipart(key, upload_id, parts))?;
        Ok(total)
    }

    async fn upload_part_bytes(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        bytes: Vec<u8>,
    ) -> Result<CompletedPart> {
        let len = bytes.len() as i64;
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .content_length(len)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| self.err(&format!("upload part {number} of"), key, e))?;
        Ok(completed(number, out.e_tag, out.checksum_crc32))
    }
}

/// The next finished part upload of `tasks` (which must not be empty). On
/// error the set is dropped by the caller, which aborts the other parts.
async fn next_part(tasks: &mut tokio::task::JoinSet<Result<CompletedPart>>) -> Result<CompletedPart> {
    match tasks.join_next().await {
        Some(Ok(part)) => part,
        Some(Err(join)) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Some(Err(join)) => Err(PipelineError::Store {
            message: "a part upload was cancelled (the runtime is shutting down)".into(),
            retryable: true,
            source: Some(Box::new(join)),
        }),
        None => Err(PipelineError::Conflict("no part upload was running".into())),
    }
}

fn completed(number: i32, e_tag: Option<String>, crc32: Option<String>) -> CompletedPart {
    CompletedPart::builder()
        .part_number(number)
        .set_e_tag(e_tag)
        .set_checksum_crc32(crc32)
        .build()
}

fn stream_read_error(key: &str, e: std::io::Error) -> PipelineError {
    PipelineError::io(format!("cannot read the data to store as {key:?}"), e)
}

fn file_error(key: &str, file: &Path, e: aws_sdk_s3::primitives::ByteStreamError) -> PipelineError {
    PipelineError::Store {
        message: format!("cannot read {} to upload it as {key:?}", file.display()),
        retryable: false,
        source: Some(Box::new(e)),
    }
}

/// One part of a file, uploaded on its own task.
struct FilePart {
    store: S3Store,
    key: String,
    upload_id: String,
    file: PathBuf,
    number: i32,
    offset: u64,
    size: u64,
}

impl FilePart {
    async fn upload(self) -> Result<CompletedPart> {
        let s = &self.store;
        let body = ByteStream::read_from()
            .path(&self.file)
            .offset(self.offset)
            .length(Length::Exact(self.size))
            .build()
            .await
            .map_err(|e| file_error(&self.key, &self.file, e))?;
        let out = s
            .client
            .upload_part()
            .bucket(&s.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .part_number(self.number)
            .content_length(self.size as i64)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(body)
            .send()
            .await
            .map_err(|e| s.err(&format!("upload part {} of", self.number), &self.key, e))?;
        Ok(completed(self.number, out.e_tag, out.checksum_crc32))
    }
}

impl S3Store {
    /// The running loopback server, started on first use.
    fn loopback(&self) -> Result<Arc<Loopback>> {
        let mut slot = self.loopback.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(server) = slot.as_ref() {
            return Ok(Arc::clone(server));
        }
        let server = Loopback::start(self.client.clone(), self.bucket.clone(), &self.handle)
            .map(Arc::new)
            .map_err(|e| {
                PipelineError::io(
                    "cannot start the loopback server ffmpeg reads S3 objects through",
                    e,
                )
            })?;
        *slot = Some(Arc::clone(&server));
        Ok(server)
    }
}

impl ObjectStore for S3Store {
    /// An `http://127.0.0.1:<port>/<token>/<name>` URL served by this
    /// process: the SDK fetches the bytes (names resolved, TLS verified,
    /// retries), ffmpeg resolves nothing and holds no credential. Valid as
    /// long as the store (or a clone) lives.
    fn media_source(&self, key: &str) -> Result<MediaSource> {
        Ok(MediaSource::Url(self.loopback()?.url(key)))
    }

    /// A presigned GET URL valid for the store's TTL (default 1 h).
    fn download_url(&self, key: &str) -> Result<Option<String>> {
        self.block_on(self.presign_get(key, self.presign_ttl)).map(Some)
    }

    fn size(&self, key: &str) -> Result<Option<u64>> {
        self.block_on(self.head(key))
    }

    /// A HeadObject: the size and the ETag.
    fn stat(&self, key: &str) -> Result<Option<ObjectStat>> {
        self.block_on(self.head_stat(key))
    }

    /// A `Range` GET. A missing object or a range past its end is
    /// [`PipelineError::InvalidInput`], as with the folder store.
    fn read_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>> {
        if range.start > range.end {
            return Err(invalid(format!(
                "bytes {}..{} of {key:?} are not a range",
                range.start, range.end
            )));
        }
        if range.is_empty() {
            // No Range header can ask for nothing: check the bounds instead.
            return match self.size(key)? {
                None => Err(self.missing(key)),
                Some(len) if range.end > len => Err(invalid(format!(
                    "bytes {}..{} are outside {key:?} in bucket {:?} ({len} bytes)",
                    range.start, range.end, self.bucket
                ))),
                Some(_) => Ok(Vec::new()),
            };
        }
        self.block_on(self.get(key, Some(&range)))
    }

    fn read_all(&self, key: &str) -> Result<Vec<u8>> {
        self.block_on(self.get(key, None))
    }

    fn write_bytes(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.block_on(self.put_bytes(key, bytes.to_vec()))
    }

    /// Streams the file from disk: one PUT up to [`MULTIPART_THRESHOLD`],
    /// else a multipart upload of 8–64 MiB parts, several at once, aborted on
    /// any error. The local file is removed once stored.
    fn put_file(&self, key: &str, file: &Path) -> Result<()> {
        let len = std::fs::metadata(file)
            .map_err(|e| PipelineError::io(format!("cannot stat {}", file.display()), e))?
            .len();
        if len <= MULTIPART_THRESHOLD {
            self.block_on(self.put_small_file(key, file, len))?;
        } else {
            self.block_on(async {
                let upload_id = self.create_multipart(key).await?;
                let done = match self.put_file_parts(key, &upload_id, file, len).await {
                    Ok(parts) => self.complete_multipart(key, &upload_id, parts).await,
                    Err(e) => Err(e),
                };
                if done.is_err() {
                    self.abort_multipart(key, &upload_id).await;
                }
                done
            })?;
        }
        if let Err(e) = std::fs::remove_file(file) {
            tracing::warn!(file = %file.display(), key, error = %e, "stored, but cannot remove the local file");
        }
        Ok(())
    }

    /// Reads `reader` in parts of [`stream_part_size`] (8 MiB at first) and
    /// uploads up to four at once while it reads the next, so at most five
    /// parts are in memory.
    /// A stream shorter than one part is a single PUT. Any error (reading or
    /// uploading) aborts the multipart upload: nothing is left under `key`.
    fn put_stream(&self, key: &str, reader: &mut dyn Read) -> Result<u64> {
        let first = read_part(reader, stream_part_size(1)).map_err(|e| stream_read_error(key, e))?;
        if (first.len() as u64) < stream_part_size(1) {
            let n = first.len() as u64;
            self.block_on(self.put_bytes(key, first))?;
            return Ok(n);
        }
        let upload_id = self.block_on(self.create_multipart(key))?;
        let result = self.stream_parts(key, &upload_id, first, reader);
        if result.is_err() {
            self.block_on(self.abort_multipart(key, &upload_id));
        }
        result
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.block_on(async {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| self.err("delete", key, e))
        })?;
        Ok(())
    }

    /// Pages through ListObjectsV2.
    /// A presigned PUT URL (no signed content type: clients send none or
    /// `application/octet-stream`), valid for `ttl_seconds`.
    fn presign_put(&self, key: &str, ttl_seconds: u64) -> Result<String> {
        let ttl = std::time::Duration::from_secs(ttl_seconds);
        self.block_on(S3Store::presign_put(self, key, ttl, None))
            .map(|p| p.url)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.block_on(async {
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .into_paginator()
                .send();
            let mut keys = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| self.err("list the keys under", prefix, e))?;
                keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
            }
            keys.sort();
            Ok(keys)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_parts_are_8_to_64_mib_and_at_most_10000() {
        assert_eq!(file_part_size(9 * MIB), Some(8 * MIB));
        assert_eq!(file_part_size(80_000 * MIB), Some(8 * MIB));
        assert_eq!(file_part_size(80_001 * MIB), Some(9 * MIB));
        assert_eq!(file_part_size(640_000 * MIB), Some(64 * MIB));
        assert_eq!(file_part_size(640_000 * MIB + 1), None);
        for len in [9 * MIB, 100_000 * MIB, 333_333 * MIB + 7] {
            let size = file_part_size(len).unwrap();
            assert!(len.div_ceil(size) <= MAX_PARTS);
        }
    }

    #[test]
    fn stream_parts_grow_within_the_part_limit() {
        assert_eq!(stream_part_size(1), 8 * MIB);
        assert_eq!(stream_part_size(1000), 8 * MIB);
        assert_eq!(stream_part_size(1001), 16 * MIB);
        assert_eq!(stream_part_size(MAX_PARTS), 64 * MIB);
        let total: u64 = (1..=MAX_PARTS).map(stream_part_size).sum();
        assert!(total > 400 * 1024 * MIB);
    }

    #[test]
    fn presigned_puts_do_not_print_their_url() {
        let p = PresignedPut {
            url: "http://127.0.0.1/b/k?X-Amz-Signature=secret".into(),
            headers: vec![],
            expires_in: Duration::from_secs(5),
        };
        assert!(!format!("{p:?}").contains("secret"));
    }
}
