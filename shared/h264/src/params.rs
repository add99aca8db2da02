//! Parameter sets (SPS/PPS, parsed by the `h264-reader` crate) and the
//! picture shape they define: macroblock grid, chroma sampling, cropping.

use crate::bits::unescape;
use crate::error::H264Error;
use crate::nal::{nal_type, NAL_PPS, NAL_SPS};
use h264_reader::nal::pps::PicParameterSet;
use h264_reader::nal::sps::{ChromaFormat, FrameMbsFlags, SeqParameterSet};
use h264_reader::rbsp::BitReader as RbspReader;
use h264_reader::Context;

/// Chroma sampling of a stream (`chroma_format_idc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChromaSampling {
    /// 4:0:0, luma only.
    Monochrome,
    /// 4:2:0.
    Yuv420,
    /// 4:2:2.
    Yuv422,
    /// 4:4:4 (with `separate_colour_plane_flag` 0).
    Yuv444,
}

impl ChromaSampling {
    /// `(SubWidthC, SubHeightC)`; `None` for monochrome.
    pub fn subsampling(self) -> Option<(u32, u32)> {
        match self {
            ChromaSampling::Monochrome => None,
            ChromaSampling::Yuv420 => Some((2, 2)),
            ChromaSampling::Yuv422 => Some((2, 1)),
            ChromaSampling::Yuv444 => Some((1, 1)),
        }
    }

    /// FFmpeg's name of the 8-bit planar pixel format a decoder outputs.
    pub fn ffmpeg_pixel_format(self) -> &'static str {
        match self {
            ChromaSampling::Monochrome => "gray",
            ChromaSampling::Yuv420 => "yuv420p",
            ChromaSampling::Yuv422 => "yuv422p",
            ChromaSampling::Yuv444 => "yuv444p",
        }
    }
}

/// The coded picture of a stream: its macroblock grid, sampling and the
/// cropping window that gives the displayed picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PictureShape {
    /// Width in macroblocks (`PicWidthInMbs`).
    pub width_mbs: u32,
    /// Height in macroblocks (`FrameHeightInMbs`; frames only).
    pub height_mbs: u32,
    /// Chroma sampling.
    pub chroma: ChromaSampling,
    /// Luma samples cropped from the right edge.
    pub crop_right: u32,
    /// Luma samples cropped from the bottom edge.
    pub crop_bottom: u32,
}

impl PictureShape {
    /// Coded luma width.
    pub fn coded_width(&self) -> u32 {
        self.width_mbs * 16
    }

    /// Coded luma height.
    pub fn coded_height(&self) -> u32 {
        self.height_mbs * 16
    }

    /// Displayed (cropped) luma width.
    pub fn width(&self) -> u32 {
        self.coded_width() - self.crop_right
    }

    /// Displayed (cropped) luma height.
    pub fn height(&self) -> u32 {
        self.coded_height() - self.crop_bottom
    }

    /// Macroblocks per picture.
    pub fn macroblocks(&self) -> u32 {
        self.width_mbs * self.height_mbs
    }

    /// Chroma samples of one macroblock: `(MbWidthC, MbHeightC)`, `(0, 0)` for monochrome.
    pub fn mb_chroma(&self) -> (u32, u32) {
        self.chroma
            .subsampling()
            .map_or((0, 0), |(sw, sh)| (16 / sw, 16 / sh))
    }

    /// Bytes of one I_PCM macroblock's samples (8-bit).
    pub fn pcm_bytes_per_mb(&self) -> usize {
        let (cw, ch) = self.mb_chroma();
        256 + 2 * (cw * ch) as usize
    }

    /// Width and height of each plane of the displayed picture (Y, then Cb, Cr).
    pub fn display_planes(&self) -> Vec<(u32, u32)> {
        self.planes(self.width(), self.height())
    }

    /// Width and height of each plane of the coded picture.
    pub fn coded_planes(&self) -> Vec<(u32, u32)> {
        self.planes(self.coded_width(), self.coded_height())
    }

