//! The Lambda service's front door, as moto's Step Functions engine and the
//! SQS event source mapping reach it: the Invoke API
//! (`POST /2015-03-31/functions/<name or ARN>/invocations`) in front of
//! `cargo lambda watch`, which runs the real binaries.
//!
//! What it adds to cargo lambda's Invoke API, each because the engine or the
//! definition depends on it:
//!
//! * **Function errors as Lambda reports them.** cargo lambda 1.9.2 answers
//!   a handler error with HTTP 500 and the runtime's `{errorType,
//!   errorMessage}` body, without `X-Amz-Function-Error`. boto3 in moto's
//!   engine turns that into a `ClientError` without a request id, and moto
//!   5.2.5 then fails the whole execution with `States.Runtime`
//!   (`KeyError('RequestId')`), so no `Retry` or `Catch` ever matches. Real
//!   Lambda answers 200 with `X-Amz-Function-Error: Unhandled` and that body;
//!   the engine then names the failure after `errorType` (`VidStega.Retryable`,
//!   ...), which is what the definition's `Retry`/`Catch` match. This front
//!   answers the same way, with `x-amzn-RequestId` on every answer.
//! * **Function names and ARNs.** The definition names functions by ARN
//!   (`arn:aws:lambda:<region>:<account>:function:<name>[:qualifier]`);
//!   cargo lambda only knows the workspace's binary names (an ARN, or any
//!   other name, is a 404 "Missing function"). Lambda accepts a name, a
//!   partial or a full ARN. Each function is served under its own name
//!   (its slots, its invocation log) and passed on to cargo lambda under
//!   its binary's ([`Served::upstream`]): the long lane's functions run the
//!   express lane's binaries, so their invocations share that binary's
//!   runtime queue in cargo lambda, and any of the binary's instances may
//!   run them (same binary, environment and role: `infra.rs` checks it).
//! * **Unknown functions and service failures** answer as Lambda does
//!   (404 `ResourceNotFoundException`; 500 `ServiceException`, which the
//!   definition retries as `Lambda.ServiceException`).
//! * **Concurrency** per function: at most as many invocations in flight as
//!   the function has instances (cargo lambda would queue the rest; the
//!   front queues them itself, so the time it records is the function's own).
//! * **A record of every invocation** (function, payload, start, duration,
//!   error type) for the assertions and the timings, and **hooks** that run
//!   before and after an invocation (fault injection).
//!
//! Anything else that reaches it is passed to moto: moto's engine sends all
//! its AWS calls to `http://localhost:$MOTO_PORT` (the S3 reads of a
//! Distributed Map's items, for one), and `MOTO_PORT` is this front's port.

use super::http::{self, Request};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// When a hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// After the invocation got an instance, before the function sees it.
    Before,
    /// After the function answered (or failed), before the caller sees it.
    After,
}

/// One invocation, as a hook sees it.
#[derive(Debug)]
pub struct Call<'a> {
    /// The function's (local) name.
    pub function: &'a str,
    /// The event.
    pub payload: &'a Value,
    /// 1 for the function's first invocation, 2 for its second, ...
    pub nth: usize,
}

/// Something to do around invocations (fault injection in the tests).
pub type Hook = dyn Fn(Phase, &Call<'_>) + Send + Sync;

/// One finished invocation.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The function's (local) name.
    pub function: String,
    /// Which of the function's invocations it was (1-based).
    pub nth: usize,
    /// The event.
    pub payload: Value,
    /// When it started, in ms after the front started.
    pub started_ms: u64,
    /// How long the function took, as the caller waited for it, in ms.
    pub millis: u64,
    /// The function error's type (`errorType`), if it failed.
    pub error_type: Option<String>,
    /// The answer's body.
    pub response: Value,
}

/// An Invoke answer.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The HTTP status (200 for a function error too, as on Lambda).
    pub status: u16,
    /// `X-Amz-Function-Error` (`Unhandled`) for a function error.
    pub function_error: Option<String>,
    /// `x-amzn-ErrorType` for a service error (404, 500, ...).
    pub service_error: Option<String>,
    /// The payload: the function's response or its error document.
    pub body: Vec<u8>,
}

impl Answer {
    fn service_error(status: u16, error_type: &str, message: String) -> Answer {
        Answer {
            status,
            function_error: None,
            service_error: Some(error_type.to_string()),
            body: json!({"Type": if status < 500 { "User" } else { "Service" }, "message": message})
                .to_string()
                .into_bytes(),
        }
    }
}

