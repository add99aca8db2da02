//! Set-up for the cloud command tests: the local AWS-protocol servers (moto
//! for S3 and SQS, DynamoDB Local), a fresh bucket, table and queue per test,
//! and a real HTTP server that serves the presign and status handlers the way
//! the Function URLs do.
//!
//! The servers are found only through the standard environment
//! (`AWS_ENDPOINT_URL_<SERVICE>`, dummy credentials, region) that
//! `infra/local/start.sh` writes; without it the tests fail, saying how to
//! start them. They never skip.

#![allow(dead_code)]

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vidstega_aws::{AwsClients, DynamoJobStore, S3Store, SqsQueue};
use vidstega_pipeline::contract::ExecutionInput;
use vidstega_pipeline::PlanSettings;
use vidstega_serverless::{Services, Settings, Workflow};
pub use vidstega_test_support::unique;

/// What a failing test says to do.
const HOW_TO_START: &str = "start the local AWS-protocol servers first:\n\
    \n    infra/local/install.sh\
    \n    source \"$(infra/local/start.sh --print-env-path)\"\
    \n    cargo test -p vidstega --test tests cloud::\
    \n\nor run scripts/test.sh, which does all of this";

/// Panics (with the commands that start them) unless the endpoint variables
/// point at loopback servers that accept connections, so a test can never
/// reach AWS.
pub fn check_endpoints() {
    vidstega_test_support::check_endpoints(
        &[
            "AWS_ENDPOINT_URL_S3",
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_ENDPOINT_URL_SQS",
        ],
        HOW_TO_START,
    );
}

/// A fresh bucket, job table and queue on the local servers, with the
/// stores over them. The stores block on `rt`: use them from the test's own
/// threads, never inside `rt.block_on`.
pub struct Cloud {
    /// Drives the SDK.
    pub rt: tokio::runtime::Runtime,
    /// The SDK clients, built from the standard chain as the CLI does.
    pub clients: AwsClients,
    /// The bucket.
    pub store: S3Store,
    /// The job table.
    pub jobs: DynamoJobStore,
    /// The jobs queue.
    pub queue: SqsQueue,
}

impl Cloud {
    /// Checks the servers, then creates a bucket, a table and a queue.
    pub fn new() -> Cloud {
        check_endpoints();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let clients = rt.block_on(AwsClients::from_env());
        let store = S3Store::new(clients.s3.clone(), unique("vidstega-cli"), rt.handle().clone());
        let jobs = DynamoJobStore::new(
            clients.dynamodb.clone(),
            unique("vidstega-cli"),
            rt.handle().clone(),
        );
        let queue = rt.block_on(async {
            store.create_bucket().await.expect("create the bucket");
            jobs.create_table().await.expect("create the table");
            SqsQueue::create(clients.sqs.clone(), &unique("vidstega-cli"))
                .await
                .expect("create the queue")
        });
        Cloud {
            rt,
            clients,
            store,
            jobs,
            queue,
        }
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        self.store.bucket()
    }

    /// The table name.
    pub fn table(&self) -> &str {
        self.jobs.table()
    }
}

/// One request the function server received.
#[derive(Clone, Debug)]
pub struct Received {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Headers, names lowercased.
    pub headers: HashMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

/// The state machine, left out: the tests only create and follow jobs.
struct NoWorkflow;

impl Workflow for NoWorkflow {
    fn start(&self, _job_id: &str, _input: &ExecutionInput) -> vidstega_pipeline::Result<bool> {
        Ok(false)
    }

    fn state(&self, _job_id: &str) -> vidstega_pipeline::Result<Option<vidstega_serverless::ExecutionState>> {
        Ok(None)
    }

    fn stop(&self, _job_id: &str, _cause: &str) -> vidstega_pipeline::Result<()> {
        Ok(())
    }

    fn active_jobs(&self, _at_most: u64) -> vidstega_pipeline::Result<u64> {
        Ok(0)
    }
}

/// A real HTTP/1.1 server on 127.0.0.1 that turns each request into a
/// Function URL event and answers with `vidstega_serverless::http::presign`
/// (`POST /jobs`) or `http::status` (`GET /jobs/<id>`), over the S3 and
/// DynamoDB stores, as the deployed functions do. Stops when dropped.
pub struct FunctionServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Every request, in order.
    pub received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FunctionServer {
    /// Serves over `store` and `jobs` (cheap clones of the test's stores).
    pub fn start(store: S3Store, jobs: DynamoJobStore) -> FunctionServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let settings = Settings {
            bucket: store.bucket().to_string(),
            scratch: std::env::temp_dir(),
            plan: PlanSettings::default(),
            inline_map_limit: 400,
            presign_ttl_seconds: 900,
            job_record_days: 30,
            max_active_jobs: 0,
            jobs_queue_url: None,
            max_jobs_per_caller_hour: 0,
        };
        let thread = {
            let received = received.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let svc = Services {
                        objects: &store,
                        jobs: &jobs,
                        workflow: &NoWorkflow,
                        settings: &settings,
                    };
                    serve(conn, &svc, &received);
                }
            })
        };
        FunctionServer {
            url: format!("http://{addr}"),
            received,
            stop,
            addr,
            thread: Some(thread),
        }
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for FunctionServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request from `conn`, answers it and closes the connection.
fn serve(conn: TcpStream, svc: &Services<'_>, received: &Mutex<Vec<Received>>) {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    received.lock().unwrap().push(Received {
        method: method.clone(),
        target: target.clone(),
        headers: headers.clone(),
        body: body.clone(),
    });
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query_params: HashMap<String, String> = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let event: LambdaFunctionUrlRequest = serde_json::from_value(json!({
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": query_params,
        "requestContext": {
            "timeEpoch": 0,
            "http": { "method": method, "path": path }
        },
        "body": String::from_utf8_lossy(&body),
        "isBase64Encoded": false
    }))
    .expect("a Function URL event");
    let response = match (method.as_str(), path) {
        (_, "/jobs") | (_, "/jobs/") => vidstega_serverless::http::presign(&event, svc),
        (_, p) if p.starts_with("/jobs/") => vidstega_serverless::http::status(&event, svc),
        _ => {
            let mut r = aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse::default();
            r.status_code = 404;
            r.body = Some(json!({"error": "not found"}).to_string());
            r
        }
    };
    let body = response.body.unwrap_or_default();
    let mut out = conn;
    let head = format!(
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status_code,
        body.len()
    );
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(body.as_bytes());
    let _ = out.flush();
}

/// The JSON of the last non-empty line of `stdout`.
pub fn last_json_line(stdout: &[u8]) -> Value {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| panic!("no output on stdout"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not one line of JSON ({e}): {line}"))
}

/// Seconds since the Unix epoch for an `X-Amz-Date` (`20240101T120000Z`).
pub fn amz_date_to_unix(s: &str) -> u64 {
    let n = |r: std::ops::Range<usize>| -> i64 { s[r].parse().unwrap() };
    let (y, m, d) = (n(0..4), n(4..6), n(6..8));
    let (hh, mm, ss) = (n(9..11), n(11..13), n(13..15));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + hh * 3600 + mm * 60 + ss) as u64
}
