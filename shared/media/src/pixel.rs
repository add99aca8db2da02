//! Raw frame layouts and the choice of layout for a source.
//!
//! Why only four 8-bit planar layouts: the embedding core works on 8-bit
//! planes, and each of these layouts survives a lossless encode/decode round
//! trip through both supported encoders *bit for bit* when decoded back in
//! the same layout. Everything else (10-bit, RGB, packed, alpha) is converted
//! once on decode, and the caller is told so.
//!
//! Full-range ("JPEG", `yuvj*`) sources keep their range: they are decoded
//! with the `yuvj*` name so FFmpeg does not squeeze the values into limited
//! range, and the encoder is told `-color_range pc`.

use std::fmt;

use crate::encode::SegmentCodec;
use crate::error::MediaError;
use crate::probe::VideoStreamInfo;

/// An 8-bit planar pixel layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanarFormat {
    /// One luma plane.
    Gray,
    /// Y, then U and V at half width and half height.
    Yuv420p,
    /// Y, then U and V at half width and full height.
    Yuv422p,
    /// Y, U and V all at full size.
    Yuv444p,
}

impl PlanarFormat {
    /// Number of planes (1 for gray, 3 for YUV).
    pub fn plane_count(self) -> usize {
        match self {
            PlanarFormat::Gray => 1,
            _ => 3,
        }
    }

    /// log2 of the horizontal and vertical chroma subsampling.
    fn chroma_shift(self) -> (u32, u32) {
        match self {
            PlanarFormat::Gray | PlanarFormat::Yuv444p => (0, 0),
            PlanarFormat::Yuv422p => (1, 0),
            PlanarFormat::Yuv420p => (1, 1),
        }
    }

    /// FFmpeg's name for the limited-range layout (`yuv420p`, `gray`, ...).
    pub fn ffmpeg_name(self) -> &'static str {
        match self {
            PlanarFormat::Gray => "gray",
            PlanarFormat::Yuv420p => "yuv420p",
            PlanarFormat::Yuv422p => "yuv422p",
            PlanarFormat::Yuv444p => "yuv444p",
        }
    }

    /// FFmpeg's name for the full-range variant (`yuvj420p`, ...); gray has
    /// no separate name.
    fn ffmpeg_full_range_name(self) -> &'static str {
        match self {
            PlanarFormat::Gray => "gray",
            PlanarFormat::Yuv420p => "yuvj420p",
            PlanarFormat::Yuv422p => "yuvj422p",
            PlanarFormat::Yuv444p => "yuvj444p",
        }
    }

    /// Recognises one of the supported layouts by FFmpeg name; the flag says
    /// whether the name is a full-range `yuvj*` variant.
    pub fn from_ffmpeg_name(name: &str) -> Option<(Self, bool)> {
        Some(match name {
            "gray" | "gray8" => (PlanarFormat::Gray, false),
            "yuv420p" => (PlanarFormat::Yuv420p, false),
            "yuvj420p" => (PlanarFormat::Yuv420p, true),
            "yuv422p" => (PlanarFormat::Yuv422p, false),
            "yuvj422p" => (PlanarFormat::Yuv422p, true),
            "yuv444p" => (PlanarFormat::Yuv444p, false),
            "yuvj444p" => (PlanarFormat::Yuv444p, true),
            _ => return None,
        })
    }
}

impl fmt::Display for PlanarFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ffmpeg_name())
    }
}

/// The exact byte layout of one raw frame on the pipe: planes one after the
/// other, rows tightly packed (no padding), chroma sizes rounded up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawFormat {
    /// Luma width in pixels.
    pub width: u32,
    /// Luma height in pixels.
    pub height: u32,
    /// Plane layout.
    pub pixel: PlanarFormat,
    /// Full ("pc"/JPEG) range instead of limited ("tv") range. Only changes
    /// the names and flags passed to FFmpeg, never the byte layout.
    pub full_range: bool,
}

impl RawFormat {
    /// A limited-range format.
    pub fn new(width: u32, height: u32, pixel: PlanarFormat) -> Self {
        RawFormat {
            width,
            height,
            pixel,
            full_range: false,
        }
    }