/// Instances free to take an invocation.
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
    timeout: Duration,
    upstream: String,
}

struct SlotGuard<'a>(&'a Slots);

impl Slots {
    fn acquire(&self) -> SlotGuard<'_> {
        let mut free = self.free.lock().unwrap();
        while *free == 0 {
            free = self.freed.wait(free).unwrap();
        }
        *free -= 1;
        SlotGuard(self)
    }
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap() += 1;
        self.0.freed.notify_one();
    }
}

/// A function the front serves.
#[derive(Clone, Debug)]
pub struct Served {
    /// Its name (its local name, `super::local_name`, which is what cargo
    /// lambda serves).
    pub name: String,
    /// How many instances run it (invocations in flight at most).
    pub instances: usize,
    /// Its timeout (`Timeout` in the template).
    pub timeout: Duration,
    /// The name cargo lambda serves its binary as (the binary's name).
    pub upstream: String,
}

struct Inner {
    emulator: String,
    moto: OnceLock<String>,
    slots: BTreeMap<String, Slots>,
    log: Mutex<(Vec<Invocation>, BTreeMap<String, usize>)>,
    hooks: Mutex<Vec<Arc<Hook>>>,
    problems: Mutex<Vec<String>>,
    forwarded: Mutex<Vec<String>>,
    epoch: Instant,
    agent: ureq::Agent,
    request_ids: AtomicU64,
}

