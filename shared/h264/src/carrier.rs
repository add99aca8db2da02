//! Carrier pictures: which pictures may be replaced, and the replacement
//! itself — one slice whose macroblocks are all I_PCM, holding the picture's
//! samples verbatim — written and read back.
//!
//! Why I_PCM: an I_PCM macroblock stores raw samples, with no prediction
//! and no transform, so a decoder outputs exactly the samples written, and
//! their least significant bits survive. It is legal in every profile,
//! under the stream's own parameter sets, with CAVLC and with CABAC.
//!
//! Why only unreferenced pictures: replacing a picture that others predict
//! from would change those pictures too (their motion vectors and, for
//! B-frames, the co-located motion data of direct prediction point into
//! it). A picture with `nal_ref_idc == 0` is never used for prediction; the
//! last picture before an IDR picture is not either, because the IDR
//! empties the reference buffer before anything else is decoded.
//!
//! The replacement keeps the original slice header's `frame_num`, picture
//! order count fields, `nal_ref_idc`, `nal_unit_type`, `idr_pic_id` and
//! `dec_ref_pic_marking()`, so the decoder's reference and output logic see
//! the same picture as before, and switches the deblocking filter off (it
//! would do nothing anyway: I_PCM macroblocks have QP 0, where every filter
//! threshold is zero).

use crate::bits::{escape, unescape, BitReader, BitWriter};
use crate::cabac::{self, mb_type_contexts};
use crate::error::H264Error;
use crate::nal::{is_slice, is_vcl_or_extension, nal_ref_idc, nal_type, NAL_IDR_SLICE};
use crate::params::{check_pps, shape_of, ParameterSets, PictureShape};
use h264_reader::nal::pps::PicParameterSet;
use h264_reader::nal::slice::{DecRefPicMarking, MemoryManagementControlOperation, SliceHeader};
use h264_reader::nal::sps::{PicOrderCntType, SeqParameterSet};
use h264_reader::nal::NalHeader;
use h264_reader::rbsp::BitReader as RbspReader;

/// `mb_type` of I_PCM in an I slice (Table 7-11).
const MB_TYPE_I_PCM: u32 = 25;
/// `slice_type` written: I, and every slice of the picture is I.
const SLICE_TYPE_ALL_I: u32 = 7;

/// What the carrier rule needs to know about one access unit: the headers
/// of its NAL units (which a carrier keeps unchanged) and the type of its
/// first slice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccessUnitKind {
    /// It has at least one coded slice.
    pub has_picture: bool,
    /// One of its slices has `nal_ref_idc != 0`.
    pub is_reference: bool,
    /// It is an IDR picture (`nal_unit_type == 5`).
    pub is_idr: bool,
    /// Its first slice is an I or SI slice (`slice_type % 5` is 2 or 4).
    pub is_intra: bool,
}

impl AccessUnitKind {
    /// Classifies an access unit from the first byte of each of its NAL
    /// units and `first_slice_type`, the `slice_type` of its first slice
    /// (see [`crate::nal::slice_type`]).
    pub fn new(headers: impl IntoIterator<Item = u8>, first_slice_type: Option<u32>) -> Self {
        let mut kind = AccessUnitKind::default();
        for h in headers {
            let unit = [h];
            if is_vcl_or_extension(&unit) {
                kind.has_picture = true;
                kind.is_reference |= nal_ref_idc(&unit) != 0;
                kind.is_idr |= nal_type(&unit) == NAL_IDR_SLICE;
            }
        }
        kind.is_intra = kind.has_picture && first_slice_type.is_some_and(|t| matches!(t % 5, 2 | 4));
        kind
    }

    /// Classifies an access unit from its NAL units.
    pub fn from_nal_units<T: AsRef<[u8]>>(nals: &[T]) -> Self {
        let first_slice = nals.iter().map(|n| n.as_ref()).find(|n| is_vcl_or_extension(n));
        Self::new(
            nals.iter().filter_map(|n| n.as_ref().first().copied()),
            first_slice.and_then(crate::nal::slice_type),
        )
    }
}