    /// `(width, height)` of each plane, luma first. Chroma sizes round up, so
    /// a 321x241 4:2:0 frame has 161x121 chroma planes.
    pub fn plane_dims(&self) -> Vec<(usize, usize)> {
        let (w, h) = (self.width as usize, self.height as usize);
        let (sx, sy) = self.pixel.chroma_shift();
        let cw = (w + (1 << sx) - 1) >> sx;
        let ch = (h + (1 << sy) - 1) >> sy;
        match self.pixel.plane_count() {
            1 => vec![(w, h)],
            _ => vec![(w, h), (cw, ch), (cw, ch)],
        }
    }

    /// Bytes in each plane, luma first.
    pub fn plane_lens(&self) -> Vec<usize> {
        self.plane_dims().into_iter().map(|(w, h)| w * h).collect()
    }

    /// Bytes in one frame.
    pub fn frame_len(&self) -> usize {
        self.plane_lens().iter().sum()
    }

    /// The pixel format name to request from FFmpeg on the raw pipe.
    pub fn pipe_pix_fmt(&self) -> &'static str {
        if self.full_range {
            self.pixel.ffmpeg_full_range_name()
        } else {
            self.pixel.ffmpeg_name()
        }
    }

    /// Splits a frame buffer into mutable per-plane slices, luma first.
    pub fn split_planes_mut<'a>(&self, frame: &'a mut [u8]) -> Result<Vec<&'a mut [u8]>, MediaError> {
        self.check_len(frame.len())?;
        let mut rest = frame;
        let mut planes = Vec::with_capacity(3);
        for len in self.plane_lens() {
            let (plane, tail) = rest.split_at_mut(len);
            planes.push(plane);
            rest = tail;
        }
        Ok(planes)
    }

    /// Splits a frame buffer into per-plane slices, luma first.
    pub fn split_planes<'a>(&self, frame: &'a [u8]) -> Result<Vec<&'a [u8]>, MediaError> {
        self.check_len(frame.len())?;
        let mut rest = frame;
        let mut planes = Vec::with_capacity(3);
        for len in self.plane_lens() {
            let (plane, tail) = rest.split_at(len);
            planes.push(plane);
            rest = tail;
        }
        Ok(planes)
    }

    pub(crate) fn check_len(&self, got: usize) -> Result<(), MediaError> {
        let expected = self.frame_len();
        if got == expected {
            Ok(())
        } else {
            Err(MediaError::FrameSize {
                expected,
                got,
                format: self.to_string(),
            })
        }
    }
}

impl fmt::Display for RawFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{} {}", self.width, self.height, self.pipe_pix_fmt())
    }
}

/// The layout chosen for a video, and what the choice costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFormatChoice {
    /// The layout frames are decoded to (and encoded from).
    pub format: RawFormat,
    /// Human-readable notes about conversions (empty when the source's own
    /// layout is used unchanged).
    pub warnings: Vec<String>,
}