/// The front: serves on `127.0.0.1:<port>` until dropped.
pub struct Front {
    inner: Arc<Inner>,
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A handle that invokes functions through the front (the event source
/// mapping's way in: it is part of the Lambda service too).
#[derive(Clone)]
pub struct Invoker(Arc<Inner>);

impl Invoker {
    /// Invokes `function` (a name or an ARN) with `payload`, synchronously.
    pub fn invoke(&self, function: &str, payload: &[u8]) -> Answer {
        self.0.invoke(function, payload)
    }
}

/// The function name in a name, a partial ARN (`<account>:function:<name>`)
/// or a full ARN, without a qualifier.
pub fn function_name(id: &str) -> &str {
    match id.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => id,
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The function an Invoke request names, if it is one.
fn invoke_target(target: &str) -> Option<String> {
    let path = target.split('?').next().unwrap_or(target);
    let rest = path.strip_prefix("/2015-03-31/functions/")?;
    let name = rest.strip_suffix("/invocations")?;
    (!name.is_empty() && !name.contains('/')).then(|| percent_decode(name))
}

impl Front {
    /// Serves `functions` through the cargo lambda emulator at
    /// `emulator` (`http://127.0.0.1:<port>`). Requests that are not
    /// invocations go to moto once [`Front::set_moto`] is called.
    pub fn start(emulator: String, functions: &[Served]) -> Front {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("the Lambda front binds a port");
        let port = listener.local_addr().unwrap().port();
        let inner = Arc::new(Inner {
            emulator,
            moto: OnceLock::new(),
            slots: functions
                .iter()
                .map(|f| {
                    (
                        f.name.clone(),
                        Slots {
                            free: Mutex::new(f.instances),
                            freed: Condvar::new(),
                            timeout: f.timeout,
                            upstream: f.upstream.clone(),
                        },
                    )
                })
                .collect(),
            log: Mutex::new((Vec::new(), BTreeMap::new())),
            hooks: Mutex::new(Vec::new()),
            problems: Mutex::new(Vec::new()),
            forwarded: Mutex::new(Vec::new()),
            epoch: Instant::now(),
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(5))
                .redirects(0)
                .build(),
            request_ids: AtomicU64::new(1),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let inner = Arc::clone(&inner);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("lambda-front".into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        let inner = Arc::clone(&inner);
                        std::thread::spawn(move || inner.serve(stream));
                    }
                })
                .unwrap()
        };
        Front {
            inner,
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// Where moto listens (`http://127.0.0.1:<port>`).
    pub fn set_moto(&self, url: String) {
        self.inner.moto.set(url).expect("moto's address is set once");
    }

    /// The port (moto's `MOTO_PORT`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to invoke functions with.
    pub fn invoker(&self) -> Invoker {
        Invoker(Arc::clone(&self.inner))
    }

    /// Runs `hook` around every later invocation.
    pub fn add_hook(&self, hook: Arc<Hook>) {
        self.inner.hooks.lock().unwrap().push(hook);
    }

    /// Every finished invocation, in the order they finished.
    pub fn invocations(&self) -> Vec<Invocation> {
        self.inner.log.lock().unwrap().0.clone()
    }

    /// The requests passed on to moto (`<method> <target> -> <status>`).
    pub fn forwarded(&self) -> Vec<String> {
        self.inner.forwarded.lock().unwrap().clone()
    }

    /// What went wrong in the front itself (an emulator that did not
    /// answer, a hook that panicked): the tests fail on any.
    pub fn problems(&self) -> Vec<String> {
        self.inner.problems.lock().unwrap().clone()
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_body(response: ureq::Response) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    response.into_reader().read_to_end(&mut body)?;
    Ok(body)
}

impl Inner {
    fn problem(&self, what: String) {
        eprintln!("[lambda front] {what}");
        self.problems.lock().unwrap().push(what);
    }

    fn run_hooks(&self, phase: Phase, call: &Call<'_>) {
        let hooks = self.hooks.lock().unwrap().clone();
        for hook in hooks {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(phase, call))).is_err() {
                self.problem(format!("a {phase:?} hook panicked on {}", call.function));
            }
        }
    }

    fn invoke(&self, function: &str, payload: &[u8]) -> Answer {
        let name = function_name(function);
        let Some(slots) = self.slots.get(name) else {
            return Answer::service_error(
                404,
                "ResourceNotFoundException",
                format!("Function not found: {function}"),
            );
        };
        let event: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
        let _slot = slots.acquire();
        let nth = {
            let mut log = self.log.lock().unwrap();
            let n = log.1.entry(name.to_string()).or_insert(0);
            *n += 1;
            *n
        };
        let call = Call {
            function: name,
            payload: &event,
            nth,
        };
        self.run_hooks(Phase::Before, &call);
        let started = Instant::now();
        let started_ms = started.duration_since(self.epoch).as_millis() as u64;
        let url = format!(
            "{}/2015-03-31/functions/{}/invocations",
            self.emulator, slots.upstream
        );
        let result = self
            .agent
            .post(&url)
            .timeout(slots.timeout)
            .set("Content-Type", "application/json")
            .send_bytes(payload);
        let answer = match result {
            Ok(r) => match read_body(r) {
                Ok(body) => Answer {
                    status: 200,
                    function_error: None,
                    service_error: None,
                    body,
                },
                Err(e) => {
                    self.problem(format!("reading {name}'s answer: {e}"));
                    Answer::service_error(500, "ServiceException", format!("reading the answer: {e}"))
                }
            },
            // A handler error: cargo lambda passes the runtime's error
            // document on with a 500.
            Err(ureq::Error::Status(500, r)) => {
                let body = read_body(r).unwrap_or_default();
                let document = match serde_json::from_slice::<Value>(&body) {
                    Ok(v) if v.get("errorType").and_then(Value::as_str).is_some() => body,
                    _ => json!({
                        "errorType": "Runtime.Unknown",
                        "errorMessage": String::from_utf8_lossy(&body),
                    })
                    .to_string()
                    .into_bytes(),
                };
                Answer {
                    status: 200,
                    function_error: Some("Unhandled".into()),
                    service_error: None,
                    body: document,
                }
            }
            Err(ureq::Error::Status(404, r)) => {
                let body = read_body(r).unwrap_or_default();
                Answer::service_error(
                    404,
                    "ResourceNotFoundException",
                    format!(
                        "Function not found: {function} ({})",
                        String::from_utf8_lossy(&body)
                    ),
                )
            }
            Err(ureq::Error::Status(code, r)) => {
                let body = read_body(r).unwrap_or_default();
                self.problem(format!(
                    "cargo lambda answered {name}'s invocation with HTTP {code}: {}",
                    String::from_utf8_lossy(&body)
                ));
                Answer::service_error(500, "ServiceException", format!("the emulator answered {code}"))
            }
            Err(ureq::Error::Transport(t))
                if t.kind() == ureq::ErrorKind::Io && started.elapsed() >= slots.timeout =>
            {
                self.problem(format!("{name} ran past its timeout of {:?}", slots.timeout));
                Answer {
                    status: 200,
                    function_error: Some("Unhandled".into()),
                    service_error: None,
                    body: json!({
                        "errorType": "Sandbox.Timedout",
                        "errorMessage": format!("Task timed out after {:.2} seconds", slots.timeout.as_secs_f64()),
                    })
                    .to_string()
                    .into_bytes(),
                }
            }
            Err(ureq::Error::Transport(t)) => {
                self.problem(format!("cannot reach cargo lambda for {name}: {t}"));
                Answer::service_error(500, "ServiceException", format!("cannot reach the emulator: {t}"))
            }
        };
        let millis = started.elapsed().as_millis() as u64;
        let response: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let error_type = match (&answer.function_error, &answer.service_error) {
            (Some(_), _) => response
                .get("errorType")
                .and_then(Value::as_str)
                .map(str::to_string),
            (None, Some(service)) => Some(format!("Lambda.{service}")),
            (None, None) => None,
        };
        self.run_hooks(Phase::After, &call);
        self.log.lock().unwrap().0.push(Invocation {
            function: name.to_string(),
            nth,
            payload: event,
            started_ms,
            millis,
            error_type,
            response,
        });
        answer
    }

    fn request_id(&self) -> String {
        let n = self.request_ids.fetch_add(1, Ordering::Relaxed);
        format!("00000000-0000-4000-8000-{n:012x}")
    }

    fn serve(&self, stream: TcpStream) {
        let Ok(read_half) = stream.try_clone() else { return };
        let mut reader = BufReader::new(read_half);
        let mut writer = stream;
        let request = match http::read_request(&mut reader, &mut writer) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                self.problem(format!("unreadable request: {e}"));
                return;
            }
        };
        let (status, headers, body) = match invoke_target(&request.target) {
            Some(function) if request.method == "POST" => self.invoke_over_http(&function, &request),
            _ => self.forward(&request),
        };
        let _ = http::write_response(&mut writer, status, &headers, &body, request.method == "HEAD");
    }

