//! A fault gate in front of S3 for one function: a TCP relay to moto that,
//! while failing, answers every request as S3 answers when it throttles
//! (`503 Slow Down`, code `SlowDown`), which the AWS SDK retries and then
//! reports, and which VidStega classes as retryable.
//!
//! Passing, it relays bytes without looking at them. Failing starts by
//! closing every relayed connection, so a pooled keep-alive connection
//! cannot slip a request past it; the SDK reconnects and meets the gate.

use super::http;
use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

struct State {
    failing: AtomicBool,
    refused: AtomicUsize,
    /// The open relayed connections (both ends), by number.
    relayed: Mutex<BTreeMap<u64, Vec<TcpStream>>>,
    next: AtomicU64,
}

/// The gate: listens on `127.0.0.1:<port>` until dropped.
pub struct S3Gate {
    state: Arc<State>,
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

const SLOW_DOWN: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
<Message>Please reduce your request rate.</Message><RequestId>LOCALGATE</RequestId></Error>";

impl S3Gate {
    /// A gate relaying to `upstream` (moto), passing.
    pub fn start(upstream: SocketAddr) -> S3Gate {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("the S3 gate binds a port");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            failing: AtomicBool::new(false),
            refused: AtomicUsize::new(0),
            relayed: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(0),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("s3-gate".into())
                .spawn(move || {
                    for client in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(client) = client else { continue };
                        let state = Arc::clone(&state);
                        std::thread::spawn(move || {
                            if state.failing.load(Ordering::SeqCst) {
                                refuse(&state, client);
                            } else {
                                relay(&state, client, upstream);
                            }
                        });
                    }
                })
                .unwrap()
        };
        S3Gate {
            state,
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// The S3 endpoint to give the function.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// From now on every request is throttled; open connections are closed.
    pub fn fail(&self) {
        self.state.failing.store(true, Ordering::SeqCst);
        close_all(&self.state);
    }

    /// From now on requests reach S3 again.
    pub fn pass(&self) {
        self.state.failing.store(false, Ordering::SeqCst);
    }

    /// How many requests were throttled so far.
    pub fn refused(&self) -> usize {
        self.state.refused.load(Ordering::SeqCst)
    }
}

impl Drop for S3Gate {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        close_all(&self.state);
    }
}

fn close_all(state: &State) {
    for s in std::mem::take(&mut *state.relayed.lock().unwrap())
        .into_values()
        .flatten()
    {
        let _ = s.shutdown(Shutdown::Both);
    }
}

/// Reads the request head and answers `503 SlowDown` (no body after a HEAD).
fn refuse(state: &State, mut client: TcpStream) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(read_half) = client.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let Ok(Some(head)) = http::read_head(&mut reader) else {
        return;
    };
    state.refused.fetch_add(1, Ordering::SeqCst);
    let headers = [
        ("Content-Type".to_string(), "application/xml".to_string()),
        ("x-amz-request-id".to_string(), "LOCALGATE".to_string()),
    ];
    let _ = http::write_response(
        &mut client,
        503,
        &headers,
        SLOW_DOWN.as_bytes(),
        head.method == "HEAD",
    );
    let _ = client.flush();
    let _ = client.shutdown(Shutdown::Both);
}

/// Copies bytes both ways until either side closes.
fn relay(state: &State, client: TcpStream, upstream: SocketAddr) {
    let Ok(server) = TcpStream::connect(upstream) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let id = state.next.fetch_add(1, Ordering::SeqCst);
    let ends = [&client, &server]
        .iter()
        .filter_map(|s| s.try_clone().ok())
        .collect();
    state.relayed.lock().unwrap().insert(id, ends);
    let (Ok(mut c_read), Ok(mut s_write)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let upload = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut s_write);
        let _ = s_write.shutdown(Shutdown::Write);
    });
    let (mut s_read, mut c_write) = (server, client);
    let _ = std::io::copy(&mut s_read, &mut c_write);
    let _ = c_write.shutdown(Shutdown::Write);
    let _ = upload.join();
    state.relayed.lock().unwrap().remove(&id);
}
