//! Errors of the H.264 layer.

/// What went wrong reading or writing H.264 syntax.
#[derive(Debug, thiserror::Error)]
pub enum H264Error {
    /// The bitstream breaks the standard's syntax (a damaged or non-H.264 stream).
    #[error("malformed H.264 data: {0}")]
    Malformed(String),
    /// Valid H.264 that carrier pictures cannot be written into (for
    /// example interlaced coding or more than 8 bits per sample); the video
    /// can be transcoded first.
    #[error("this H.264 stream cannot hold carrier pictures: {0}")]
    Unsupported(String),
    /// A caller passed pictures of the wrong size or layout.
    #[error("invalid carrier picture: {0}")]
    InvalidPicture(String),
}
