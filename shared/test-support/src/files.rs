//! Temporary folders.

/// A fresh temporary folder (`vidstega-test-…` under the system's temporary
/// folder), removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("vidstega-test-")
        .tempdir()
        .expect("create a temporary folder")
}
