//! Splits a finished fragmented MP4 into `init.mp4` and numbered media segments, and reads the
//! package figures back from the bytes: track timescale (`mdhd`), each fragment's decode time
//! (`tfdt`) and duration (`trun` sample durations, or the `tfhd`/`trex` defaults).

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use pipelines::package::SegmentInfo;

use super::EngineError;
use super::mp4box::{boxes, child, path, read_u32, read_u64};

pub const SEGMENT_TEMPLATE: &str = "seg_$Number%05d$.m4s";
pub const START_NUMBER: u64 = 1;

pub fn segment_file_name(number: u64) -> String {
    format!("seg_{number:05}.m4s")
}

/// What the split found for one rendition.
#[derive(Debug, Clone)]
pub struct SplitRendition {
    pub timescale: u32,
    pub codecs: String,
    pub segments: Vec<SegmentInfo>,
    /// True when every segment's first sample is a sync sample (keyframe).
    pub all_segments_start_with_sync: bool,
}

fn output_error(message: String) -> EngineError {
    EngineError::Output(message)
}

fn io_error(context: String) -> impl FnOnce(std::io::Error) -> EngineError {
    move |source| EngineError::Io { context, source }
}

/// Top-level box headers of a file: (type, offset, size), read by seeking over the boxes.
fn top_level_boxes(file: &mut File, file_size: u64) -> std::io::Result<Vec<([u8; 4], u64, u64)>> {
    let mut found = Vec::new();
    let mut offset = 0u64;
    while offset + 8 <= file_size {
        let mut header = [0u8; 16];
        file.seek(SeekFrom::Start(offset))?;
        let available = usize::try_from((file_size - offset).min(16)).unwrap_or(16);
        file.read_exact(&mut header[..available])?;
        let kind = [header[4], header[5], header[6], header[7]];
        let size = match read_u32(&header, 0) {
            0 => file_size - offset,
            1 => read_u64(&header, 8),
            other => u64::from(other),
        };
        if size < 8 || offset + size > file_size {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "box overruns the file"));
        }
        found.push((kind, offset, size));
        offset += size;
    }
    Ok(found)
}

fn read_range(file: &mut File, offset: u64, size: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; usize::try_from(size).map_err(std::io::Error::other)?];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut bytes)?;
    Ok(bytes)
}

fn copy_range(file: &mut File, offset: u64, size: u64, destination: &Path) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    let mut writer = BufWriter::new(File::create(destination)?);
    let copied = std::io::copy(&mut (&mut *file).take(size), &mut writer)?;
    if copied != size {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "short copy"));
    }
    writer.flush()
}