    fn planes(&self, w: u32, h: u32) -> Vec<(u32, u32)> {
        match self.chroma.subsampling() {
            None => vec![(w, h)],
            Some((sw, sh)) => {
                let c = (w.div_ceil(sw), h.div_ceil(sh));
                vec![(w, h), c, c]
            }
        }
    }
}

/// The sequence and picture parameter sets of a stream, from the `avcC`
/// record of its container and from parameter-set NAL units in the stream.
pub struct ParameterSets {
    context: Context,
    length_size: usize,
}

impl std::fmt::Debug for ParameterSets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParameterSets")
            .field("length_size", &self.length_size)
            .field("sps", &self.context.sps().count())
            .field("pps", &self.context.pps().count())
            .finish()
    }
}

fn rbsp(nal: &[u8]) -> Vec<u8> {
    unescape(nal.get(1..).unwrap_or_default())
}

impl ParameterSets {
    /// From an `AVCDecoderConfigurationRecord` (the `avcC` box payload of
    /// MP4, the CodecPrivate of Matroska's `V_MPEG4/ISO/AVC`).
    pub fn from_avcc(record: &[u8]) -> Result<Self, H264Error> {
        let avcc = h264_reader::avcc::AvcDecoderConfigurationRecord::try_from(record)
            .map_err(|e| H264Error::Malformed(format!("the avcC record does not parse: {e:?}")))?;
        let mut sets = ParameterSets {
            context: Context::new(),
            length_size: avcc.length_size_minus_one() as usize + 1,
        };
        for sps in avcc.sequence_parameter_sets() {
            let sps = sps.map_err(|e| H264Error::Malformed(format!("avcC SPS: {e:?}")))?;
            sets.add(sps)?;
        }
        for pps in avcc.picture_parameter_sets() {
            let pps = pps.map_err(|e| H264Error::Malformed(format!("avcC PPS: {e:?}")))?;
            sets.add(pps)?;
        }
        Ok(sets)
    }

    /// No parameter sets yet (an Annex B stream carries them in-band);
    /// samples written for it use 4-byte NAL lengths.
    pub fn in_band() -> Self {
        ParameterSets {
            context: Context::new(),
            length_size: 4,
        }
    }

    /// Bytes of each NAL length field in the container's samples.
    pub fn length_size(&self) -> usize {
        self.length_size
    }

    /// Takes in an SPS or PPS NAL unit; other NAL units are ignored.
    pub fn add(&mut self, nal: &[u8]) -> Result<(), H264Error> {
        match nal_type(nal) {
            NAL_SPS => {
                let sps = SeqParameterSet::from_bits(RbspReader::new(&rbsp(nal)[..]))
                    .map_err(|e| H264Error::Malformed(format!("SPS: {e:?}")))?;
                self.context.put_seq_param_set(sps);
            }
            NAL_PPS => {
                let pps = PicParameterSet::from_bits(&self.context, RbspReader::new(&rbsp(nal)[..]))
                    .map_err(|e| H264Error::Malformed(format!("PPS: {e:?}")))?;
                self.context.put_pic_param_set(pps);
            }
            _ => {}
        }
        Ok(())
    }

    /// The parsed parameter sets, for slice-header parsing.
    pub(crate) fn context(&self) -> &Context {
        &self.context
    }

    /// Whether any SPS is known.
    pub fn is_empty(&self) -> bool {
        self.context.sps().next().is_none()
    }

    /// The picture shape every SPS of the stream agrees on, after checking
    /// that carrier pictures can be written under every SPS and PPS.
    pub fn carrier_shape(&self) -> Result<PictureShape, H264Error> {
        let mut shape: Option<PictureShape> = None;
        for sps in self.context.sps() {
            let s = shape_of(sps)?;
            if shape.is_some_and(|known| known != s) {
                return Err(H264Error::Unsupported(
                    "the stream changes picture size or sampling mid-way".into(),
                ));
            }
            shape = Some(s);
        }
        for pps in self.context.pps() {
            check_pps(pps)?;
        }
        shape.ok_or_else(|| H264Error::Malformed("the stream has no sequence parameter set".into()))
    }
}

