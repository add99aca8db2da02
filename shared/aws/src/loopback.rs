//! A loopback HTTP server through which ffmpeg reads S3 objects.
//!
//! ffmpeg and ffprobe read a video by URL with `Range` requests. Handing them
//! a presigned `https://<bucket>.s3.<region>.amazonaws.com/...` URL makes
//! them resolve a host name and speak TLS themselves, which a statically
//! linked ffmpeg (the Lambda layer) cannot do reliably: a static glibc
//! binary has no NSS to resolve names with, and its CA bundle path need not
//! exist on the host. It also puts a bearer credential on ffmpeg's command
//! line and in its error messages.
//!
//! Instead, [`Loopback`] listens on `127.0.0.1` (an address, so no name is
//! resolved) and answers each `GET /<token>` with the bytes of the object the
//! token stands for, fetched by the SDK (which resolves names, verifies TLS
//! and retries) and streamed through as they arrive. Tokens are random,
//! 128-bit, and only mean something to this process.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::Client;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// The longest request head accepted (request line and headers).
const MAX_HEAD: usize = 16 * 1024;

/// Objects by token, and tokens by key (one token per key).
#[derive(Default)]
struct Tokens {
    keys: HashMap<String, String>,
    tokens: HashMap<String, String>,
}

/// A running loopback server for one bucket. Dropping it stops the server.
pub(crate) struct Loopback {
    addr: SocketAddr,
    tokens: Arc<Mutex<Tokens>>,
    task: JoinHandle<()>,
}

impl fmt::Debug for Loopback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loopback")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Loopback {
    /// Starts serving objects of `bucket` on an ephemeral port of 127.0.0.1,
    /// on `handle`'s runtime.
    pub(crate) fn start(client: Client, bucket: String, handle: &Handle) -> std::io::Result<Loopback> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let tokens = Arc::new(Mutex::new(Tokens::default()));
        let served = Arc::clone(&tokens);
        let task = handle.spawn(async move {
            let listener = match TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "the loopback media server cannot listen");
                    return;
                }
            };
            let objects = Arc::new(Objects { client, bucket });
            loop {
                let (socket, _) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "the loopback media server cannot accept a connection");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (objects, tokens) = (Arc::clone(&objects), Arc::clone(&served));
                tokio::spawn(async move {
                    if let Err(e) = serve(socket, &objects, &tokens).await {
                        // Usually ffmpeg closing a connection to seek elsewhere.
                        tracing::debug!(error = %e, "a loopback media connection ended early");
                    }
                });
            }
        });
        Ok(Loopback { addr, tokens, task })
    }

    /// The URL ffmpeg reads `key` from (the same for every call with `key`).
    pub(crate) fn url(&self, key: &str) -> String {
        let mut t = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let token = match t.keys.get(key) {
            Some(token) => token.clone(),
            None => {
                let token = random_token();
                t.keys.insert(key.to_string(), token.clone());
                t.tokens.insert(token.clone(), key.to_string());
                token
            }
        };
        // The key's file name ends the path, so ffmpeg's format guessing from
        // the extension works as it does for a presigned URL.
        let name = key.rsplit('/').next().unwrap_or_default();
        format!("http://{}/{token}/{}", self.addr, percent_encode(name))
    }
}

