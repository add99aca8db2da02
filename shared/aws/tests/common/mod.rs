//! Shared set-up for the tests against the local AWS-protocol servers.
//!
//! The tests use the real SDK clients, configured only through the standard
//! environment (`AWS_ENDPOINT_URL_<SERVICE>`, dummy credentials, region) that
//! `infra/local/start.sh` writes. Unreachable servers fail the test with a
//! message telling how to start them: these tests never skip.

#![allow(dead_code)]

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use vidstega_aws::AwsClients;

const HOW_TO_START: &str = "start the local AWS-protocol servers first:\n\
    \n    infra/local/install.sh\
    \n    source \"$(infra/local/start.sh --print-env-path)\"\
    \n    cargo test -p vidstega-aws\
    \n\nor run scripts/test.sh, which does all of this";

/// The endpoint variables the tests need, each checked to point at a
/// loopback server that accepts connections (so a test can never reach AWS).
fn check_endpoints() {
    let mut problems = Vec::new();
    for var in [
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_ENDPOINT_URL_SFN",
    ] {
        let Ok(url) = std::env::var(var) else {
            problems.push(format!("{var} is not set"));
            continue;
        };
        let host_port = url
            .strip_prefix("http://")
            .unwrap_or(&url)
            .trim_end_matches('/')
            .to_string();
        let loopback = host_port.starts_with("127.") || host_port.starts_with("localhost:");
        if !loopback {
            problems.push(format!(
                "{var}={url} is not a local server (the tests only talk to 127.0.0.1)"
            ));
            continue;
        }
        let reachable = host_port
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
        if !reachable {
            problems.push(format!("nothing answers at {var}={url}"));
        }
    }
    for var in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
        if std::env::var_os(var).is_none() {
            problems.push(format!("{var} is not set"));
        }
    }
    if !problems.is_empty() {
        panic!(
            "the local AWS-protocol servers are not reachable ({}); {HOW_TO_START}",
            problems.join("; ")
        );
    }
}

/// A multi-thread runtime for the SDK; the tests call the sync ports from
/// their own (non-runtime) thread or through spawn_blocking.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Checks the servers, then builds the clients exactly as a Lambda does.
pub fn clients(rt: &tokio::runtime::Runtime) -> AwsClients {
    check_endpoints();
    rt.block_on(AwsClients::from_env())
}

/// A name unique to this run and call: lowercase letters, digits, dashes.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{:x}-{}",
        std::process::id(),
        nanos % 0xffff_ffff_ffff,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A plain HTTP/1.1 request to a local URL (presigned URLs are tested with a
/// client that is not the SDK). Returns the status and body.
pub fn http(method: &str, url: &str, headers: &[(String, String)], body: &[u8]) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("a local http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(host).expect("connect to the local server");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        if !k.eq_ignore_ascii_case("host") {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(req.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = response[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16).unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}