/// Chooses the raw layout for decoding `video` and, when `encoder` is given,
/// re-encoding it losslessly with that encoder.
///
/// Policy:
/// * a source already in `gray`, `yuv420p`, `yuv422p`, `yuv444p` (or a
///   full-range `yuvj*` variant) keeps its layout and range;
/// * other YUV layouts (10-bit, semi-planar `nv12`, packed `yuyv422`, with
///   alpha...) become 8-bit planar with the same chroma subsampling
///   (4:1:1, 4:1:0 and 4:4:0 become 4:4:4 so no chroma is lost);
/// * RGB-like layouts become `yuv444p`, gray-like ones (`gray10le`, `ya8`)
///   become `gray`, anything unknown becomes `yuv420p`;
/// * for [`SegmentCodec::H264Lossless`]: libx264 refuses 4:2:0 with an odd width or
///   height and 4:2:2 with an odd width, so those become `yuv444p`; and gray
///   becomes `yuv420p`/`yuv444p`, because FFmpeg 5.1 decodes libx264's
///   4:0:0 output as `yuv420p`, so a gray layout would not read back the
///   same planes.
///
/// Every conversion adds a warning saying what happens.
pub fn choose_raw_format(video: &VideoStreamInfo, encoder: Option<&SegmentCodec>) -> RawFormatChoice {
    let mut warnings = Vec::new();
    let source = video.pix_fmt.as_deref().unwrap_or("");
    let range_is_full = video.color.range.as_deref() == Some("pc");
    let (pixel, full_range) = match PlanarFormat::from_ffmpeg_name(source) {
        Some((pixel, j)) => (pixel, j || range_is_full),
        None => {
            let (pixel, keep_range) = convert_target(source);
            let why = if source.is_empty() {
                "the source's pixel format is unknown".to_string()
            } else {
                format!("the source's pixel format {source} is not 8-bit planar YUV or gray")
            };
            warnings.push(format!(
                "{why}; frames are converted to {} for embedding, so the output's pixels differ slightly from \
                 the source's even where no data is hidden",
                pixel.ffmpeg_name()
            ));
            (pixel, keep_range && range_is_full)
        }
    };
    let mut format = RawFormat {
        width: video.width,
        height: video.height,
        pixel,
        full_range,
    };
    if let Some(SegmentCodec::H264Lossless { .. }) = encoder {
        let (w_odd, h_odd) = (video.width % 2 == 1, video.height % 2 == 1);
        let target = match format.pixel {
            PlanarFormat::Gray => {
                let to = if w_odd || h_odd {
                    PlanarFormat::Yuv444p
                } else {
                    PlanarFormat::Yuv420p
                };
                warnings.push(format!(
                    "the video is gray; lossless H.264 cannot carry a gray layout through FFmpeg bit-exactly, \
                     so frames are converted to {} (use the FFV1 codec to keep gray)",
                    to.ffmpeg_name()
                ));
                format.full_range = false;
                to
            }
            PlanarFormat::Yuv420p if w_odd || h_odd => {
                warnings.push(format!(
                    "libx264 cannot encode 4:2:0 video of odd size {}x{}; frames are converted to yuv444p \
                     (chroma upsampled, lossless from then on; use the FFV1 codec to keep 4:2:0)",
                    video.width, video.height
                ));
                PlanarFormat::Yuv444p
            }
            PlanarFormat::Yuv422p if w_odd => {
                warnings.push(format!(
                    "libx264 cannot encode 4:2:2 video of odd width {}; frames are converted to yuv444p \
                     (chroma upsampled, lossless from then on; use the FFV1 codec to keep 4:2:2)",
                    video.width
                ));
                PlanarFormat::Yuv444p
            }
            other => other,
        };
        format.pixel = target;
    }
    RawFormatChoice { format, warnings }
}

