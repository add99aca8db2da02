//! S3Store against moto's S3, through the real SDK client.

use crate::common::{clients, http, runtime, unique};
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

    let url = store
        .download_url(&key)
        .unwrap()
        .expect("S3 objects have download URLs");
    assert!(url.starts_with(endpoint));
    assert!(url.contains("X-Amz-Expires=3600"), "the default TTL is one hour");
    let (status, body) = http("GET", &url, &[], &[]);
    assert_eq!(status, 200);
    assert_eq!(body, data);

    let short = store.clone().with_presign_ttl(std::time::Duration::from_secs(90));
    let url = short.download_url(&key).unwrap().unwrap();
    assert!(url.contains("X-Amz-Expires=90"));
}

/// A DNS resolver for the SDK only: every name is 127.0.0.1. ffmpeg, which
/// resolves names itself, cannot resolve the `.invalid` endpoint below — as
/// a statically linked ffmpeg on Lambda cannot resolve any name.
#[derive(Debug, Clone)]
struct SdkOnlyResolver;

impl aws_smithy_runtime_api::client::dns::ResolveDns for SdkOnlyResolver {
    fn resolve_dns<'a>(&'a self, _name: &'a str) -> aws_smithy_runtime_api::client::dns::DnsFuture<'a> {
        aws_smithy_runtime_api::client::dns::DnsFuture::ready(Ok(vec![std::net::IpAddr::V4(
            std::net::Ipv4Addr::LOCALHOST,
        )]))
    }
}

fn ffprobe_frames(input: &str) -> Result<u64, String> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", input])
        .output()
        .expect("run ffprobe (install ffmpeg: scripts/ensure-tools.sh)");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("{e}"))
}

#[test]
fn ffmpeg_reads_objects_through_the_loopback_server_and_resolves_no_name() {
    let rt = runtime();
    let clients = clients(&rt);
    // The same moto server, addressed by a name only the SDK can resolve.
    let endpoint = std::env::var("AWS_ENDPOINT_URL_S3").unwrap();
    let port = endpoint
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_with_resolver(SdkOnlyResolver);
    let conf = clients
        .s3
        .config()
        .to_builder()
        .endpoint_url(format!("http://localhost.vidstega.invalid:{port}"))
        .force_path_style(true)
        .http_client(http_client)
        .build();
    let store = S3Store::new(
        aws_sdk_s3::Client::from_conf(conf),
        unique("vidstega-dns"),
        rt.handle().clone(),
    );
    rt.block_on(store.create_bucket())
        .expect("create the test bucket");

    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("v.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=2"])
        .args(["-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p"])
        .arg(&video)
        .status()
        .expect("run ffmpeg (install ffmpeg: scripts/ensure-tools.sh)");
    assert!(made.success());
    let data = std::fs::read(&video).unwrap();
    let key = "uploads/some job/source video.mp4";
    store.write_bytes(key, &data).unwrap();

    // What ffmpeg used to be given: a presigned URL naming the endpoint's
    // host, which ffmpeg must resolve itself. It cannot.
    let presigned = store.download_url(key).unwrap().unwrap();
    assert!(presigned.starts_with("http://localhost.vidstega.invalid:"));
    let failed = ffprobe_frames(&presigned).expect_err("ffmpeg resolved a name only the SDK knows");
    assert!(failed.contains("resolve"), "ffprobe failed otherwise: {failed}");

    // What it is given now: an address, served by this process.
    let source = store.media_source(key).unwrap();
    assert_eq!(format!("{source:?}"), "Url(<signed, redacted>)");
    let MediaSource::Url(url) = source else {
        panic!("S3 objects are read through URLs")
    };
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(
        url.ends_with("/source%20video.mp4"),
        "the file name (for format guessing) ends the URL: {url}"
    );
    assert!(!url.contains("X-Amz"), "no credential in the URL ffmpeg sees");
    assert_eq!(
        store.media_source(key).unwrap(),
        MediaSource::Url(url.clone()),
        "one URL per key"
    );
    assert_eq!(ffprobe_frames(&url).unwrap(), 50);
    // A seek into the middle (a new connection with a Range request) decodes.
    let seek = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-ss",
            "1.2",
            "-i",
            &url,
            "-frames:v",
            "1",
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    assert!(seek.status.success(), "{}", String::from_utf8_lossy(&seek.stderr));

    // The server itself: whole objects, ranges, and refusals.
    let (status, body) = http("GET", &url, &[], &[]);
    assert_eq!((status, body.len()), (200, data.len()));
    assert_eq!(body, data);
    let range = |spec: &str| vec![("Range".to_string(), spec.to_string())];
    let (status, body) = http("GET", &url, &range("bytes=100-199"), &[]);
    assert_eq!((status, body.as_slice()), (206, &data[100..200]));
    let (status, body) = http("GET", &url, &range("bytes=1000-"), &[]);
    assert_eq!((status, body.as_slice()), (206, &data[1000..]));
    let (status, _) = http("GET", &url, &range(&format!("bytes={}-", data.len() + 10)), &[]);
    assert_eq!(status, 416);
    let (status, _) = http("GET", &url, &range("bytes=0-1,5-9"), &[]);
    assert_eq!(status, 416);
    let (status, _) = http("POST", &url, &[], b"x");
    assert_eq!(status, 405);
    let (base, _) = url.rsplit_once('/').unwrap();
    let (server, _token) = base.rsplit_once('/').unwrap();
    let (status, _) = http("GET", &format!("{server}/{}/x.mp4", "0".repeat(32)), &[], &[]);
    assert_eq!(status, 404, "an unknown token is not an object");
    let MediaSource::Url(gone) = store.media_source("uploads/never/stored.mp4").unwrap() else {
        unreachable!()
    };
    let (status, _) = http("GET", &gone, &[], &[]);
    assert_eq!(status, 404, "a missing object is a 404");
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
