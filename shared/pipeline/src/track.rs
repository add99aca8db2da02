//! The H.264 video track of an MP4/MOV or Matroska file, as compact mode
//! sees it: the container's sample index, the parameter sets, and for every
//! access unit the NAL unit headers that decide whether it may carry.
//!
//! Only NAL unit *headers* are read while scanning (a few bytes per NAL
//! unit), never the picture data, so scanning costs about one read of the
//! index and a walk over the file in large blocks.

use crate::error::{PipelineError, Result};
use std::io::{Read, Seek, SeekFrom};
use vidstega_container::{read_video_track, VideoTrack};
use vidstega_h264::nal::{
    is_vcl_or_extension, nal_type, slice_type, split_length_prefixed, NAL_PPS, NAL_SPS,
};
use vidstega_h264::{carrier_candidates, AccessUnitKind, Candidates, ParameterSets, PictureShape};
use vidstega_media::{KnownPackets, Rational};

/// Bytes of a slice read to find its type (the NAL header byte, then
/// `first_mb_in_slice` and `slice_type`, with room for emulation prevention).
const SLICE_HEAD: u64 = 16;

/// Container codec names of H.264 with an `avcC` configuration.
const H264_CODECS: [&str; 3] = ["avc1", "avc3", "V_MPEG4/ISO/AVC"];

/// An H.264 video track opened for compact mode.
#[derive(Debug)]
pub struct H264Track {
    /// The container's view of the track: every sample's offset and size.
    pub track: VideoTrack,
    /// Parameter sets from the `avcC` record and from the stream.
    pub sets: ParameterSets,
}

/// What scanning a track found.
#[derive(Debug, Clone)]
pub struct Scan {
    /// Every access unit's kind, in decoding order.
    pub units: Vec<AccessUnitKind>,
    /// The access units that may carry (indices into `units`), in decoding
    /// order: the carrier candidates of the format.
    pub candidates: Vec<usize>,
    /// The group (GOP) of each candidate.
    pub groups: Vec<u32>,
}

fn read_at(r: &mut (impl Read + Seek), offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    r.seek(SeekFrom::Start(offset))
        .and_then(|_| r.read_exact(&mut buf))
        .map_err(|e| PipelineError::io(format!("reading {len} bytes at offset {offset} of the video"), e))?;
    Ok(buf)
}

impl H264Track {
    /// Reads the container index and the `avcC` record. Fails with
    /// [`PipelineError::InvalidInput`] if the first video track is not H.264.
    pub fn open(r: &mut (impl Read + Seek)) -> Result<Self> {
        let track = read_video_track(r)?;
        if !H264_CODECS.contains(&track.codec.as_str()) {
            return Err(PipelineError::InvalidInput(format!(
                "the video is {}, not H.264",
                track.codec
            )));
        }
        let sets = if track.codec_private.is_empty() {
            ParameterSets::in_band()
        } else {
            ParameterSets::from_avcc(&track.codec_private)?
        };
        Ok(H264Track { track, sets })
    }

    /// One past the last byte of video data the index points at (`None`
    /// for a track without samples): beyond the file's end, the file is
    /// truncated.
    pub fn data_end(&self) -> Option<u64> {
        self.track.samples.iter().map(|s| s.offset + s.size).max()
    }

    /// The track's packets as its container's tables give them, in the
    /// form [`vidstega_media::probe_with_known_packets`] takes instead of
    /// ffprobe's packet listing (with edit lists ignored); `None` when the
    /// container does not give every sample's timestamp (Matroska, for
    /// now), or may mark random access points beyond its sync samples
    /// (sample groups), which FFmpeg's keyframe flags would follow.
    pub fn container_packets(&self) -> Option<KnownPackets> {
        let timing = self.track.timing.as_ref()?;
        if timing.other_random_access || timing.pts.len() != self.track.samples.len() {
            return None;
        }
        Some(KnownPackets {
            stream_id: self.track.track_id,
            time_base: Rational::new(1, i64::from(timing.timescale)),
            packets: timing
                .pts
                .iter()
                .zip(&self.track.samples)
                .map(|(&pts, sample)| (pts, sample.keyframe))
                .collect(),
        })
    }

    /// Number of access units.
    pub fn len(&self) -> usize {
        self.track.samples.len()
    }

    /// Whether the track has no access units.
    pub fn is_empty(&self) -> bool {
        self.track.samples.is_empty()
    }