/// 128 random bits as hex.
fn random_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("the operating system's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Percent-encodes everything but unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What the server reads from.
struct Objects {
    client: Client,
    bucket: String,
}

/// A parsed request.
struct Request {
    head_only: bool,
    token: String,
    range: Option<(u64, Option<u64>)>,
}

/// Serves one connection: one request (ffmpeg opens a new connection to
/// seek), answered with the object's bytes as S3 sends them.
async fn serve(socket: TcpStream, objects: &Objects, tokens: &Mutex<Tokens>) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut reader = BufReader::new(read);
    let request = match read_request(&mut reader).await? {
        Ok(r) => r,
        Err((status, why)) => return respond_error(&mut write, status, why).await,
    };
    let key = {
        let t = tokens.lock().unwrap_or_else(|e| e.into_inner());
        t.tokens.get(&request.token).cloned()
    };
    let Some(key) = key else {
        return respond_error(&mut write, 404, "no such object").await;
    };
    let mut get = objects.client.get_object().bucket(&objects.bucket).key(&key);
    if let Some((start, end)) = request.range {
        get = get.range(match end {
            Some(end) => format!("bytes={start}-{end}"),
            None => format!("bytes={start}-"),
        });
    }
    let out = match get.send().await {
        Ok(out) => out,
        Err(e) => {
            let code = e.code().map(str::to_string);
            let status = e.raw_response().map(|r| r.status().as_u16());
            return match (code.as_deref(), status) {
                (Some("NoSuchKey"), _) | (_, Some(404)) => {
                    respond_error(&mut write, 404, "no such object").await
                }
                (Some("InvalidRange"), _) | (_, Some(416)) => {
                    respond_error(&mut write, 416, "the range is outside the object").await
                }
                (_, Some(403)) => respond_error(&mut write, 403, "access to the object was denied").await,
                _ => {
                    tracing::warn!(key, error = %aws_sdk_s3::error::DisplayErrorContext(&e), "loopback media read failed");
                    respond_error(&mut write, 503, "the object store did not answer; try again").await
                }
            };
        }
    };
    let length = out.content_length().unwrap_or(0).max(0) as u64;
    let mut head = String::new();
    match out.content_range() {
        Some(range) if request.range.is_some() => {
            head.push_str("HTTP/1.1 206 Partial Content\r\n");
            head.push_str(&format!("Content-Range: {range}\r\n"));
        }
        _ => head.push_str("HTTP/1.1 200 OK\r\n"),
    }
    head.push_str("Content-Type: application/octet-stream\r\nAccept-Ranges: bytes\r\n");
    head.push_str(&format!("Content-Length: {length}\r\nConnection: close\r\n\r\n"));
    write.write_all(head.as_bytes()).await?;
    if request.head_only {
        return write.shutdown().await;
    }
    let mut body = out.body;
    let mut sent = 0u64;
    loop {
        match body.try_next().await {
            Ok(Some(chunk)) => {
                write.write_all(&chunk).await?;
                sent += chunk.len() as u64;
            }
            Ok(None) => break,
            Err(e) => {
                // The length was promised: closing early tells ffmpeg the
                // read failed (it reconnects or reports an I/O error).
                tracing::warn!(key, sent, error = %e, "the object's bytes stopped arriving");
                return Err(std::io::Error::other(e));
            }
        }
    }
    write.shutdown().await
}

/// Reads the request line and headers. The inner error is a status and a
/// reason to answer with.
async fn read_request<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
) -> std::io::Result<Result<Request, (u16, &'static str)>> {
    let mut head = Vec::new();
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).await?;
        if n == 0 {
            return Ok(Err((400, "the request ended early")));
        }
        head.extend_from_slice(line.as_bytes());
        if head.len() > MAX_HEAD {
            return Ok(Err((431, "the request head is too long")));
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    let Some(first) = lines.first() else {
        return Ok(Err((400, "no request line")));
    };
    let mut parts = first.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Ok(Err((405, "only GET and HEAD are served"))),
    };
    let token = target
        .trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap_or("")
        .to_string();
    let mut range = None;
    for line in &lines[1..] {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("range") {
            match parse_range(value.trim()) {
                Some(r) => range = Some(r),
                None => {
                    return Ok(Err((
                        416,
                        "only one byte range, bytes=START- or bytes=START-END, is served",
                    )))
                }
            }
        }
    }
    Ok(Ok(Request {
        head_only,
        token,
        range,
    }))
}

/// `bytes=START-` or `bytes=START-END` (inclusive end).
fn parse_range(value: &str) -> Option<(u64, Option<u64>)> {
    let spec = value.strip_prefix("bytes=")?;
    let (start, end) = spec.split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end = match end.trim() {
        "" => None,
        e => Some(e.parse::<u64>().ok().filter(|&e| e >= start)?),
    };
    Some((start, end))
}

async fn respond_error(
    write: &mut (impl AsyncWriteExt + Unpin),
    status: u16,
    why: &str,
) -> std::io::Result<()> {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let body = format!("{why}\n");
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    write.write_all(head.as_bytes()).await?;
    write.write_all(body.as_bytes()).await?;
    write.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_parsed_as_ffmpeg_sends_them() {
        assert_eq!(parse_range("bytes=0-"), Some((0, None)));
        assert_eq!(parse_range("bytes=100-199"), Some((100, Some(199))));
        assert_eq!(parse_range("bytes=5-4"), None);
        assert_eq!(parse_range("bytes=-500"), None);
        assert_eq!(parse_range("bytes=0-1,5-6"), None);
        assert_eq!(parse_range("items=0-"), None);
    }

    #[test]
    fn names_are_percent_encoded() {
        assert_eq!(percent_encode("source.mp4"), "source.mp4");
        assert_eq!(percent_encode("a b?.mkv"), "a%20b%3F.mkv");
    }

    #[test]
    fn tokens_are_128_random_bits() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