/// The access units (indices in decoding order) that may become carriers:
/// pictures no other picture references — those with `nal_ref_idc == 0`
/// on every slice, the last picture before an IDR picture, and the last
/// picture of the stream.
pub fn eligible_carriers(units: &[AccessUnitKind]) -> Vec<usize> {
    let pictures: Vec<usize> = (0..units.len()).filter(|&i| units[i].has_picture).collect();
    pictures
        .iter()
        .enumerate()
        .filter(|&(k, &i)| {
            let next = pictures.get(k + 1).map(|&n| units[n]);
            !units[i].is_reference || next.is_none_or(|n| n.is_idr)
        })
        .map(|(_, &i)| i)
        .collect()
}

/// The carrier candidates of a stream and the group (GOP) of each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Candidates {
    /// Access units that may become carriers, in decoding order.
    pub units: Vec<usize>,
    /// The group of each candidate: 0 for the first group that has one,
    /// counting up by one from group to group.
    pub groups: Vec<u32>,
}

/// The candidates ([`eligible_carriers`]) and their groups. A group starts
/// at every access unit that is an intra picture (first slice I or SI) and
/// not a candidate — a keyframe, IDR or not. Both rules read only what a
/// carrier keeps (a candidate's own slice type may change when it becomes
/// a carrier; it never starts a group), so embedding changes neither.
pub fn carrier_candidates(units: &[AccessUnitKind]) -> Candidates {
    let units_eligible = eligible_carriers(units);
    let mut is_candidate = vec![false; units.len()];
    for &i in &units_eligible {
        is_candidate[i] = true;
    }
    let mut groups = Vec::with_capacity(units_eligible.len());
    let mut starts = 0u64;
    let mut last: Option<(u64, u32)> = None;
    let mut next = units_eligible.iter().peekable();
    for (i, u) in units.iter().enumerate() {
        if u.is_intra && !is_candidate[i] {
            starts += 1;
        }
        if next.next_if(|&&c| c == i).is_some() {
            let group = match last {
                Some((s, g)) if s == starts => g,
                Some((_, g)) => g + 1,
                None => 0,
            };
            last = Some((starts, group));
            groups.push(group);
        }
    }
    Candidates {
        units: units_eligible,
        groups,
    }
}

fn slice_header<'a>(
    sets: &'a ParameterSets,
    nal: &[u8],
) -> Result<(SliceHeader, &'a SeqParameterSet, &'a PicParameterSet), H264Error> {
    let header = NalHeader::new(nal[0]).map_err(|e| H264Error::Malformed(format!("NAL header: {e:?}")))?;
    let rbsp = unescape(&nal[1..]);
    SliceHeader::from_bits(sets.context(), &mut RbspReader::new(&rbsp[..]), header)
        .map_err(|e| H264Error::Malformed(format!("slice header: {e:?}")))
}

/// Builds the carrier access unit that replaces `access_unit` (its NAL
/// units, in order): the same non-slice NAL units (delimiter, SEI, parameter
/// sets), and one I_PCM slice holding `planes` — the displayed picture, one
/// tightly packed 8-bit plane per colour component at the sizes of
/// [`PictureShape::display_planes`]. The area outside the cropping window
/// repeats the edge samples.
pub fn write_carrier<T: AsRef<[u8]>>(
    sets: &ParameterSets,
    access_unit: &[T],
    planes: &[&[u8]],
) -> Result<Vec<Vec<u8>>, H264Error> {
    let nals: Vec<&[u8]> = access_unit
        .iter()
        .map(|n| n.as_ref())
        .filter(|n| !n.is_empty())
        .collect();
    let first = nals.iter().position(|n| is_vcl_or_extension(n));
    let last = nals.iter().rposition(|n| is_vcl_or_extension(n));
    let (Some(first), Some(last)) = (first, last) else {
        return Err(H264Error::InvalidPicture(
            "the access unit holds no coded picture".into(),
        ));
    };
    if let Some(n) = nals[first..=last]
        .iter()
        .find(|n| is_vcl_or_extension(n) && !is_slice(n))
    {
        return Err(H264Error::Unsupported(format!(
            "NAL units of type {} (data partitions or SVC/MVC extensions)",
            nal_type(n)
        )));
    }
    let original = nals[first];
    let (header, sps, pps) = slice_header(sets, original)?;
    let shape = shape_of(sps)?;
    check_pps(pps)?;
    let coded = coded_planes(&shape, planes)?;

    let mut w = BitWriter::with_capacity(shape.macroblocks() as usize * (shape.pcm_bytes_per_mb() + 3) + 64);
    write_slice_header(&mut w, original, &header, sps, pps)?;
    let qp = 26 + pps.pic_init_qp_minus26;
    write_slice_data(&mut w, &shape, &coded, pps.entropy_coding_mode_flag, qp);
    let mut slice = Vec::with_capacity(w_len_hint(&shape));
    slice.push(original[0]);
    slice.extend_from_slice(&escape(&w.into_bytes()));

    let mut out: Vec<Vec<u8>> = nals[..first].iter().map(|n| n.to_vec()).collect();
    out.push(slice);
    out.extend(
        nals[last + 1..]
            .iter()
            .filter(|n| !is_vcl_or_extension(n))
            .map(|n| n.to_vec()),
    );
    Ok(out)
}

