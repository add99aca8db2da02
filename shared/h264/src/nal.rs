//! NAL units: splitting container samples and Annex B byte streams into
//! them, and joining them back.
//!
//! MP4 and Matroska store an access unit as NAL units each preceded by its
//! length (1, 2 or 4 bytes, from the `avcC` record); MPEG-TS and raw `.264`
//! files use Annex B start codes instead.

use crate::error::H264Error;

/// `nal_unit_type` of a coded slice of a non-IDR picture.
pub const NAL_SLICE: u8 = 1;
/// `nal_unit_type` of a coded slice of an IDR picture.
pub const NAL_IDR_SLICE: u8 = 5;
/// `nal_unit_type` of a sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// `nal_unit_type` of a picture parameter set.
pub const NAL_PPS: u8 = 8;
/// `nal_unit_type` of an access unit delimiter.
pub const NAL_AUD: u8 = 9;

/// `nal_unit_type` of a NAL unit (from its first byte).
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// `nal_ref_idc` of a NAL unit.
pub fn nal_ref_idc(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| (b >> 5) & 3)
}

/// Whether a NAL unit is a coded slice of the primary picture kinds this
/// crate understands (types 1 and 5).
pub fn is_slice(nal: &[u8]) -> bool {
    matches!(nal_type(nal), NAL_SLICE | NAL_IDR_SLICE)
}

/// Whether a NAL unit carries picture data (VCL types 1–5) or belongs to
/// the scalable/multiview extensions (14, 20, 21) this crate refuses.
pub fn is_vcl_or_extension(nal: &[u8]) -> bool {
    matches!(nal_type(nal), 1..=5 | 14 | 20 | 21)
}

/// `slice_type` (0..=9) of a coded slice NAL unit, read from the start of
/// its header; `None` if the NAL unit is not a slice or too short.
pub fn slice_type(nal: &[u8]) -> Option<u32> {
    if !is_slice(nal) {
        return None;
    }
    let head = crate::bits::unescape(&nal[1..nal.len().min(16)]);
    let mut r = crate::bits::BitReader::new(&head);
    r.ue().ok()?; // first_mb_in_slice
    r.ue().ok().filter(|&t| t <= 9)
}

/// Splits a length-prefixed sample (MP4/Matroska) into its NAL units.
pub fn split_length_prefixed(sample: &[u8], length_size: usize) -> Result<Vec<&[u8]>, H264Error> {
    if !(1..=4).contains(&length_size) || length_size == 3 {
        return Err(H264Error::Malformed(format!(
            "NAL length fields of {length_size} bytes are not allowed"
        )));
    }
    let mut nals = Vec::new();
    let mut rest = sample;
    while !rest.is_empty() {
        if rest.len() < length_size {
            return Err(H264Error::Malformed(
                "a sample ends inside a NAL length field".into(),
            ));
        }
        let len = rest[..length_size]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        rest = &rest[length_size..];
        if len > rest.len() {
            return Err(H264Error::Malformed(format!(
                "a NAL unit claims {len} bytes but the sample has {} left",
                rest.len()
            )));
        }
        if len > 0 {
            nals.push(&rest[..len]);
        }
        rest = &rest[len..];
    }
    Ok(nals)
}

/// Joins NAL units into a length-prefixed sample.
pub fn join_length_prefixed<T: AsRef<[u8]>>(nals: &[T], length_size: usize) -> Result<Vec<u8>, H264Error> {
    let total: usize = nals.iter().map(|n| n.as_ref().len() + length_size).sum();
    let mut out = Vec::with_capacity(total);
    let limit = if length_size >= 4 {
        u32::MAX as usize
    } else {
        (1usize << (8 * length_size)) - 1
    };
    for nal in nals {
        let nal = nal.as_ref();
        if nal.len() > limit {
            return Err(H264Error::Unsupported(format!(
                "a {}-byte NAL unit does not fit the stream's {length_size}-byte length fields",
                nal.len()
            )));
        }
        out.extend_from_slice(&(nal.len() as u32).to_be_bytes()[4 - length_size..]);
        out.extend_from_slice(nal);
    }
    Ok(out)
}

/// Splits an Annex B byte stream into NAL units (start codes and the
/// trailing zero bytes before them removed).
pub fn split_annex_b(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 2 < stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::with_capacity(starts.len());
    for (k, &s) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(stream.len(), |&n| n - 3);
        while end > s && stream[end - 1] == 0 {
            end -= 1;
        }
        if end > s {
            nals.push(&stream[s..end]);
        }
    }
    nals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefixed_round_trip() {
        let nals: Vec<Vec<u8>> = vec![vec![0x09, 0xf0], vec![0x65, 1, 2, 3], vec![0x06; 300]];
        for size in [1, 2, 4] {
            if size == 1 {
                assert!(join_length_prefixed(&nals, size).is_err());
                continue;
            }
            let joined = join_length_prefixed(&nals, size).unwrap();
            let split = split_length_prefixed(&joined, size).unwrap();
            assert_eq!(split, nals.iter().map(|n| n.as_slice()).collect::<Vec<_>>());
        }
        assert!(split_length_prefixed(&[0, 0, 0, 9, 1], 4).is_err());
        assert!(split_length_prefixed(&[0, 0], 4).is_err());
    }

    #[test]
    fn annex_b_split() {
        let stream = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 4, 5,
        ];
        let nals = split_annex_b(&stream);
        assert_eq!(nals, vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 5][..]]);
    }
}
