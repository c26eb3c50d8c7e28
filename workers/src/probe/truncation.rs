//! Cheap structural checks that tell a cut-short upload from a merely odd one, before FFmpeg
//! gives a vaguer error (or, worse, happily plays the first half). Each reads a few bytes at
//! a few offsets, whatever the file's size.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use pipelines::refusal::RefusalCode;

use super::ProbeError;
use crate::engine::mp4box::{self, TopLevel};

/// Runs the check that fits the file's signature: ISO-BMFF (MP4/MOV) or Matroska/WebM.
pub fn check(file: &mut File, size_bytes: u64) -> std::io::Result<Result<(), ProbeError>> {
    let mp4 = check_mp4(file, size_bytes)?;
    if mp4.is_err() {
        return Ok(mp4);
    }
    check_matroska(file, size_bytes)
}

/// Refuses MP4/MOV files whose box structure shows they were cut short: a box running past
/// the end of the file, or no `moov` index at all.
fn check_mp4(file: &mut File, size_bytes: u64) -> std::io::Result<Result<(), ProbeError>> {
    Ok(match mp4box::walk_top_level(file, size_bytes)? {
        TopLevel::NotIsoBmff | TopLevel::Complete { has_moov: true } => Ok(()),
        TopLevel::Complete { has_moov: false } => Err(ProbeError::refused(
            RefusalCode::TruncatedFile,
            "the MP4 index (`moov` box) is missing; the upload was probably cut short",
        )),
        TopLevel::Overrun { kind, offset, claimed, file_size } => Err(ProbeError::refused(
            RefusalCode::TruncatedFile,
            format!("the `{kind}` box at byte {offset} needs {claimed} bytes but the file ends at {file_size}"),
        )),
    })
}

const EBML_HEADER_ID: u32 = 0x1A45_DFA3;
const SEGMENT_ID: u32 = 0x1853_8067;

/// Refuses Matroska/WebM files whose Segment declares more bytes than the file holds. A
/// browser recording writes the "unknown size" marker instead, which passes.
fn check_matroska(file: &mut File, size_bytes: u64) -> std::io::Result<Result<(), ProbeError>> {
    let mut head = [0u8; 64];
    file.seek(SeekFrom::Start(0))?;
    let available = usize::try_from(size_bytes.min(64)).unwrap_or(64);
    file.read_exact(&mut head[..available])?;
    let head = &head[..available];
    let Some((EBML_HEADER_ID, header_len)) = element_id(head) else {
        return Ok(Ok(()));
    };
    let Some((Some(ebml_size), size_len)) = vint(&head[header_len..]) else {
        return Ok(Ok(()));
    };
    let segment_at = header_len + size_len + usize::try_from(ebml_size).unwrap_or(usize::MAX);
    let Some(rest) = head.get(segment_at..) else {
        return Ok(Ok(()));
    };
    let Some((SEGMENT_ID, id_len)) = element_id(rest) else {
        return Ok(Ok(()));
    };
    let Some((segment_size, size_len)) = vint(&rest[id_len..]) else {
        return Ok(Ok(()));
    };
    let Some(segment_size) = segment_size else {
        return Ok(Ok(()));
    };
    let declared_end = (segment_at + id_len + size_len) as u64 + segment_size;
    if declared_end > size_bytes {
        return Ok(Err(ProbeError::refused(
            RefusalCode::TruncatedFile,
            format!("the Matroska segment needs {declared_end} bytes but the file ends at {size_bytes}"),
        )));
    }
    Ok(Ok(()))
}

/// An EBML element ID (its marker bits kept, as IDs are written) and its length in bytes.
fn element_id(data: &[u8]) -> Option<(u32, usize)> {
    let first = *data.first()?;
    let length = first.leading_zeros() as usize + 1;
    if length > 4 {
        return None;
    }
    let bytes = data.get(..length)?;
    Some((bytes.iter().fold(0u32, |id, byte| (id << 8) | u32::from(*byte)), length))
}

/// An EBML variable-length size: `None` for the reserved "unknown size" value.
fn vint(data: &[u8]) -> Option<(Option<u64>, usize)> {
    let first = *data.first()?;
    let length = first.leading_zeros() as usize + 1;
    if length > 8 {
        return None;
    }
    let bytes = data.get(..length)?;
    let mask = if length == 8 { 0 } else { 0xffu8 >> length };
    let value = bytes[1..].iter().fold(u64::from(first & mask), |value, byte| (value << 8) | u64::from(*byte));
    let all_ones = (1u64 << (7 * length)) - 1;
    Some(((value != all_ones).then_some(value), length))
}

#[cfg(test)]
mod tests {
    use super::vint;

    #[test]
    fn ebml_sizes_decode_and_unknown_size_is_recognised() {
        assert_eq!(vint(&[0x81]), Some((Some(1), 1)));
        assert_eq!(vint(&[0x40, 0x02]), Some((Some(2), 2)));
        assert_eq!(vint(&[0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), Some((None, 8)));
        assert_eq!(vint(&[0xff]), Some((None, 1)));
        assert_eq!(vint(&[0x00]), None);
    }
}