fn w_len_hint(shape: &PictureShape) -> usize {
    shape.macroblocks() as usize * (shape.pcm_bytes_per_mb() + 4) + 64
}

/// The coded-size planes: the displayed picture with its right and bottom
/// edges repeated into the cropped-away area.
fn coded_planes(shape: &PictureShape, planes: &[&[u8]]) -> Result<Vec<Vec<u8>>, H264Error> {
    let display = shape.display_planes();
    if planes.len() != display.len() {
        return Err(H264Error::InvalidPicture(format!(
            "{} planes given, the stream has {}",
            planes.len(),
            display.len()
        )));
    }
    let coded = shape.coded_planes();
    let mut out = Vec::with_capacity(planes.len());
    for ((plane, &(w, h)), &(cw, ch)) in planes.iter().zip(&display).zip(&coded) {
        let (w, h, cw, ch) = (w as usize, h as usize, cw as usize, ch as usize);
        if plane.len() != w * h {
            return Err(H264Error::InvalidPicture(format!(
                "a {w}x{h} plane needs {} bytes, got {}",
                w * h,
                plane.len()
            )));
        }
        let mut full = vec![0u8; cw * ch];
        for y in 0..ch {
            let src = &plane[y.min(h - 1) * w..][..w];
            let row = &mut full[y * cw..(y + 1) * cw];
            row[..w].copy_from_slice(src);
            let edge = src[w - 1];
            row[w..].fill(edge);
        }
        out.push(full);
    }
    Ok(out)
}

fn write_slice_header(
    w: &mut BitWriter,
    original: &[u8],
    header: &SliceHeader,
    sps: &SeqParameterSet,
    pps: &PicParameterSet,
) -> Result<(), H264Error> {
    let idr = nal_type(original) == NAL_IDR_SLICE;
    w.put_ue(0); // first_mb_in_slice
    w.put_ue(SLICE_TYPE_ALL_I);
    w.put_ue(pps.pic_parameter_set_id.id() as u32);
    w.put_bits(header.frame_num as u64, sps.log2_max_frame_num() as u32);
    // frame_mbs_only_flag is 1 (checked by shape_of): no field_pic_flag.
    if idr {
        let id = header
            .idr_pic_id
            .ok_or_else(|| H264Error::Malformed("an IDR slice without idr_pic_id".into()))?;
        w.put_ue(id);
    }
    use h264_reader::nal::slice::PicOrderCountLsb as Poc;
    let bottom_present = pps.bottom_field_pic_order_in_frame_present_flag;
    match (&sps.pic_order_cnt, &header.pic_order_cnt_lsb) {
        (
            PicOrderCntType::TypeZero {
                log2_max_pic_order_cnt_lsb_minus4,
            },
            Some(poc),
        ) => {
            let bits = *log2_max_pic_order_cnt_lsb_minus4 as u32 + 4;
            match poc {
                Poc::Frame(lsb) if !bottom_present => w.put_bits(*lsb as u64, bits),
                Poc::FieldsAbsolute {
                    pic_order_cnt_lsb,
                    delta_pic_order_cnt_bottom,
                } if bottom_present => {
                    w.put_bits(*pic_order_cnt_lsb as u64, bits);
                    w.put_se(*delta_pic_order_cnt_bottom);
                }
                _ => {
                    return Err(H264Error::Malformed(
                        "picture order count fields disagree with the PPS".into(),
                    ))
                }
            }
        }
        (
            PicOrderCntType::TypeOne {
                delta_pic_order_always_zero_flag,
                ..
            },
            Some(Poc::FieldsDelta([d0, d1])),
        ) => {
            if !delta_pic_order_always_zero_flag {
                w.put_se(*d0);
                if bottom_present {
                    w.put_se(*d1);
                }
            }
        }
        (PicOrderCntType::TypeTwo, None) => {}
        _ => {
            return Err(H264Error::Malformed(
                "picture order count fields disagree with the SPS".into(),
            ))
        }
    }
    if pps.redundant_pic_cnt_present_flag {
        w.put_ue(0); // the primary picture
    }
    if nal_ref_idc(original) != 0 {
        let marking = header
            .dec_ref_pic_marking
            .as_ref()
            .ok_or_else(|| H264Error::Malformed("a reference slice without dec_ref_pic_marking".into()))?;
        write_marking(w, marking);
    }
    w.put_se(0); // slice_qp_delta
    if pps.deblocking_filter_control_present_flag {
        w.put_ue(1); // disable_deblocking_filter_idc
    }
    Ok(())
}

