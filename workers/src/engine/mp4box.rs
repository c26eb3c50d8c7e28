//! A small ISO-BMFF (MP4) box reader. The package figures (timescale, segment start times and
//! durations, codecs strings) are read back from the bytes the muxer wrote, so the manifests
//! describe what is really on disk rather than what we asked FFmpeg for.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;

/// One box: its four-character type, the whole box's byte range and its body's byte range,
/// both relative to the slice it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mp4Box {
    pub kind: [u8; 4],
    pub whole: Range<usize>,
    pub body: Range<usize>,
}

/// Splits `data` into its sequence of boxes; a box that claims more bytes than remain is an
/// error, because it means the data was cut short.
pub fn boxes(data: &[u8]) -> Result<Vec<Mp4Box>, String> {
    let mut found = Vec::new();
    let mut offset = 0usize;
    while offset < data.len() {
        let rest = &data[offset..];
        if rest.len() < 8 {
            return Err(format!("{} stray bytes at offset {offset}", rest.len()));
        }
        let size32 = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let kind = [rest[4], rest[5], rest[6], rest[7]];
        let (header_len, size) = match size32 {
            0 => (8usize, rest.len() as u64),
            1 => {
                if rest.len() < 16 {
                    return Err("truncated 64-bit box size".to_owned());
                }
                (16, read_u64(rest, 8))
            }
            other => (8, u64::from(other)),
        };
        let size = usize::try_from(size).map_err(|_| "box size overflows memory".to_owned())?;
        if size < header_len || size > rest.len() {
            return Err(format!(
                "box {} at offset {offset} claims {size} bytes, {} remain",
                String::from_utf8_lossy(&kind),
                rest.len()
            ));
        }
        found.push(Mp4Box { kind, whole: offset..offset + size, body: offset + header_len..offset + size });
        offset += size;
    }
    Ok(found)
}

/// The first child box of the given type inside `body`.
pub fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data).ok()?.into_iter().find(|b| &b.kind == kind).map(|b| &data[b.body])
}

/// Follows a path of box types from `data` down, e.g. `moov/trak/mdia/mdhd`.
pub fn path<'a>(data: &'a [u8], kinds: &[&[u8; 4]]) -> Option<&'a [u8]> {
    kinds.iter().try_fold(data, |current, kind| child(current, kind))
}

pub fn read_u32(data: &[u8], at: usize) -> u32 {
    data.get(at..at + 4).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

pub fn read_u64(data: &[u8], at: usize) -> u64 {
    data.get(at..at + 8).map_or(0, |b| u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
}

/// What a walk over a file's top-level boxes found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopLevel {
    /// Does not start like an ISO-BMFF file.
    NotIsoBmff,
    /// Every box ends inside the file; `has_moov` says whether the index is there.
    Complete { has_moov: bool },
    /// A box claims more bytes than the file holds: the file was cut short.
    Overrun { kind: String, offset: u64, claimed: u64, file_size: u64 },
}

/// Walks the top-level boxes of a file by seeking over them, reading 16 bytes per box, so it
/// costs a few reads whatever the file's size.
pub fn walk_top_level(file: &mut File, file_size: u64) -> std::io::Result<TopLevel> {
    const KNOWN: [&[u8; 4]; 8] = [b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"styp", b"pnot"];
    let mut offset = 0u64;
    let (mut has_moov, mut has_mdat) = (false, false);
    let mut first = true;
    while offset < file_size {
        let mut header = [0u8; 16];
        file.seek(SeekFrom::Start(offset))?;
        let available = usize::try_from((file_size - offset).min(16)).unwrap_or(16);
        file.read_exact(&mut header[..available])?;
        let kind: [u8; 4] = [header[4], header[5], header[6], header[7]];
        if first && (available < 8 || !KNOWN.contains(&&kind)) {
            return Ok(TopLevel::NotIsoBmff);
        }
        first = false;
        let size = match u64::from(read_u32(&header, 0)) {
            _ if available < 8 => 0,
            0 => file_size - offset,
            1 if available >= 16 => read_u64(&header, 8),
            other => other,
        };
        if size < 8 || offset.saturating_add(size) > file_size {
            // Junk after a complete index and media data (some tools pad or append a
            // partial `free` box) does not lose anything; anything else means a cut.
            let essential = [b"moov", b"mdat", b"moof"].contains(&&kind);
            if has_moov && has_mdat && !essential {
                break;
            }
            return Ok(TopLevel::Overrun {
                kind: String::from_utf8_lossy(&kind).into_owned(),
                offset,
                claimed: size,
                file_size,
            });
        }
        has_moov |= &kind == b"moov";
        has_mdat |= &kind == b"mdat";
        offset += size;
    }
    Ok(TopLevel::Complete { has_moov })
}