/// The shape of the pictures an SPS describes, if carriers can be written
/// under it.
pub(crate) fn shape_of(sps: &SeqParameterSet) -> Result<PictureShape, H264Error> {
    let unsupported = |what: String| Err(H264Error::Unsupported(what));
    if !matches!(sps.frame_mbs_flags, FrameMbsFlags::Frames) {
        return unsupported("interlaced (field or MBAFF) coding".into());
    }
    let chroma_info = &sps.chroma_info;
    if chroma_info.separate_colour_plane_flag {
        return unsupported("4:4:4 with separately coded colour planes".into());
    }
    if chroma_info.bit_depth_luma_minus8 != 0 || chroma_info.bit_depth_chroma_minus8 != 0 {
        return unsupported(format!(
            "{}-bit samples (carriers are written at 8 bits)",
            8 + chroma_info
                .bit_depth_luma_minus8
                .max(chroma_info.bit_depth_chroma_minus8)
        ));
    }
    let chroma = match chroma_info.chroma_format {
        ChromaFormat::Monochrome => ChromaSampling::Monochrome,
        ChromaFormat::YUV420 => ChromaSampling::Yuv420,
        ChromaFormat::YUV422 => ChromaSampling::Yuv422,
        ChromaFormat::YUV444 => ChromaSampling::Yuv444,
        ChromaFormat::Invalid(v) => {
            return Err(H264Error::Malformed(format!("chroma_format_idc {v}")));
        }
    };
    let width_mbs = sps.pic_width_in_mbs_minus1 + 1;
    let height_mbs = sps.pic_height_in_map_units_minus1 + 1;
    let (unit_x, unit_y) = chroma.subsampling().unwrap_or((1, 1));
    let (mut right, mut bottom) = (0, 0);
    if let Some(crop) = &sps.frame_cropping {
        if crop.left_offset != 0 || crop.top_offset != 0 {
            return unsupported("cropping from the left or top edge".into());
        }
        right = crop.right_offset.saturating_mul(unit_x);
        bottom = crop.bottom_offset.saturating_mul(unit_y);
    }
    if width_mbs > 1024 || height_mbs > 1024 || right >= width_mbs * 16 || bottom >= height_mbs * 16 {
        return Err(H264Error::Malformed(format!(
            "an SPS describes {width_mbs}x{height_mbs} macroblocks cropped by {right}x{bottom}"
        )));
    }
    Ok(PictureShape {
        width_mbs,
        height_mbs,
        chroma,
        crop_right: right,
        crop_bottom: bottom,
    })
}

/// Checks that a PPS allows one slice covering the whole picture.
pub(crate) fn check_pps(pps: &PicParameterSet) -> Result<(), H264Error> {
    if pps.slice_groups.is_some() {
        return Err(H264Error::Unsupported("slice groups (FMO)".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plane_sizes_round_chroma_up() {
        let shape = PictureShape {
            width_mbs: 21,
            height_mbs: 16,
            chroma: ChromaSampling::Yuv420,
            crop_right: 14,
            crop_bottom: 14,
        };
        assert_eq!(shape.width(), 322);
        assert_eq!(shape.height(), 242);
        assert_eq!(shape.display_planes(), vec![(322, 242), (161, 121), (161, 121)]);
        assert_eq!(shape.coded_planes(), vec![(336, 256), (168, 128), (168, 128)]);
        assert_eq!(shape.pcm_bytes_per_mb(), 384);
        let mono = PictureShape {
            chroma: ChromaSampling::Monochrome,
            ..shape
        };
        assert_eq!(mono.display_planes().len(), 1);
        assert_eq!(mono.pcm_bytes_per_mb(), 256);
    }
}
