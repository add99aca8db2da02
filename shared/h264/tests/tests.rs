//! Carrier pictures checked against FFmpeg's H.264 decoder, on x264 streams
//! made here: replacing an eligible picture by an I_PCM carrier changes
//! exactly that picture, to exactly the samples written, and nothing else.

mod carriers;
mod support;
