//! S3Store against moto's S3, through the real SDK client.

mod common;

use common::{clients, http, runtime, unique};
use std::io::Read;
use vidstega_aws::{run_blocking, S3Store};
use vidstega_pipeline::{conformance, MediaSource, ObjectStore, PipelineError};

const MIB: usize = 1024 * 1024;

fn store(rt: &tokio::runtime::Runtime) -> S3Store {
    let clients = clients(rt);
    let store = S3Store::new(clients.s3, unique("vidstega-test"), rt.handle().clone());
    rt.block_on(store.create_bucket())
        .expect("create the test bucket");
    store
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

/// Uploads in progress for the bucket (after an abort there must be none).
fn pending_uploads(rt: &tokio::runtime::Runtime, store: &S3Store, key: &str) -> usize {
    let out = rt
        .block_on(
            store
                .client()
                .list_multipart_uploads()
                .bucket(store.bucket())
                .prefix(key)
                .send(),
        )
        .expect("list multipart uploads");
    out.uploads().len()
}

fn etag(rt: &tokio::runtime::Runtime, store: &S3Store, key: &str) -> String {
    rt.block_on(
        store
            .client()
            .head_object()
            .bucket(store.bucket())
            .key(key)
            .send(),
    )
    .expect("head")
    .e_tag()
    .unwrap_or_default()
    .trim_matches('"')
    .to_string()
}

#[test]
fn s3_store_obeys_the_object_store_contract() {
    let rt = runtime();
    let store = store(&rt);
    // Called from the test's own thread, which is not a runtime worker.
    conformance::object_store(&store);
}

#[test]
fn ports_work_through_spawn_blocking_and_even_on_a_worker() {
    let rt = runtime();
    let store = store(&rt);
    let key = unique("blocking/k");
    let s = store.clone();
    let k = key.clone();
    // The recommended way from async code: the blocking pool.
    let back = rt.block_on(async move {
        run_blocking(move || {
            s.write_bytes(&k, b"from the blocking pool")?;
            s.read_all(&k)
        })
        .await
    });
    assert_eq!(back.unwrap(), b"from the blocking pool");
    // By mistake on a worker thread: still works (block_in_place).
    let s = store.clone();
    let k = key.clone();
    let size = rt
        .block_on(rt.spawn(async move { s.size(&k) }))
        .expect("the task ran")
        .unwrap();
    assert_eq!(size, Some(22));
}

#[test]
fn large_files_go_up_in_parts_and_the_local_file_is_removed() {
    let rt = runtime();
    let store = store(&rt);
    let data = pattern(20 * MIB + 5, 1);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("segment.mkv");
    std::fs::write(&file, &data).unwrap();
    let key = unique("segments/big") + ".mkv";
    store.put_file(&key, &file).unwrap();
    assert!(!file.exists(), "put_file moves the file into the store");
    assert_eq!(store.size(&key).unwrap(), Some(data.len() as u64));
    assert!(
        etag(&rt, &store, &key).ends_with("-3"),
        "8 + 8 + 4 MiB parts: a 3-part multipart ETag"
    );
    for r in [
        0..100,
        8 * MIB - 50..8 * MIB + 50,
        16 * MIB - 1..16 * MIB + 1,
        data.len() - 7..data.len(),
    ] {
        assert_eq!(
            store.read_range(&key, r.start as u64..r.end as u64).unwrap(),
            &data[r.clone()],
            "{r:?}"
        );
    }
    assert_eq!(store.read_all(&key).unwrap(), data);
    assert_eq!(pending_uploads(&rt, &store, &key), 0);

    // A small file is one PUT (no multipart ETag).
    std::fs::write(&file, b"tiny").unwrap();
    let small = unique("segments/small");
    store.put_file(&small, &file).unwrap();
    assert!(!etag(&rt, &store, &small).contains('-'));
    assert_eq!(store.read_all(&small).unwrap(), b"tiny");
    store.delete(&key).unwrap();
    store.delete(&small).unwrap();
}

/// A reader of `len` pattern bytes that records the largest single request it
/// got and can fail after `fail_after` bytes.
struct Source {
    data: Vec<u8>,
    pos: usize,
    fail_after: Option<usize>,
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(limit) = self.fail_after {
            if self.pos >= limit {
                return Err(std::io::Error::other("the encoder died"));
            }
        }
        // Odd-sized short reads, as a pipe gives them.
        let n = buf.len().min(self.data.len() - self.pos).min(777_777);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn streams_go_up_in_parts() {
    let rt = runtime();
    let store = store(&rt);
    // More parts than are uploaded at once, so some wait for a free slot
    // and they finish out of order.
    let data = pattern(41 * MIB + 321, 2);
    let key = unique("outputs/stream") + ".mkv";
    let mut source = Source {
        data: data.clone(),
        pos: 0,
        fail_after: None,
    };
    let n = store.put_stream(&key, &mut source).unwrap();
    assert_eq!(n, data.len() as u64);
    assert!(etag(&rt, &store, &key).ends_with("-6"), "5 x 8 + 1 MiB parts");
    assert_eq!(store.read_all(&key).unwrap(), data);
    assert_eq!(pending_uploads(&rt, &store, &key), 0);

    // Exactly one part's worth: a one-part multipart upload.
    let exact = unique("outputs/exact");
    let mut source = Source {
        data: pattern(8 * MIB, 3),
        pos: 0,
        fail_after: None,
    };
    assert_eq!(store.put_stream(&exact, &mut source).unwrap(), 8 * MIB as u64);
    assert_eq!(store.read_all(&exact).unwrap(), pattern(8 * MIB, 3));

    // Short and empty streams are single PUTs.
    let small = unique("outputs/small");
    assert_eq!(store.put_stream(&small, &mut &b"hello"[..]).unwrap(), 5);
    assert_eq!(store.read_all(&small).unwrap(), b"hello");
    let empty = unique("outputs/empty");
    assert_eq!(store.put_stream(&empty, &mut std::io::empty()).unwrap(), 0);
    assert_eq!(store.size(&empty).unwrap(), Some(0));
    for k in [&key, &exact, &small, &empty] {
        store.delete(k).unwrap();
    }
}

#[test]
fn a_failing_stream_leaves_nothing_behind() {
    let rt = runtime();
    let store = store(&rt);
    let key = unique("outputs/broken");
    // The check below can see uploads in progress: one made by hand shows up.
    let probe = format!("{key}-probe");
    let started = rt
        .block_on(
            store
                .client()
                .create_multipart_upload()
                .bucket(store.bucket())
                .key(&probe)
                .send(),
        )
        .unwrap();
    assert_eq!(pending_uploads(&rt, &store, &probe), 1);
    rt.block_on(
        store
            .client()
            .abort_multipart_upload()
            .bucket(store.bucket())
            .key(&probe)
            .upload_id(started.upload_id().unwrap())
            .send(),
    )
    .unwrap();
    assert_eq!(pending_uploads(&rt, &store, &probe), 0);

    let mut source = Source {
        data: pattern(30 * MIB, 4),
        pos: 0,
        fail_after: Some(17 * MIB),
    };
    let err = store.put_stream(&key, &mut source).unwrap_err();
    assert!(matches!(err, PipelineError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains(&key), "{err}");
    assert_eq!(store.size(&key).unwrap(), None, "no object");
    assert_eq!(
        pending_uploads(&rt, &store, &key),
        0,
        "the multipart upload was aborted"
    );
}

#[test]
fn presigned_urls_work_and_use_the_configured_endpoint() {
    let rt = runtime();
    let store = store(&rt);
    let key = unique("uploads/my video") + ".mp4";
    let data = pattern(300_000, 5);

    let put = rt
        .block_on(store.presign_put(
            &key,
            std::time::Duration::from_secs(300),
            Some("application/octet-stream"),
        ))
        .unwrap();
    assert!(
        !format!("{put:?}").contains("X-Amz-Signature"),
        "Debug hides the URL"
    );
    let endpoint = std::env::var("AWS_ENDPOINT_URL_S3").unwrap();
    let endpoint = endpoint.trim_end_matches('/');
    assert!(
        put.url.starts_with(&format!("{endpoint}/{}/", store.bucket())),
        "AWS_ENDPOINT_URL_S3 is honoured, with path-style addressing"
    );
    assert!(put.url.contains("X-Amz-Signature="), "SigV4 query signing");
    assert!(put
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v == "application/octet-stream"));
    let (status, _) = http("PUT", &put.url, &put.headers, &data);
    assert_eq!(status, 200);
    assert_eq!(store.read_all(&key).unwrap(), data);

    let source = store.media_source(&key).unwrap();
    assert_eq!(format!("{source:?}"), "Url(<signed, redacted>)");
    let MediaSource::Url(url) = source else {
        panic!("S3 objects are read through URLs")
    };
    assert!(url.starts_with(endpoint));
    assert!(url.contains("X-Amz-Expires=3600"), "the default TTL is one hour");
    let (status, body) = http("GET", &url, &[], &[]);
    assert_eq!(status, 200);
    assert_eq!(body, data);

    let short = store.clone().with_presign_ttl(std::time::Duration::from_secs(90));
    let MediaSource::Url(url) = short.media_source(&key).unwrap() else {
        unreachable!()
    };
    assert!(url.contains("X-Amz-Expires=90"));
}

#[test]
fn errors_name_the_bucket_and_key_and_say_whether_to_retry() {
    let rt = runtime();
    let store = store(&rt);

    // Missing objects and ranges past the end are the caller's problem, as
    // with the folder store.
    let missing = unique("nothing/here");
    assert!(matches!(
        store.read_all(&missing),
        Err(PipelineError::InvalidInput(_))
    ));
    assert!(matches!(
        store.read_range(&missing, 0..0),
        Err(PipelineError::InvalidInput(_))
    ));
    store.write_bytes(&missing, b"0123456789").unwrap();
    assert!(matches!(
        store.read_range(&missing, 20..30),
        Err(PipelineError::InvalidInput(_))
    ));
    assert!(matches!(
        store.read_range(&missing, 5..11),
        Err(PipelineError::InvalidInput(_))
    ));
    assert!(matches!(
        store.read_range(&missing, 10..11),
        Err(PipelineError::InvalidInput(_))
    ));

    // A bucket that does not exist: not retryable, names bucket and key.
    let clients = clients(&rt);
    let nowhere = S3Store::new(clients.s3.clone(), unique("no-such-bucket"), rt.handle().clone());
    let err = nowhere.write_bytes("plans/p.json", b"{}").unwrap_err();
    match &err {
        PipelineError::Store {
            message, retryable, ..
        } => {
            assert!(!retryable, "{message}");
            assert!(
                message.contains(nowhere.bucket()) && message.contains("plans/p.json"),
                "{message}"
            );
            assert!(message.contains("NoSuchBucket"), "{message}");
            assert!(!message.contains("http"), "no URL in messages: {message}");
        }
        other => panic!("expected a store error, got {other:?}"),
    }
    assert_eq!(err.class(), vidstega_core::ErrorClass::Fatal);

    // Nothing listening: a dispatch failure, retryable.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = clients
        .s3
        .config()
        .to_builder()
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .build();
    let dead = S3Store::new(
        aws_sdk_s3::Client::from_conf(config),
        store.bucket(),
        rt.handle().clone(),
    );
    match dead.size("uploads/v.mp4").unwrap_err() {
        PipelineError::Store {
            message, retryable, ..
        } => {
            assert!(retryable, "{message}");
            assert!(message.contains("uploads/v.mp4"), "{message}");
            assert!(
                !message.contains(&port.to_string()),
                "no URL in messages: {message}"
            );
        }
        other => panic!("expected a store error, got {other:?}"),
    }
}
