//! Removing credentials from text before it is logged or returned.
//!
//! Presigned URLs are bearer credentials, and ffmpeg repeats its input URL in
//! its error messages, so every error message that leaves a function passes
//! through [`redact_urls`].

/// Replaces the query string of every `http://`/`https://` URL in `text`
/// with `?<redacted>` (the signature lives there).
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = find_url(rest) {
        out.push_str(&rest[..at]);
        let url = &rest[at..];
        let end = url
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .unwrap_or(url.len());
        let (whole, tail) = url.split_at(end);
        match whole.find('?') {
            Some(q) => {
                out.push_str(&whole[..q]);
                out.push_str("?<redacted>");
            }
            None => out.push_str(whole),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

fn find_url(text: &str) -> Option<usize> {
    match (text.find("https://"), text.find("http://")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_removed() {
        let t = "https://b.s3.amazonaws.com/uploads/x/video?X-Amz-Signature=abc&X-Amz-Credential=k: \
                 Server returned 403 Forbidden; see 'http://127.0.0.1:5000/k?sig=1' and https://docs.example/no-query";
        let r = redact_urls(t);
        assert!(
            !r.contains("abc") && !r.contains("sig=1") && !r.contains("Credential"),
            "{r}"
        );
        assert!(
            r.contains("https://b.s3.amazonaws.com/uploads/x/video?<redacted> Server returned 403"),
            "{r}"
        );
        assert!(r.contains("'http://127.0.0.1:5000/k?<redacted>'"));
        assert!(r.contains("https://docs.example/no-query"));
        assert_eq!(redact_urls("no urls here"), "no urls here");
    }
}