/// Splits `{dir}/fragmented.mp4` into `init.mp4` + `seg_NNNNN.m4s` and deletes it.
/// `name` is the rendition folder name used in the segment URIs.
pub fn split(fragmented: &Path, name: &str) -> Result<SplitRendition, EngineError> {
    let dir = fragmented.parent().unwrap_or(Path::new("."));
    let context = format!("splitting {}", fragmented.display());
    let mut file = File::open(fragmented).map_err(io_error(context.clone()))?;
    let file_size = file.metadata().map_err(io_error(context.clone()))?.len();
    let top = top_level_boxes(&mut file, file_size).map_err(io_error(context.clone()))?;
    let first_moof = top.iter().position(|(kind, _, _)| kind == b"moof");
    let init_end = first_moof.map_or(file_size, |index| top[index].1);
    let init = read_range(&mut file, 0, init_end).map_err(io_error(context.clone()))?;
    std::fs::write(dir.join("init.mp4"), &init).map_err(io_error(context.clone()))?;
    let track = InitInfo::parse(&init).map_err(|message| output_error(format!("{context}: {message}")))?;

    let mut segments = Vec::new();
    let mut all_sync = true;
    let mut index = first_moof.unwrap_or(top.len());
    while index < top.len() {
        let (kind, moof_offset, moof_size) = top[index];
        if &kind != b"moof" {
            index += 1;
            continue;
        }
        // A segment is the moof and every following box up to the next moof (its mdat).
        let mut end = moof_offset + moof_size;
        let mut next = index + 1;
        while next < top.len() && &top[next].0 != b"moof" {
            if &top[next].0 == b"mdat" {
                end = top[next].1 + top[next].2;
            }
            next += 1;
        }
        let moof = read_range(&mut file, moof_offset, moof_size).map_err(io_error(context.clone()))?;
        let fragment = FragmentInfo::parse(&moof, &track)
            .map_err(|message| output_error(format!("{context}: fragment at {moof_offset}: {message}")))?;
        all_sync &= fragment.first_sample_is_sync;
        let number = START_NUMBER + segments.len() as u64;
        let file_name = segment_file_name(number);
        copy_range(&mut file, moof_offset, end - moof_offset, &dir.join(&file_name))
            .map_err(io_error(context.clone()))?;
        segments.push(SegmentInfo {
            uri: format!("{name}/{file_name}"),
            start_ticks: fragment.base_decode_time,
            duration_ticks: fragment.duration_ticks,
            size_bytes: end - moof_offset,
        });
        index = next;
    }
    drop(file);
    std::fs::remove_file(fragmented).map_err(io_error(context))?;
    Ok(SplitRendition {
        timescale: track.timescale,
        codecs: track.codecs,
        segments,
        all_segments_start_with_sync: all_sync,
    })
}

/// What the init segment says about its single track.
#[derive(Debug, Clone)]
pub struct InitInfo {
    pub timescale: u32,
    pub default_sample_duration: u32,
    pub default_sample_flags: u32,
    pub codecs: String,
}