    fn invoke_over_http(&self, function: &str, request: &Request) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut headers = vec![("x-amzn-RequestId".to_string(), self.request_id())];
        let answer = match request.header("X-Amz-Invocation-Type") {
            None | Some("RequestResponse") => self.invoke(function, &request.body),
            Some(other) => Answer::service_error(
                400,
                "InvalidParameterValueException",
                format!("the local Lambda front only runs RequestResponse invocations, not {other}"),
            ),
        };
        headers.push(("Content-Type".into(), "application/json".into()));
        if let Some(e) = &answer.function_error {
            headers.push(("X-Amz-Function-Error".into(), e.clone()));
        }
        if let Some(e) = &answer.service_error {
            headers.push(("x-amzn-ErrorType".into(), e.clone()));
        } else {
            headers.push(("X-Amz-Executed-Version".into(), "$LATEST".into()));
        }
        (answer.status, headers, answer.body)
    }

    /// Passes a request that is not an invocation on to moto.
    fn forward(&self, request: &Request) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let Some(moto) = self.moto.get() else {
            self.problem(format!(
                "{} {} before moto started",
                request.method, request.target
            ));
            return (503, Vec::new(), Vec::new());
        };
        let mut outgoing = self
            .agent
            .request(&request.method, &format!("{moto}{}", request.target));
        for (k, v) in &request.headers {
            let hop = [
                "host",
                "content-length",
                "connection",
                "transfer-encoding",
                "expect",
                "keep-alive",
            ];
            if !hop.iter().any(|h| k.eq_ignore_ascii_case(h)) {
                outgoing = outgoing.set(k, v);
            }
        }
        let result =
            if request.body.is_empty() && matches!(request.method.as_str(), "GET" | "HEAD" | "DELETE") {
                outgoing.call()
            } else {
                outgoing.send_bytes(&request.body)
            };
        let response = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => {
                self.problem(format!(
                    "cannot reach moto for {} {}: {t}",
                    request.method, request.target
                ));
                return (502, Vec::new(), Vec::new());
            }
        };
        let status = response.status();
        self.forwarded
            .lock()
            .unwrap()
            .push(format!("{} {} -> {status}", request.method, request.target));
        let headers = response
            .headers_names()
            .into_iter()
            .filter(|k| {
                !["content-length", "connection", "transfer-encoding"]
                    .contains(&k.to_ascii_lowercase().as_str())
            })
            .flat_map(|k| {
                response
                    .all(&k)
                    .into_iter()
                    .map(|v| (k.clone(), v.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let body = read_body(response).unwrap_or_default();
        (status, headers, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_are_found_by_name_or_arn() {
        assert_eq!(function_name("vidstega-concat"), "vidstega-concat");
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:vidstega-concat:$LATEST"),
            "vidstega-concat"
        );
        assert_eq!(
            function_name("123456789012:function:vidstega-concat"),
            "vidstega-concat"
        );
        assert_eq!(
            invoke_target(
                "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af/invocations"
            ),
            Some("arn:aws:lambda:us-east-1:1:function:f".into())
        );
        assert_eq!(invoke_target("/bucket/key"), None);
    }
}
