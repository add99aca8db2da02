//! Just enough HTTP/1.1 for the harness's own servers (the Lambda front and
//! the S3 fault gate): read one request (a `Content-Length` or chunked body,
//! `Expect: 100-continue` answered), write one response and close the
//! connection (`Connection: close`, which every client here honours).

use std::io::{self, BufRead, Read, Write};

/// The largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// One request.
#[derive(Debug)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target (path and query), as sent.
    pub target: String,
    /// The headers, in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (chunked bodies decoded).
    pub body: Vec<u8>,
}

impl Request {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// The first header called `name` (any case) in `headers`.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn read_line(reader: &mut impl BufRead, budget: &mut usize) -> io::Result<String> {
    let mut line = Vec::new();
    let n = reader.take(*budget as u64 + 1).read_until(b'\n', &mut line)?;
    if n > *budget {
        return Err(invalid("request head too large"));
    }
    *budget -= n;
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| invalid("request head is not UTF-8"))
}

/// A request line and its headers.
#[derive(Debug)]
pub struct Head {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target (path and query), as sent.
    pub target: String,
    /// The headers, in order, names as sent.
    pub headers: Vec<(String, String)>,
}

/// The request line and headers: `None` if the peer closed the connection
/// before sending anything.
pub fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut budget = MAX_HEAD;
    let first = read_line(reader, &mut budget)?;
    if first.is_empty() {
        return Ok(None);
    }
    let mut parts = first.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(invalid(format!("not an HTTP request line: {first:?}")));
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, &mut budget)?;
        if line.is_empty() {
            break;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("not a header line: {line:?}")))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(Some(Head {
        method: method.to_string(),
        target: target.to_string(),
        headers,
    }))
}

/// Reads one request from `reader`; `writer` is the same connection, for
/// `100 Continue`. `None` if the peer sent nothing.
pub fn read_request(reader: &mut impl BufRead, writer: &mut impl Write) -> io::Result<Option<Request>> {
    let Some(Head {
        method,
        target,
        headers,
    }) = read_head(reader)?
    else {
        return Ok(None);
    };
    if header(&headers, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        writer.flush()?;
    }
    let mut body = Vec::new();
    if header(&headers, "transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        loop {
            let mut budget = MAX_HEAD;
            let size_line = read_line(reader, &mut budget)?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| invalid(format!("bad chunk size {size_line:?}")))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !read_line(reader, &mut budget)?.is_empty() {}
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            read_line(reader, &mut budget)?;
        }
    } else if let Some(len) = header(&headers, "content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| invalid(format!("bad Content-Length {len:?}")))?;
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(Some(Request {
        method,
        target,
        headers,
        body,
    }))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Writes a response and its body (none after a `HEAD` request: `head_only`),
/// with `Content-Length` and `Connection: close`; `headers` must not carry
/// either.
pub fn write_response(
    writer: &mut impl Write,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    head_only: bool,
) -> io::Result<()> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    writer.write_all(out.as_bytes())?;
    if !head_only {
        writer.write_all(body)?;
    }
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_with_chunked_and_sized_bodies_are_read_whole() {
        let raw = b"POST /a?b=c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let r = read_request(&mut &raw[..], &mut Vec::new()).unwrap().unwrap();
        assert_eq!((r.method.as_str(), r.target.as_str()), ("POST", "/a?b=c"));
        assert_eq!(r.body, b"abcde");
        let raw = b"PUT /k HTTP/1.1\r\ncontent-length: 4\r\nExpect: 100-continue\r\n\r\nwxyz";
        let mut continued = Vec::new();
        let r = read_request(&mut &raw[..], &mut continued).unwrap().unwrap();
        assert_eq!(r.body, b"wxyz");
        assert_eq!(r.header("Content-Length"), Some("4"));
        assert!(continued.starts_with(b"HTTP/1.1 100"));
        assert!(read_request(&mut &b""[..], &mut Vec::new()).unwrap().is_none());
    }
}