    /// The bytes of access unit `index` (length-prefixed NAL units).
    pub fn read_sample(&self, r: &mut (impl Read + Seek), index: usize) -> Result<Vec<u8>> {
        let s =
            self.track.samples.get(index).ok_or_else(|| {
                PipelineError::InvalidInput(format!("the video has no access unit {index}"))
            })?;
        if s.size > 256 << 20 {
            return Err(PipelineError::InvalidInput(format!(
                "access unit {index} claims {} bytes",
                s.size
            )));
        }
        read_at(r, s.offset, s.size as usize)
    }

    /// Splits a sample into its NAL units.
    pub fn nal_units<'s>(&self, sample: &'s [u8]) -> Result<Vec<&'s [u8]>> {
        Ok(split_length_prefixed(sample, self.sets.length_size())?)
    }

    /// Reads the NAL unit headers of every access unit (and takes in the
    /// parameter sets the stream carries), then applies the eligibility rule.
    pub fn scan(&mut self, r: &mut (impl Read + Seek)) -> Result<Scan> {
        let size = self.sets.length_size();
        let mut units = Vec::with_capacity(self.track.samples.len());
        let mut headers = Vec::with_capacity(8);
        for (i, s) in self.track.samples.iter().enumerate() {
            headers.clear();
            let mut first_slice_type = None;
            let mut at = 0u64;
            while at < s.size {
                if at + size as u64 > s.size {
                    return Err(malformed(i, "ends inside a NAL length field"));
                }
                let head = read_at(r, s.offset + at, (size + 1).min((s.size - at) as usize))?;
                if head.len() < size + 1 {
                    // Only a (zero) length field left.
                    at += head.len() as u64;
                    continue;
                }
                let len = head[..size].iter().fold(0u64, |acc, &b| (acc << 8) | b as u64);
                if at + size as u64 + len > s.size {
                    return Err(malformed(i, "has a NAL unit that overruns it"));
                }
                if len == 0 {
                    // An empty NAL unit (as split_length_prefixed skips it).
                    at += size as u64;
                    continue;
                }
                let header = head[size];
                if matches!(header & 0x1f, NAL_SPS | NAL_PPS) && len < 4096 {
                    let nal = read_at(r, s.offset + at + size as u64, len as usize)?;
                    self.sets.add(&nal)?;
                }
                if headers.iter().all(|&h| !is_vcl_or_extension(&[h])) && is_vcl_or_extension(&[header]) {
                    // The first slice: its type (first bytes of its header).
                    let head = read_at(r, s.offset + at + size as u64, len.min(SLICE_HEAD) as usize)?;
                    first_slice_type = slice_type(&head);
                }
                headers.push(header);
                at += size as u64 + len;
            }
            units.push(AccessUnitKind::new(headers.iter().copied(), first_slice_type));
        }
        let Candidates {
            units: candidates,
            groups,
        } = carrier_candidates(&units);
        Ok(Scan {
            units,
            candidates,
            groups,
        })
    }

    /// The picture shape carriers are written at (checks that the stream
    /// can hold carriers at all).
    pub fn shape(&self) -> Result<PictureShape> {
        Ok(self.sets.carrier_shape()?)
    }

    /// The parameter sets in effect for access unit `index`: those of the
    /// `avcC` record, plus any in the access unit itself and in the last
    /// keyframe before it (streams that repeat their parameter sets in-band).
    pub fn sets_for(&self, r: &mut (impl Read + Seek), index: usize) -> Result<ParameterSets> {
        let mut sets = if self.track.codec_private.is_empty() {
            ParameterSets::in_band()
        } else {
            ParameterSets::from_avcc(&self.track.codec_private)?
        };
        let key = if sets.is_empty() {
            (0..index).rev().find(|&i| self.track.samples[i].keyframe)
        } else {
            None
        };
        for i in key.into_iter().chain(Some(index)) {
            let sample = self.read_sample(r, i)?;
            for nal in self.nal_units(&sample)? {
                if matches!(nal_type(nal), NAL_SPS | NAL_PPS) {
                    sets.add(nal)?;
                }
            }
        }
        Ok(sets)
    }
}

fn malformed(index: usize, what: &str) -> PipelineError {
    PipelineError::InvalidInput(format!("the video is damaged: access unit {index} {what}"))
}