/// Target layout for a source that is not one of the four; the flag says
/// whether a full-range source should stay full range (YUV sources only).
fn convert_target(pix_fmt: &str) -> (PlanarFormat, bool) {
    let name = pix_fmt.to_ascii_lowercase();
    let rgb_like = [
        "rgb", "bgr", "gbr", "argb", "abgr", "0rgb", "0bgr", "x2rgb", "x2bgr", "pal8", "xyz",
    ]
    .iter()
    .any(|p| name.starts_with(p));
    if rgb_like {
        return (PlanarFormat::Yuv444p, false);
    }
    if name.starts_with("gray")
        || name.starts_with("ya")
        || name.starts_with("monow")
        || name.starts_with("monob")
    {
        return (PlanarFormat::Gray, false);
    }
    let is_yuv = name.starts_with("yuv")
        || name.starts_with("nv")
        || name.starts_with("p01")
        || name.starts_with("p21")
        || name.starts_with("p41")
        || name.starts_with("y21")
        || name.starts_with("yuyv")
        || name.starts_with("uyvy")
        || name.starts_with("yvyu")
        || name.starts_with("ayuv")
        || name.starts_with("vuy")
        || name.starts_with("xv3");
    if !is_yuv {
        return (PlanarFormat::Yuv420p, false);
    }
    // 4:4:0, 4:1:1 and 4:1:0 have no 8-bit planar twin here; 4:4:4 holds
    // their chroma without loss.
    let full_chroma = name.contains("444")
        || name.contains("440")
        || name.contains("411")
        || name.contains("410")
        || name.starts_with("ayuv")
        || name.starts_with("vuy")
        || name.starts_with("xv3")
        || name.starts_with("nv24")
        || name.starts_with("nv42")
        || name.starts_with("p41");
    let pixel = if full_chroma {
        PlanarFormat::Yuv444p
    } else if name.contains("422")
        || name.starts_with("yuyv")
        || name.starts_with("uyvy")
        || name.starts_with("yvyu")
        || name.starts_with("y21")
        || name.starts_with("p21")
        || name.starts_with("nv16")
        || name.starts_with("nv20")
    {
        PlanarFormat::Yuv422p
    } else {
        PlanarFormat::Yuv420p
    };
    (pixel, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_sizes_round_chroma_up() {
        let f = RawFormat::new(321, 241, PlanarFormat::Yuv420p);
        assert_eq!(f.plane_dims(), vec![(321, 241), (161, 121), (161, 121)]);
        assert_eq!(f.frame_len(), 321 * 241 + 2 * 161 * 121);
        let f = RawFormat::new(321, 241, PlanarFormat::Yuv422p);
        assert_eq!(f.plane_dims(), vec![(321, 241), (161, 241), (161, 241)]);
        let f = RawFormat::new(5, 3, PlanarFormat::Gray);
        assert_eq!(f.plane_dims(), vec![(5, 3)]);
        assert_eq!(f.frame_len(), 15);
        let f = RawFormat::new(4, 2, PlanarFormat::Yuv444p);
        assert_eq!(f.frame_len(), 24);
    }

    #[test]
    fn split_planes_matches_layout() {
        let f = RawFormat::new(4, 4, PlanarFormat::Yuv420p);
        let mut buf = vec![0u8; f.frame_len()];
        {
            let mut planes = f.split_planes_mut(&mut buf).unwrap();
            assert_eq!(planes.iter().map(|p| p.len()).collect::<Vec<_>>(), vec![16, 4, 4]);
            planes[1][0] = 7;
        }
        assert_eq!(buf[16], 7);
        assert!(matches!(
            f.split_planes(&buf[1..]),
            Err(MediaError::FrameSize {
                expected: 24,
                got: 23,
                ..
            })
        ));
    }

    #[test]
    fn conversion_targets() {
        assert_eq!(convert_target("yuv420p10le"), (PlanarFormat::Yuv420p, true));
        assert_eq!(convert_target("yuv422p10le"), (PlanarFormat::Yuv422p, true));
        assert_eq!(convert_target("yuv444p12le"), (PlanarFormat::Yuv444p, true));
        assert_eq!(convert_target("nv12"), (PlanarFormat::Yuv420p, true));
        assert_eq!(convert_target("p010le"), (PlanarFormat::Yuv420p, true));
        assert_eq!(convert_target("yuyv422"), (PlanarFormat::Yuv422p, true));
        assert_eq!(convert_target("yuva420p"), (PlanarFormat::Yuv420p, true));
        assert_eq!(convert_target("yuv411p"), (PlanarFormat::Yuv444p, true));
        assert_eq!(convert_target("rgb24"), (PlanarFormat::Yuv444p, false));
        assert_eq!(convert_target("gbrp10le"), (PlanarFormat::Yuv444p, false));
        assert_eq!(convert_target("bgra"), (PlanarFormat::Yuv444p, false));
        assert_eq!(convert_target("gray16le"), (PlanarFormat::Gray, false));
        assert_eq!(convert_target("ya8"), (PlanarFormat::Gray, false));
        assert_eq!(convert_target("weird"), (PlanarFormat::Yuv420p, false));
    }

    #[test]
    fn full_range_names() {
        let mut f = RawFormat::new(2, 2, PlanarFormat::Yuv422p);
        assert_eq!(f.pipe_pix_fmt(), "yuv422p");
        f.full_range = true;
        assert_eq!(f.pipe_pix_fmt(), "yuvj422p");
        assert_eq!(
            PlanarFormat::from_ffmpeg_name("yuvj444p"),
            Some((PlanarFormat::Yuv444p, true))
        );
        assert_eq!(PlanarFormat::from_ffmpeg_name("yuv420p10le"), None);
    }
}