fn write_marking(w: &mut BitWriter, marking: &DecRefPicMarking) {
    use MemoryManagementControlOperation as Op;
    match marking {
        DecRefPicMarking::Idr {
            no_output_of_prior_pics_flag,
            long_term_reference_flag,
        } => {
            w.put_bit(*no_output_of_prior_pics_flag as u32);
            w.put_bit(*long_term_reference_flag as u32);
        }
        DecRefPicMarking::SlidingWindow => w.put_bit(0),
        DecRefPicMarking::Adaptive(ops) => {
            w.put_bit(1);
            for op in ops {
                match op {
                    Op::ShortTermUnusedForRef {
                        difference_of_pic_nums_minus1,
                    } => {
                        w.put_ue(1);
                        w.put_ue(*difference_of_pic_nums_minus1);
                    }
                    Op::LongTermUnusedForRef { long_term_pic_num } => {
                        w.put_ue(2);
                        w.put_ue(*long_term_pic_num);
                    }
                    Op::ShortTermUsedForLongTerm {
                        difference_of_pic_nums_minus1,
                        long_term_frame_idx,
                    } => {
                        w.put_ue(3);
                        w.put_ue(*difference_of_pic_nums_minus1);
                        w.put_ue(*long_term_frame_idx);
                    }
                    Op::MaxUsedLongTermFrameRef {
                        max_long_term_frame_idx_plus1,
                    } => {
                        w.put_ue(4);
                        w.put_ue(*max_long_term_frame_idx_plus1);
                    }
                    Op::AllRefPicturesUnused => w.put_ue(5),
                    Op::CurrentUsedForLongTerm { long_term_frame_idx } => {
                        w.put_ue(6);
                        w.put_ue(*long_term_frame_idx);
                    }
                }
            }
            w.put_ue(0);
        }
    }
}

/// Copies macroblock `mb`'s samples out of the coded planes, in I_PCM order:
/// 16×16 luma in raster order, then all Cb samples, then all Cr samples.
fn gather_mb(shape: &PictureShape, planes: &[Vec<u8>], mb: u32, out: &mut Vec<u8>) {
    out.clear();
    let (mbx, mby) = ((mb % shape.width_mbs) as usize, (mb / shape.width_mbs) as usize);
    let cw = shape.coded_width() as usize;
    for y in 0..16 {
        let row = (mby * 16 + y) * cw + mbx * 16;
        out.extend_from_slice(&planes[0][row..row + 16]);
    }
    if let Some((sw, sh)) = shape.chroma.subsampling() {
        let (mcw, mch, stride) = (16 / sw as usize, 16 / sh as usize, cw / sw as usize);
        for plane in &planes[1..3] {
            for y in 0..mch {
                let row = (mby * mch + y) * stride + mbx * mcw;
                out.extend_from_slice(&plane[row..row + mcw]);
            }
        }
    }
}

/// The inverse of [`gather_mb`].
fn scatter_mb(shape: &PictureShape, planes: &mut [Vec<u8>], mb: u32, samples: &[u8]) {
    let (mbx, mby) = ((mb % shape.width_mbs) as usize, (mb / shape.width_mbs) as usize);
    let cw = shape.coded_width() as usize;
    let mut at = 0;
    for y in 0..16 {
        let row = (mby * 16 + y) * cw + mbx * 16;
        planes[0][row..row + 16].copy_from_slice(&samples[at..at + 16]);
        at += 16;
    }
    if let Some((sw, sh)) = shape.chroma.subsampling() {
        let (mcw, mch, stride) = (16 / sw as usize, 16 / sh as usize, cw / sw as usize);
        for plane in planes[1..3].iter_mut() {
            for y in 0..mch {
                let row = (mby * mch + y) * stride + mbx * mcw;
                plane[row..row + mcw].copy_from_slice(&samples[at..at + mcw]);
                at += mcw;
            }
        }
    }
}