impl InitInfo {
    pub fn parse(init: &[u8]) -> Result<Self, String> {
        let mdhd = path(init, &[b"moov", b"trak", b"mdia", b"mdhd"]).ok_or("no moov/trak/mdia/mdhd")?;
        let timescale = if mdhd.first() == Some(&1) { read_u32(mdhd, 20) } else { read_u32(mdhd, 12) };
        if timescale == 0 {
            return Err("zero timescale".to_owned());
        }
        let trex = path(init, &[b"moov", b"mvex", b"trex"]);
        let stsd = path(init, &[b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"]).ok_or("no stsd")?;
        Ok(Self {
            timescale,
            default_sample_duration: trex.map_or(0, |trex| read_u32(trex, 12)),
            default_sample_flags: trex.map_or(0, |trex| read_u32(trex, 20)),
            codecs: codecs_from_stsd(stsd)?,
        })
    }
}

/// RFC 6381 codecs string of the first sample entry: `avc1.PPCCLL` from the avcC record or
/// `mp4a.40.N` from the esds AudioSpecificConfig.
fn codecs_from_stsd(stsd: &[u8]) -> Result<String, String> {
    let entries = boxes(stsd.get(8..).ok_or("short stsd")?)?;
    let entry = entries.first().ok_or("empty stsd")?;
    let body = &stsd[8..][entry.body.clone()];
    match &entry.kind {
        b"avc1" | b"avc3" => {
            let avcc = child(body.get(78..).ok_or("short avc1 entry")?, b"avcC").ok_or("no avcC")?;
            let bytes = avcc.get(1..4).ok_or("short avcC")?;
            Ok(format!("{}.{:02x}{:02x}{:02x}", String::from_utf8_lossy(&entry.kind), bytes[0], bytes[1], bytes[2]))
        }
        b"mp4a" => {
            let esds = child(body.get(28..).ok_or("short mp4a entry")?, b"esds").ok_or("no esds")?;
            let object_type = audio_object_type(esds.get(4..).ok_or("short esds")?).unwrap_or(2);
            Ok(format!("mp4a.40.{object_type}"))
        }
        other => Err(format!("unexpected sample entry {}", String::from_utf8_lossy(other))),
    }
}

/// Walks the MPEG-4 descriptors of an esds box to the DecoderSpecificInfo and returns the
/// audio object type in its first five bits (2 for AAC-LC).
fn audio_object_type(mut data: &[u8]) -> Option<u8> {
    loop {
        let tag = *data.first()?;
        let mut length = 0usize;
        let mut header = 1;
        for byte in data.iter().skip(1).take(4) {
            header += 1;
            length = (length << 7) | usize::from(byte & 0x7f);
            if byte & 0x80 == 0 {
                break;
            }
        }
        let body = data.get(header..header + length)?;
        match tag {
            0x03 => {
                let flags = *body.get(2)?;
                let mut skip = 3;
                if flags & 0x80 != 0 {
                    skip += 2;
                }
                if flags & 0x40 != 0 {
                    skip += 1 + usize::from(*body.get(skip)?);
                }
                if flags & 0x20 != 0 {
                    skip += 2;
                }
                data = body.get(skip..)?;
            }
            0x04 => data = body.get(13..)?,
            0x05 => return Some(body.first()? >> 3),
            _ => return None,
        }
    }
}

/// One fragment's decode time and duration.
#[derive(Debug, Clone)]
pub struct FragmentInfo {
    pub base_decode_time: u64,
    pub duration_ticks: u64,
    pub sample_count: u64,
    pub first_sample_is_sync: bool,
}

impl FragmentInfo {
    pub fn parse(moof_box: &[u8], track: &InitInfo) -> Result<Self, String> {
        let moof = child(moof_box, b"moof").ok_or("no moof")?;
        let traf = child(moof, b"traf").ok_or("no traf")?;
        let tfhd = child(traf, b"tfhd").ok_or("no tfhd")?;
        let tfdt = child(traf, b"tfdt").ok_or("no tfdt")?;
        let base_decode_time = if tfdt.first() == Some(&1) { read_u64(tfdt, 4) } else { u64::from(read_u32(tfdt, 4)) };
        let tfhd_flags = read_u32(tfhd, 0) & 0x00ff_ffff;
        let mut at = 8; // version/flags and track_ID
        if tfhd_flags & 0x1 != 0 {
            at += 8;
        }
        if tfhd_flags & 0x2 != 0 {
            at += 4;
        }
        let mut default_duration = track.default_sample_duration;
        let mut default_flags = track.default_sample_flags;
        if tfhd_flags & 0x8 != 0 {
            default_duration = read_u32(tfhd, at);
            at += 4;
        }
        if tfhd_flags & 0x10 != 0 {
            at += 4;
        }
        if tfhd_flags & 0x20 != 0 {
            default_flags = read_u32(tfhd, at);
        }

        let mut duration_ticks = 0u64;
        let mut sample_count = 0u64;
        let mut first_flags: Option<u32> = None;
        for trun in boxes(traf)?.into_iter().filter(|b| &b.kind == b"trun") {
            let trun = &traf[trun.body];
            let flags = read_u32(trun, 0) & 0x00ff_ffff;
            let count = read_u32(trun, 4);
            let mut at = 8;
            if flags & 0x1 != 0 {
                at += 4;
            }
            let first_sample_flags = (flags & 0x4 != 0).then(|| read_u32(trun, at));
            if flags & 0x4 != 0 {
                at += 4;
            }
            let per_sample = [0x100, 0x200, 0x400, 0x800].iter().filter(|bit| flags & **bit != 0).count() * 4;
            for sample in 0..count as usize {
                let entry = at + sample * per_sample;
                if entry + per_sample > trun.len() {
                    return Err("trun shorter than its sample count".to_owned());
                }
                let duration = if flags & 0x100 != 0 { read_u32(trun, entry) } else { default_duration };
                duration_ticks += u64::from(duration);
                if first_flags.is_none() {
                    let mut offset = entry;
                    if flags & 0x100 != 0 {
                        offset += 4;
                    }
                    if flags & 0x200 != 0 {
                        offset += 4;
                    }
                    let sample_flags = if flags & 0x400 != 0 { read_u32(trun, offset) } else { default_flags };
                    first_flags = Some(first_sample_flags.unwrap_or(sample_flags));
                }
            }
            sample_count += u64::from(count);
        }
        // Bit 16 of the sample flags is `sample_is_non_sync_sample`.
        let first_sample_is_sync = first_flags.is_some_and(|flags| flags & 0x0001_0000 == 0);
        Ok(Self { base_decode_time, duration_ticks, sample_count, first_sample_is_sync })
    }
}

#[cfg(test)]
mod tests {
    use super::{FragmentInfo, InitInfo, audio_object_type};

    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut bytes = u32::try_from(body.len() + 8).map_or_else(|_| vec![], |size| size.to_be_bytes().to_vec());
        bytes.extend_from_slice(kind);
        bytes.extend_from_slice(body);
        bytes
    }

    fn track() -> InitInfo {
        InitInfo { timescale: 48000, default_sample_duration: 1024, default_sample_flags: 0, codecs: String::new() }
    }

    #[test]
    fn a_fragment_with_default_durations_sums_them_and_reads_the_64_bit_tfdt() {
        // tfhd: flags 0x08 (default duration 1024) + 0x20 (default flags: non-sync).
        let mut tfhd = vec![0, 0, 0, 0x28, 0, 0, 0, 1];
        tfhd.extend_from_slice(&1024u32.to_be_bytes());
        tfhd.extend_from_slice(&0x0001_0000u32.to_be_bytes());
        let mut tfdt = vec![1, 0, 0, 0];
        tfdt.extend_from_slice(&5_000_000_000u64.to_be_bytes());
        // trun: flags 0x004 (first sample flags: sync) + 0x200 (sizes), 3 samples.
        let mut trun = vec![0, 0, 0x02, 0x04];
        trun.extend_from_slice(&3u32.to_be_bytes());
        trun.extend_from_slice(&0u32.to_be_bytes());
        for size in [10u32, 20, 30] {
            trun.extend_from_slice(&size.to_be_bytes());
        }
        let traf = [mp4_box(b"tfhd", &tfhd), mp4_box(b"tfdt", &tfdt), mp4_box(b"trun", &trun)].concat();
        let moof = mp4_box(b"moof", &mp4_box(b"traf", &traf));
        let fragment = FragmentInfo::parse(&moof, &track()).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(fragment.base_decode_time, 5_000_000_000);
        assert_eq!(fragment.duration_ticks, 3 * 1024);
        assert_eq!(fragment.sample_count, 3);
        assert!(fragment.first_sample_is_sync);
    }

    #[test]
    fn a_trun_shorter_than_its_sample_count_is_an_error() {
        let tfhd = vec![0, 0, 0, 0, 0, 0, 0, 1];
        let tfdt = vec![0, 0, 0, 0, 0, 0, 0, 0];
        let mut trun = vec![0, 0, 0x01, 0x00];
        trun.extend_from_slice(&1000u32.to_be_bytes());
        let traf = [mp4_box(b"tfhd", &tfhd), mp4_box(b"tfdt", &tfdt), mp4_box(b"trun", &trun)].concat();
        let moof = mp4_box(b"moof", &mp4_box(b"traf", &traf));
        assert!(FragmentInfo::parse(&moof, &track()).is_err());
    }

    #[test]
    fn the_aac_object_type_is_read_through_the_esds_descriptors() {
        // ES_Descriptor(ES_ID, flags 0) → DecoderConfig(0x40 …) → DecoderSpecificInfo(0x12 0x10).
        let specific = [0x05, 0x02, 0x12, 0x10];
        let mut config = vec![0x04, 13 + 4, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        config.extend_from_slice(&specific);
        let mut es = vec![0x03, u8::try_from(3 + config.len()).unwrap_or(0), 0, 1, 0];
        es.extend_from_slice(&config);
        assert_eq!(audio_object_type(&es), Some(2));
    }
}
