//! Shared set-up for the tests against the local AWS-protocol servers.
//!
//! The tests use the real SDK clients, configured only through the standard
//! environment (`AWS_ENDPOINT_URL_<SERVICE>`, dummy credentials, region) that
//! `infra/local/start.sh` writes. Unreachable servers fail the test with a
//! message telling how to start them: these tests never skip.

#![allow(dead_code)]

use std::net::TcpStream;
use std::time::Duration;
use vidstega_aws::AwsClients;
pub use vidstega_test_support::unique;

/// What a failing test says to do.
const HOW_TO_START: &str = "start the local AWS-protocol servers first:\n\
    \n    infra/local/install.sh\
    \n    source \"$(infra/local/start.sh --print-env-path)\"\
    \n    cargo test -p vidstega-aws\
    \n\nor run scripts/test.sh, which does all of this";

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
    vidstega_test_support::check_endpoints(&vidstega_test_support::ALL_ENDPOINTS, HOW_TO_START);
    rt.block_on(AwsClients::from_env())
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