fn write_slice_data(w: &mut BitWriter, shape: &PictureShape, planes: &[Vec<u8>], cabac: bool, qp: i32) {
    let count = shape.macroblocks();
    let mut samples = Vec::with_capacity(shape.pcm_bytes_per_mb());
    if !cabac {
        for mb in 0..count {
            w.put_ue(MB_TYPE_I_PCM);
            w.align_with(0); // pcm_alignment_zero_bit
            gather_mb(shape, planes, mb, &mut samples);
            w.put_aligned_bytes(&samples);
        }
        w.put_trailing_bits();
        return;
    }
    w.align_with(1); // cabac_alignment_one_bit
    let mut contexts = mb_type_contexts(qp);
    let mut engine = cabac::Encoder::new();
    for mb in 0..count {
        let (x, y) = (mb % shape.width_mbs, mb / shape.width_mbs);
        // ctxIdxInc: neighbours A (left) and B (above) that exist and are not I_NxN.
        let inc = (x > 0) as usize + (y > 0) as usize;
        engine.decision(w, &mut contexts[inc], 1); // mb_type bin 0: not I_NxN
        engine.terminate(w, 1); // bin 1: I_PCM; flushes the engine
        w.align_with(0); // pcm_alignment_zero_bit
        gather_mb(shape, planes, mb, &mut samples);
        w.put_aligned_bytes(&samples);
        engine = cabac::Encoder::new();
        let last = mb + 1 == count;
        engine.terminate(w, last as u32); // end_of_slice_flag
    }
    // The final flush wrote the rbsp_stop_one_bit.
    w.align_with(0);
}

/// What [`read_carrier`] found in an access unit.
#[derive(Debug, PartialEq, Eq)]
pub enum CarrierRead {
    /// A carrier picture: its displayed planes (Y, then Cb and Cr).
    Carrier(Vec<Vec<u8>>),
    /// A carrier that was damaged: one I slice from the first macroblock,
    /// as large as all its samples, whose macroblocks do not read (the reason).
    Damaged(&'static str),
    /// An ordinary picture, not written by [`write_carrier`] (the reason).
    NotCarrier(&'static str),
}

/// Reads the picture of a carrier access unit: exactly one slice, of type
/// I, starting at macroblock 0, whose macroblocks are all I_PCM and cover
/// the picture. Returns the displayed (cropped) planes.
pub fn read_carrier<T: AsRef<[u8]>>(
    sets: &ParameterSets,
    access_unit: &[T],
) -> Result<CarrierRead, H264Error> {
    let mut slices = access_unit
        .iter()
        .map(|n| n.as_ref())
        .filter(|n| is_vcl_or_extension(n));
    let Some(nal) = slices.next() else {
        return Ok(CarrierRead::NotCarrier("no coded picture"));
    };
    if slices.next().is_some() {
        return Ok(CarrierRead::NotCarrier("more than one slice"));
    }
    if !is_slice(nal) {
        return Ok(CarrierRead::NotCarrier("not a plain coded slice"));
    }
    let rbsp = unescape(&nal[1..]);
    let mut r = BitReader::new(&rbsp);
    let first_mb = r.ue()?;
    let slice_type = r.ue()?;
    if slice_type % 5 != 2 {
        return Ok(CarrierRead::NotCarrier("not an I slice"));
    }
    if first_mb != 0 {
        return Ok(CarrierRead::NotCarrier(
            "the slice does not start at the first macroblock",
        ));
    }
    let pps_id = r.ue()?;
    let ctx = sets.context();
    let pps = ctx
        .pps()
        .find(|p| p.pic_parameter_set_id.id() as u32 == pps_id)
        .ok_or_else(|| H264Error::Malformed(format!("a slice refers to unknown PPS {pps_id}")))?;
    let sps = ctx
        .sps_by_id(pps.seq_parameter_set_id)
        .ok_or_else(|| H264Error::Malformed("a PPS refers to an unknown SPS".into()))?;
    let shape = shape_of(sps)?;
    check_pps(pps)?;
    let slice_qp_delta = skip_i_slice_header(&mut r, nal, sps, pps)?;
    // A slice as large as all its macroblocks' samples is a carrier: if its
    // macroblocks do not read, it is a damaged one, not an ordinary picture.
    let carrier_sized = rbsp.len() as u64 >= shape.macroblocks() as u64 * shape.pcm_bytes_per_mb() as u64;
    let qp = 26 + pps.pic_init_qp_minus26 + slice_qp_delta;
    match read_macroblocks(&mut r, &shape, pps.entropy_coding_mode_flag, qp) {
        Ok(Some(coded)) => Ok(CarrierRead::Carrier(crop(&shape, coded))),
        Ok(None) if !carrier_sized => Ok(CarrierRead::NotCarrier("a macroblock is not I_PCM")),
        Err(e) if !carrier_sized => Err(e),
        Ok(None) | Err(_) => Ok(CarrierRead::Damaged(
            "a carrier-sized I slice whose macroblocks do not all read as I_PCM",
        )),
    }
}

/// Reads every macroblock of a carrier's slice data (the reader stands
/// after the slice header) into coded planes; `None` if one is not I_PCM.
fn read_macroblocks(
    r: &mut BitReader<'_>,
    shape: &PictureShape,
    cabac: bool,
    qp: i32,
) -> Result<Option<Vec<Vec<u8>>>, H264Error> {
    let mut coded: Vec<Vec<u8>> = shape
        .coded_planes()
        .iter()
        .map(|&(w, h)| vec![0; (w * h) as usize])
        .collect();
    let per_mb = shape.pcm_bytes_per_mb();
    let count = shape.macroblocks();
    if !cabac {
        for mb in 0..count {
            if r.ue()? != MB_TYPE_I_PCM {
                return Ok(None);
            }
            r.align_expecting(0, "pcm_alignment_zero")?;
            let samples = r.aligned_bytes(per_mb)?;
            scatter_mb(shape, &mut coded, mb, samples);
        }
        r.expect_trailing_bits()?;
        return Ok(Some(coded));
    }
    r.align_expecting(1, "cabac_alignment_one")?;
    let mut contexts = mb_type_contexts(qp);
    let mut engine = cabac::Decoder::new(r)?;
    for mb in 0..count {
        let (x, y) = (mb % shape.width_mbs, mb / shape.width_mbs);
        let inc = (x > 0) as usize + (y > 0) as usize;
        if engine.decision(r, &mut contexts[inc])? != 1 || engine.terminate(r)? != 1 {
            return Ok(None);
        }
        r.align_expecting(0, "pcm_alignment_zero")?;
        let samples = r.aligned_bytes(per_mb)?;
        scatter_mb(shape, &mut coded, mb, samples);
        engine = cabac::Decoder::new(r)?;
        let end = engine.terminate(r)?;
        if (end == 1) != (mb + 1 == count) {
            return Err(H264Error::Malformed(
                "end_of_slice_flag does not match the picture size".into(),
            ));
        }
    }
    // The final terminate bin read the rbsp_stop_one_bit; zeros follow,
    // then nothing but cabac_zero_words.
    r.align_expecting(0, "rbsp_alignment_zero")?;
    r.expect_only_zero_bytes()?;
    Ok(Some(coded))
}

fn crop(shape: &PictureShape, coded: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    shape
        .display_planes()
        .iter()
        .zip(shape.coded_planes())
        .zip(coded)
        .map(|((&(w, h), (cw, _)), plane)| {
            if w == cw {
                let mut plane = plane;
                plane.truncate((w * h) as usize);
                plane
            } else {
                (0..h as usize)
                    .flat_map(|y| plane[y * cw as usize..][..w as usize].to_vec())
                    .collect()
            }
        })
        .collect()
}

/// Reads past the rest of an I slice's header (after `pic_parameter_set_id`)
/// and returns `slice_qp_delta`.
fn skip_i_slice_header(
    r: &mut BitReader<'_>,
    nal: &[u8],
    sps: &SeqParameterSet,
    pps: &PicParameterSet,
) -> Result<i32, H264Error> {
    r.bits(sps.log2_max_frame_num() as u32)?; // frame_num
    if nal_type(nal) == NAL_IDR_SLICE {
        r.ue()?; // idr_pic_id
    }
    let bottom_present = pps.bottom_field_pic_order_in_frame_present_flag;
    match &sps.pic_order_cnt {
        PicOrderCntType::TypeZero {
            log2_max_pic_order_cnt_lsb_minus4,
        } => {
            r.bits(*log2_max_pic_order_cnt_lsb_minus4 as u32 + 4)?;
            if bottom_present {
                r.se()?;
            }
        }
        PicOrderCntType::TypeOne {
            delta_pic_order_always_zero_flag,
            ..
        } => {
            if !delta_pic_order_always_zero_flag {
                r.se()?;
                if bottom_present {
                    r.se()?;
                }
            }
        }
        PicOrderCntType::TypeTwo => {}
    }
    if pps.redundant_pic_cnt_present_flag {
        r.ue()?;
    }
    if nal_ref_idc(nal) != 0 {
        if nal_type(nal) == NAL_IDR_SLICE {
            r.bits(2)?;
        } else if r.bit()? == 1 {
            loop {
                match r.ue()? {
                    0 => break,
                    1 | 2 | 4 | 6 => {
                        r.ue()?;
                    }
                    3 => {
                        r.ue()?;
                        r.ue()?;
                    }
                    5 => {}
                    op => {
                        return Err(H264Error::Malformed(format!(
                            "memory_management_control_operation {op}"
                        )))
                    }
                }
            }
        }
    }
    let qp_delta = r.se()?;
    if pps.deblocking_filter_control_present_flag && r.ue()? != 1 {
        r.se()?;
        r.se()?;
    }
    Ok(qp_delta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(is_reference: bool, is_idr: bool) -> AccessUnitKind {
        AccessUnitKind {
            has_picture: true,
            is_reference,
            is_idr,
            is_intra: is_idr,
        }
    }

    #[test]
    fn eligibility_follows_references_and_idrs() {
        // IDR P b b P IDR P b P(last)
        let units = [
            kind(true, true),
            kind(true, false),
            kind(false, false),
            kind(false, false),
            kind(true, false), // last before an IDR
            kind(true, true),
            kind(true, false),
            kind(false, false),
            AccessUnitKind::default(), // no picture: never eligible
            kind(true, false),         // last picture of the stream
            AccessUnitKind::default(),
        ];
        assert_eq!(eligible_carriers(&units), vec![2, 3, 4, 7, 9]);
        // Every picture an IDR: all but... none is referenced after the next IDR.
        let all_idr = [kind(true, true); 4];
        assert_eq!(eligible_carriers(&all_idr), vec![0, 1, 2, 3]);
        assert!(eligible_carriers(&[]).is_empty());
    }

    #[test]
    fn nal_headers_classify_access_units() {
        // AUD, SEI, non-reference B slice (slice_type 6).
        let k = AccessUnitKind::new([0x09, 0x06, 0x01], Some(6));
        assert_eq!(k, kind(false, false));
        // SPS, PPS, IDR slice (slice_type 7).
        let k = AccessUnitKind::new([0x67, 0x68, 0x65], Some(7));
        assert_eq!(k, kind(true, true));
        // A non-IDR reference I picture: intra, not IDR.
        let k = AccessUnitKind::new([0x41], Some(2));
        assert!(k.is_intra && k.is_reference && !k.is_idr);
        // Parameter sets alone carry no picture, and are not intra.
        let k = AccessUnitKind::new([0x67, 0x68], Some(2));
        assert!(!k.has_picture && !k.is_intra);
    }

    #[test]
    fn groups_start_at_keyframes_that_are_not_candidates() {
        let b = kind(false, false);
        let p = kind(true, false);
        let i = AccessUnitKind {
            is_intra: true,
            ..kind(true, false)
        };
        let idr = kind(true, true);
        // IDR P b b | I(open GOP) P b | P(last before IDR) IDR b P(last)
        let units = [idr, p, b, b, i, p, b, p, idr, b, p];
        let c = carrier_candidates(&units);
        assert_eq!(c.units, vec![2, 3, 6, 7, 9, 10]);
        assert_eq!(c.groups, vec![0, 0, 1, 1, 2, 2]);
        // A candidate that is intra (an I_PCM carrier, or an IDR before an
        // IDR) starts no group: every IDR stream is one group.
        let all_idr = [idr; 4];
        let c = carrier_candidates(&all_idr);
        assert_eq!(c.units, vec![0, 1, 2, 3]);
        assert_eq!(c.groups, vec![0, 0, 0, 0]);
        // Turning candidates into intra pictures changes nothing.
        let mut carried = units;
        for &u in &[2usize, 7, 10] {
            carried[u].is_intra = true;
        }
        assert_eq!(carrier_candidates(&carried), carrier_candidates(&units));
    }
}
