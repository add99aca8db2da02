//! Fixtures made with the real ffmpeg (and mkvmerge), and the checks every
//! fixture goes through.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{BufWriter, Cursor, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;
use sha2::{Digest, Sha256};
use vidstega_container::{
    plan_splice, plan_splice_with_crc, read_video_track, ContainerKind, NewSample, Splice, VideoTrack,
};

/// Runs a tool and returns its stdout; panics with the command line and
/// stderr if it is missing or fails (tests must never skip silently).
pub fn run(program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!(
            "cannot run `{program}` ({e}); these tests need ffmpeg/ffprobe (FFmpeg >= 5.1) and mkvtoolnix \
             (apt-get install ffmpeg mkvtoolnix)"
        )
    });
    if !out.status.success() {
        panic!(
            "`{program} {}` failed with {}:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.stdout
}

pub fn ffmpeg(args: &[&str]) {
    let mut all = vec!["-v", "error", "-nostdin", "-y"];
    all.extend_from_slice(args);
    run("ffmpeg", &all);
}

pub fn ffprobe_json(args: &[&str]) -> Value {
    let mut all = vec!["-v", "error", "-of", "json"];
    all.extend_from_slice(args);
    serde_json::from_slice(&run("ffprobe", &all)).expect("ffprobe JSON")
}

pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn fixture_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("container-fixtures");
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// One lazily made fixture per name.
type Cells = Mutex<HashMap<&'static str, Arc<OnceLock<PathBuf>>>>;

/// A fixture file, made once per test run.
pub fn fixture(name: &'static str) -> PathBuf {
    static CELLS: OnceLock<Cells> = OnceLock::new();
    let cell = CELLS
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(name)
        .or_default()
        .clone();
    cell.get_or_init(|| {
        let path = fixture_dir().join(name);
        let tmp = fixture_dir().join(format!("tmp-{}-{name}", std::process::id()));
        make_fixture(name, &tmp);
        fs::rename(&tmp, &path).unwrap();
        path
    })
    .clone()
}

const VIDEO: &[&str] = &["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"];
const TONE: &[&str] = &["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"];
const TONE2: &[&str] = &["-f", "lavfi", "-i", "sine=frequency=880:sample_rate=44100"];
/// Access unit delimiters give every sample a NAL the tests can drop or swap
/// while keeping it a valid H.264 access unit.
const X264: &[&str] = &[
    "-c:v",
    "libx264",
    "-bf",
    "3",
    "-g",
    "25",
    "-x264-params",
    "aud=1",
    "-pix_fmt",
    "yuv420p",
];

fn ff(parts: &[&[&str]], out: &Path, format: &str) {
    let mut args: Vec<&str> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    args.extend(["-f", format, out.to_str().unwrap()]);
    ffmpeg(&args);
}

fn make_fixture(name: &str, out: &Path) {
    let dir = fixture_dir();
    let t4: &[&str] = &["-t", "4"];
    let aac: &[&str] = &["-c:a", "aac", "-b:a", "64k"];
    match name {
        "moov-at-end.mp4" => ff(&[VIDEO, TONE, t4, X264, aac], out, "mp4"),
        "faststart.mp4" => ff(
            &[VIDEO, TONE, t4, X264, aac, &["-movflags", "+faststart"]],
            out,
            "mp4",
        ),
        "quicktime.mov" => ff(&[VIDEO, TONE, t4, X264, aac], out, "mov"),
        "rotated-two-audio-chapters.mp4" => {
            let meta = dir.join("chapters.txt");
            fs::write(
                &meta,
                ";FFMETADATA1\ntitle=Fixture\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=2000\ntitle=One\n\
                 [CHAPTER]\nTIMEBASE=1/1000\nSTART=2000\nEND=4000\ntitle=Two\n",
            )
            .unwrap();
            let meta_in: &[&str] = &["-i", meta.to_str().unwrap()];
            let maps: &[&str] = &[
                "-map",
                "0:v",
                "-map",
                "1:a",
                "-map",
                "2:a",
                "-map_metadata",
                "3",
                "-map_chapters",
                "3",
                "-metadata:s:a:1",
                "language=fra",
            ];
            ff(&[VIDEO, TONE, TONE2, meta_in, t4, maps, X264, aac], out, "mp4");
            rotate_first_track(out);
        }
        "two-mdat.mp4" => split_mdat(&fixture("moov-at-end.mp4"), out),
        "stz2.mp4" => stsz_to_stz2(&fixture("moov-at-end.mp4"), out),
        "raw-constant-size.mov" => ff(
            &[
                &["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25"],
                TONE,
                &[
                    "-t",
                    "2",
                    "-c:v",
                    "rawvideo",
                    "-pix_fmt",
                    "uyvy422",
                    "-c:a",
                    "pcm_s16le",
                ],
            ],
            out,
            "mov",
        ),
        "hevc.mp4" => ff(
            &[
                VIDEO,
                TONE,
                &[
                    "-t",
                    "2",
                    "-c:v",
                    "libx265",
                    "-x265-params",
                    "log-level=error",
                    "-tag:v",
                    "hvc1",
                ],
                aac,
            ],
            out,
            "mp4",
        ),
        "fragmented.mp4" => ff(
            &[VIDEO, t4, X264, &["-movflags", "+frag_keyframe+empty_moov"]],
            out,
            "mp4",
        ),
        "ffmpeg.mkv" => {
            let srt = dir.join("subs.srt");
            fs::write(
                &srt,
                "1\n00:00:00,500 --> 00:00:01,500\nHello\n\n2\n00:00:02,000 --> 00:00:03,000\nWorld\n\n",
            )
            .unwrap();
            let subs: &[&str] = &["-i", srt.to_str().unwrap()];
            let maps: &[&str] = &[
                "-map", "0:v", "-map", "1:a", "-map", "2:s", "-c:a", "libopus", "-c:s", "srt",
            ];
            ff(&[VIDEO, TONE, subs, t4, maps, X264], out, "matroska")
        }
        "cues-front.mkv" => ff(
            &[
                VIDEO,
                TONE,
                t4,
                X264,
                &["-c:a", "libopus", "-reserve_index_space", "400"],
            ],
            out,
            "matroska",
        ),
        "live.mkv" => {
            let mut args: Vec<&str> = [
                VIDEO,
                TONE,
                t4,
                X264,
                &["-c:a", "libopus", "-f", "matroska", "pipe:1"],
            ]
            .iter()
            .flat_map(|p| p.iter().copied())
            .collect();
            args.splice(0..0, ["-v", "error", "-nostdin"]);
            fs::write(out, run("ffmpeg", &args)).unwrap();
        }
        "unknown-size-clusters.mkv" => unknown_cluster_sizes(&fixture("ffmpeg.mkv"), out),
        "mkvmerge.mkv" => mkvmerge(&[
            "-o",
            out.to_str().unwrap(),
            fixture("rotated-two-audio-chapters.mp4").to_str().unwrap(),
        ]),
        "mkvmerge-blockgroups.mkv" => mkvmerge(&[
            "--engage",
            "no_simpleblocks",
            "-o",
            out.to_str().unwrap(),
            fixture("moov-at-end.mp4").to_str().unwrap(),
        ]),
        "mkvmerge-zlib.mkv" => mkvmerge(&[
            "-o",
            out.to_str().unwrap(),
            "--compression",
            "0:zlib",
            fixture("moov-at-end.mp4").to_str().unwrap(),
        ]),
        "vp9.webm" => ff(
            &[
                VIDEO,
                TONE,
                &[
                    "-t",
                    "2",
                    "-c:v",
                    "libvpx-vp9",
                    "-deadline",
                    "realtime",
                    "-cpu-used",
                    "8",
                    "-b:v",
                    "300k",
                ],
                &["-c:a", "libopus"],
            ],
            out,
            "webm",
        ),
        "large.mp4" | "large.mkv" => ff(
            &[
                &[
                    "-f",
                    "lavfi",
                    "-i",
                    "testsrc2=size=1280x720:rate=25,noise=alls=20:allf=t",
                ],
                TONE,
                &[
                    "-t",
                    "2.5",
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",
                    "-qp",
                    "0",
                    "-x264-params",
                    "aud=1",
                ],
                if name.ends_with("mp4") {
                    aac
                } else {
                    &["-c:a", "libopus"]
                },
            ],
            out,
            if name.ends_with("mp4") { "mp4" } else { "matroska" },
        ),
        other => panic!("no fixture {other}"),
    }
}

fn mkvmerge(args: &[&str]) {
    let out = Command::new("mkvmerge").arg("-q").args(args).output().unwrap_or_else(|e| {
        panic!("cannot run mkvmerge ({e}); install mkvtoolnix (apt-get install mkvtoolnix) to run these tests")
    });
    // mkvmerge exits 1 for warnings, 2 for errors.
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "mkvmerge {args:?} failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

// ---------- MP4 byte surgery for crafted fixtures ----------

/// (type, start, header length, end) of the boxes in `d[start..end]`.
pub fn boxes(d: &[u8], start: usize, end: usize) -> Vec<([u8; 4], usize, usize, usize)> {
    let mut out = Vec::new();
    let mut pos = start;
    while pos + 8 <= end {
        let size = u32::from_be_bytes(d[pos..pos + 4].try_into().unwrap()) as usize;
        let typ: [u8; 4] = d[pos + 4..pos + 8].try_into().unwrap();
        let (hdr, size) = match size {
            1 => (
                16,
                u64::from_be_bytes(d[pos + 8..pos + 16].try_into().unwrap()) as usize,
            ),
            0 => (8, end - pos),
            s => (8, s),
        };
        out.push((typ, pos, hdr, pos + size));
        pos += size;
    }
    out
}

/// Every box reachable through the usual containers, depth first.
pub fn all_boxes(d: &[u8]) -> Vec<([u8; 4], usize, usize, usize)> {
    let mut out = Vec::new();
    let mut stack = boxes(d, 0, d.len());
    stack.reverse();
    while let Some(b) = stack.pop() {
        out.push(b);
        if [
            b"moov", b"trak", b"mdia", b"minf", b"stbl", b"dinf", b"edts", b"udta",
        ]
        .contains(&&b.0)
        {
            let mut kids = boxes(d, b.1 + b.2, b.3);
            kids.reverse();
            stack.extend(kids);
        }
    }
    out
}

/// Writes a 90° display matrix into the first track's `tkhd` (FFmpeg 5.1's
/// CLI drops `-metadata:s:v rotate=90` when there are several inputs).
fn rotate_first_track(path: &Path) {
    let mut d = fs::read(path).unwrap();
    let tkhd = *all_boxes(&d).iter().find(|b| &b.0 == b"tkhd").unwrap();
    assert_eq!(d[tkhd.1 + 8], 0, "tkhd version 0");
    let matrix = tkhd.1 + 8 + 40;
    let values: [u32; 9] = [0, 0x0001_0000, 0, 0xFFFF_0000, 0, 0, 0, 0, 0x4000_0000];
    for (i, v) in values.iter().enumerate() {
        d[matrix + 4 * i..matrix + 4 * i + 4].copy_from_slice(&v.to_be_bytes());
    }
    fs::write(path, d).unwrap();
}

/// Rewrites the video track's `stsz` as a 16-bit compact `stz2` (moov is at
/// the end, so no chunk moves).
fn stsz_to_stz2(src: &Path, out: &Path) {
    let d = fs::read(src).unwrap();
    let all = all_boxes(&d);
    let stsz = *all.iter().find(|b| &b.0 == b"stsz").unwrap();
    let count = u32::from_be_bytes(d[stsz.1 + 16..stsz.1 + 20].try_into().unwrap()) as usize;
    let mut stz2 = Vec::new();
    stz2.extend_from_slice(&((20 + 2 * count) as u32).to_be_bytes());
    stz2.extend_from_slice(b"stz2");
    stz2.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 16]);
    stz2.extend_from_slice(&(count as u32).to_be_bytes());
    for i in 0..count {
        let at = stsz.1 + 20 + 4 * i;
        let size = u32::from_be_bytes(d[at..at + 4].try_into().unwrap());
        stz2.extend_from_slice(&u16::try_from(size).unwrap().to_be_bytes());
    }
    let shrink = (stsz.3 - stsz.1 - stz2.len()) as u32;
    let mut o = d[..stsz.1].to_vec();
    o.extend_from_slice(&stz2);
    o.extend_from_slice(&d[stsz.3..]);
    for b in all.iter().filter(|b| {
        b.1 < stsz.1 && stsz.3 <= b.3 && [b"moov", b"trak", b"mdia", b"minf", b"stbl"].contains(&&b.0)
    }) {
        let size = u32::from_be_bytes(o[b.1..b.1 + 4].try_into().unwrap());
        o[b.1..b.1 + 4].copy_from_slice(&(size - shrink).to_be_bytes());
    }
    fs::write(out, o).unwrap();
    assert_eq!(
        strip_pos(&packets(src)),
        strip_pos(&packets(out)),
        "crafted stz2 file differs from its source"
    );
}

/// Splits the single mdat of a moov-at-end file into two at a chunk boundary
/// (adding 8 bytes and shifting later chunk offsets): the library must then
/// handle two mdat boxes.
fn split_mdat(src: &Path, out: &Path) {
    let d = fs::read(src).unwrap();
    let top = boxes(&d, 0, d.len());
    let mdat = *top.iter().find(|b| &b.0 == b"mdat").unwrap();
    let moov = *top.iter().find(|b| &b.0 == b"moov").unwrap();
    assert!(moov.1 > mdat.1, "needs moov after mdat");
    let all = all_boxes(&d);
    let stcos: Vec<_> = all.iter().filter(|b| &b.0 == b"stco").copied().collect();
    // A chunk offset of the first track near the middle of the mdat.
    let first = stcos[0];
    let n = u32::from_be_bytes(d[first.1 + 12..first.1 + 16].try_into().unwrap()) as usize;
    let at = first.1 + 16 + 4 * (n / 2);
    let split = u32::from_be_bytes(d[at..at + 4].try_into().unwrap()) as usize;
    let mut o = Vec::with_capacity(d.len() + 8);
    o.extend_from_slice(&d[..split]);
    o.extend_from_slice(&16u32.to_be_bytes()); // placeholder for the second header
    o.extend_from_slice(b"mdat");
    o.extend_from_slice(&d[split..]);
    // Sizes of the two mdat boxes.
    o[mdat.1..mdat.1 + 4].copy_from_slice(&((split - mdat.1) as u32).to_be_bytes());
    o[split..split + 4].copy_from_slice(&((mdat.3 - split + 8) as u32).to_be_bytes());
    // Shift offsets at or after the split.
    for s in stcos {
        let s0 = s.1 + 8;
        let count = u32::from_be_bytes(d[s.1 + 12..s.1 + 16].try_into().unwrap()) as usize;
        for i in 0..count {
            let at = s0 + 8 + 4 * i;
            let v = u32::from_be_bytes(d[at..at + 4].try_into().unwrap()) as usize;
            if v >= split {
                o[at + 8..at + 12].copy_from_slice(&((v + 8) as u32).to_be_bytes());
            }
        }
    }
    fs::write(out, o).unwrap();
    // The crafted file must play exactly like its source.
    let a = packets(src);
    let b = packets(out);
    assert_eq!(
        strip_pos(&a),
        strip_pos(&b),
        "crafted two-mdat file differs from its source"
    );
}

// ---------- EBML walking, for crafted fixtures and output checks ----------

pub fn vint(d: &[u8], pos: usize) -> (u64, usize) {
    let len = d[pos].leading_zeros() as usize + 1;
    assert!(len <= 8, "bad vint at {pos}");
    let mut v = u64::from(d[pos] & (0xFFu16 >> len) as u8);
    for &b in &d[pos + 1..pos + len] {
        v = v << 8 | u64::from(b);
    }
    (v, len)
}

/// (id, start, data start, end, size field position and width) of the element at `pos`.
pub struct El {
    pub id: u32,
    pub start: usize,
    pub data: usize,
    pub end: usize,
    pub size_at: usize,
    pub size_len: usize,
    pub unknown: bool,
}

pub fn element(d: &[u8], pos: usize, limit: usize) -> El {
    let id_len = d[pos].leading_zeros() as usize + 1;
    let id = d[pos..pos + id_len]
        .iter()
        .fold(0u32, |a, &b| a << 8 | u32::from(b));
    let (size, size_len) = vint(d, pos + id_len);
    let unknown = size == (1u64 << (7 * size_len)) - 1;
    let data = pos + id_len + size_len;
    let end = if unknown { limit } else { data + size as usize };
    El {
        id,
        start: pos,
        data,
        end,
        size_at: pos + id_len,
        size_len,
        unknown,
    }
}

const CLUSTER_CHILDREN: [u32; 9] = [0xE7, 0x5854, 0xA7, 0xAB, 0xA3, 0xA0, 0xAF, 0xBF, 0xEC];

/// Children of a master, handling an unknown-size Cluster.
pub fn children(d: &[u8], parent: &El) -> Vec<El> {
    let mut out = Vec::new();
    let mut pos = parent.data;
    while pos < parent.end {
        let e = element(d, pos, parent.end);
        if parent.unknown && parent.id == 0x1F43B675 && !CLUSTER_CHILDREN.contains(&e.id) {
            break;
        }
        pos = if e.unknown && e.id == 0x1F43B675 {
            cluster_end(d, &e)
        } else {
            e.end
        };
        out.push(El { end: pos, ..e });
    }
    out
}

fn cluster_end(d: &[u8], c: &El) -> usize {
    children(d, c).last().map_or(c.data, |e| e.end)
}

/// The Segment and its level-1 elements.
pub fn level1(d: &[u8]) -> (El, Vec<El>) {
    let ebml = element(d, 0, d.len());
    let seg = element(d, ebml.end, d.len());
    assert_eq!(seg.id, 0x18538067);
    let kids = children(d, &seg);
    (seg, kids)
}

fn unknown_cluster_sizes(src: &Path, out: &Path) {
    let mut d = fs::read(src).unwrap();
    let (seg, kids) = level1(&d);
    // Unknown-size Clusters are only valid in an unknown-size Segment.
    d[seg.size_at] |= (0xFFu16 >> seg.size_len) as u8;
    for b in &mut d[seg.size_at + 1..seg.size_at + seg.size_len] {
        *b = 0xFF;
    }
    let mut n = 0;
    for c in kids.iter().filter(|e| e.id == 0x1F43B675) {
        d[c.size_at] |= (0xFFu16 >> c.size_len) as u8;
        for b in &mut d[c.size_at + 1..c.size_at + c.size_len] {
            *b = 0xFF;
        }
        n += 1;
    }
    assert!(n > 1);
    fs::write(out, d).unwrap();
    assert_eq!(
        strip_pos(&packets(src)),
        strip_pos(&packets(out)),
        "crafted unknown-size clusters differ"
    );
}

/// Checks a Matroska file's internal pointers and checksums: every
/// SeekPosition points at an element with its SeekID, every
/// CueClusterPosition at a Cluster, every CueRelativePosition at a block of
/// that Cluster, and every CRC-32 matches. Returns the number of CRC-32s.
pub fn check_matroska_pointers(path: &Path) -> usize {
    let d = fs::read(path).unwrap();
    let (seg, kids) = level1(&d);
    let starts: HashMap<usize, u32> = kids.iter().map(|e| (e.start - seg.data, e.id)).collect();
    let mut crcs = 0;
    let mut check_crc = |el: &El| {
        let kids = children(&d, el);
        if let Some(first) = kids.first().filter(|k| k.id == 0xBF) {
            let stored = u32::from_le_bytes(d[first.data..first.data + 4].try_into().unwrap());
            assert_eq!(
                stored,
                crc32fast_hash(&d[first.end..el.end]),
                "CRC-32 of element 0x{:X} at {}",
                el.id,
                el.start
            );
            crcs += 1;
        }
    };
    for e in kids.iter().filter(|e| e.id != 0xEC) {
        check_crc(e);
    }
    for sh in kids.iter().filter(|e| e.id == 0x114D9B74) {
        for seek in children(&d, sh).iter().filter(|e| e.id == 0x4DBB) {
            let parts = children(&d, seek);
            let id_el = parts.iter().find(|e| e.id == 0x53AB).unwrap();
            let pos_el = parts.iter().find(|e| e.id == 0x53AC).unwrap();
            let id = d[id_el.data..id_el.end]
                .iter()
                .fold(0u32, |a, &b| a << 8 | u32::from(b));
            let pos = d[pos_el.data..pos_el.end]
                .iter()
                .fold(0u64, |a, &b| a << 8 | u64::from(b)) as usize;
            assert_eq!(
                starts.get(&pos),
                Some(&id),
                "SeekPosition {pos} should point at element 0x{id:X}"
            );
        }
    }
    let mut cues = 0;
    for c in kids.iter().filter(|e| e.id == 0x1C53BB6B) {
        for point in children(&d, c).iter().filter(|e| e.id == 0xBB) {
            for tp in children(&d, point).iter().filter(|e| e.id == 0xB7) {
                let parts = children(&d, tp);
                let uint = |id| {
                    parts
                        .iter()
                        .find(|e| e.id == id)
                        .map(|e| d[e.data..e.end].iter().fold(0u64, |a, &b| a << 8 | u64::from(b)) as usize)
                };
                let cp = uint(0xF1).unwrap();
                assert_eq!(
                    starts.get(&cp),
                    Some(&0x1F43B675),
                    "CueClusterPosition {cp} should point at a Cluster"
                );
                cues += 1;
                if let Some(rel) = uint(0xF0) {
                    let cluster = kids.iter().find(|e| e.start - seg.data == cp).unwrap();
                    let block = children(&d, cluster)
                        .into_iter()
                        .find(|b| b.start - cluster.data == rel);
                    assert!(
                        block.as_ref().is_some_and(|b| b.id == 0xA3 || b.id == 0xA0),
                        "CueRelativePosition {rel} should point at a block"
                    );
                }
            }
        }
    }
    let _ = cues;
    crcs
}

fn crc32fast_hash(data: &[u8]) -> u32 {
    vidstega_container::crc32(data)
}

// ---------- ffprobe comparisons ----------

/// Every packet of every stream: stream, pts, dts, duration, flags, size, hash, pos.
pub fn packets(path: &Path) -> Vec<Value> {
    // A large probe window: otherwise how many packets ffprobe analyses (and
    // so the timestamps it guesses for the first ones) depends on their sizes.
    let v = ffprobe_json(&[
        "-probesize",
        "1000000000",
        "-analyzeduration",
        "100000000",
        "-show_entries",
        "packet=stream_index,pts,dts,duration,flags,size,data_hash,pos",
        "-show_data_hash",
        "sha256",
        path.to_str().unwrap(),
    ]);
    v["packets"].as_array().cloned().unwrap_or_default()
}

pub fn strip_pos(p: &[Value]) -> Vec<Value> {
    p.iter()
        .map(|v| {
            let mut v = v.clone();
            v.as_object_mut().unwrap().remove("pos");
            v
        })
        .collect()
}

/// `-show_streams -show_format` without what legitimately changes.
pub fn streams_and_format(path: &Path) -> Value {
    let mut v = ffprobe_json(&["-show_streams", "-show_format", path.to_str().unwrap()]);
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for k in ["filename", "size", "bit_rate"] {
                    m.remove(k);
                }
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

/// ffprobe's index of the first video stream that is not cover art.
pub fn video_stream_index(path: &Path) -> u64 {
    let v = ffprobe_json(&["-show_streams", path.to_str().unwrap()]);
    v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "video" && s["disposition"]["attached_pic"] != 1)
        .and_then(|s| s["index"].as_u64())
        .expect("a video stream")
}

/// Check 1: the samples agree with ffprobe's packets of the first video stream.
pub fn check_samples_match_ffprobe(path: &Path) -> VideoTrack {
    let track = read_video_track(&mut File::open(path).unwrap()).unwrap();
    let v = ffprobe_json(&[
        "-select_streams",
        "v:0",
        "-show_entries",
        "packet=size,flags,data_hash",
        "-show_data_hash",
        "sha256",
        path.to_str().unwrap(),
    ]);
    let pk = v["packets"].as_array().unwrap();
    assert_eq!(track.samples.len(), pk.len(), "{}: sample count", path.display());
    let data = fs::read(path).unwrap();
    for (i, (s, p)) in track.samples.iter().zip(pk).enumerate() {
        assert_eq!(
            s.size.to_string(),
            p["size"].as_str().unwrap(),
            "{}: size of sample {i}",
            path.display()
        );
        let bytes = &data[s.offset as usize..(s.offset + s.size) as usize];
        assert_eq!(
            format!("SHA256:{}", sha256_hex(bytes)),
            p["data_hash"].as_str().unwrap(),
            "{}: bytes of sample {i}",
            path.display()
        );
        assert_eq!(
            s.keyframe,
            p["flags"].as_str().unwrap().contains('K'),
            "{}: keyframe flag of {i}",
            path.display()
        );
    }
    assert!(track.samples.iter().any(|s| s.keyframe));
    track
}

/// Check 2: no replacements reproduce the input byte for byte.
pub fn check_identity(path: &Path, track: &VideoTrack) {
    let splice = plan_splice(&mut File::open(path).unwrap(), track, &BTreeMap::new()).unwrap();
    let src = fs::read(path).unwrap();
    assert_eq!(splice.len(), src.len() as u64);
    let mut out = Vec::new();
    let n = splice
        .write_to(File::open(path).unwrap(), |_| unreachable!(), &mut out)
        .unwrap();
    assert_eq!(n, src.len() as u64);
    assert!(
        out == src,
        "{}: identity splice differs from the input",
        path.display()
    );
}

// ---------- replacement samples ----------

/// The NAL units of an AVCC/HVCC sample (4-byte lengths): (start, end) of each payload.
fn nal_units(s: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 4 <= s.len() {
        let len = u32::from_be_bytes(s[pos..pos + 4].try_into().unwrap()) as usize;
        out.push((pos + 4, pos + 4 + len));
        pos += 4 + len;
    }
    assert_eq!(pos, s.len(), "not a 4-byte-length AVCC sample");
    out
}

/// H.264 filler data NAL of `len >= 2` bytes (ignored by decoders).
fn filler(len: usize) -> Vec<u8> {
    let mut f = vec![0x0C];
    f.resize(len - 1, 0xFF);
    f.push(0x80);
    f
}

/// A valid access unit `extra + 6` bytes larger: the sample plus a filler NAL.
pub fn grow(s: &[u8], extra: usize) -> Vec<u8> {
    let mut out = s.to_vec();
    out.extend_from_slice(&((extra + 2) as u32).to_be_bytes());
    out.extend(filler(extra + 2));
    out
}

fn has_aud(s: &[u8]) -> bool {
    nal_units(s).first().is_some_and(|&(a, _)| s[a] & 0x1F == 9)
}

/// A smaller access unit: without its access unit delimiter (valid), or,
/// when it has none (mkvmerge drops them), with its last NAL cut short
/// (well-formed; only for samples no test decodes).
pub fn shrink(s: &[u8]) -> Vec<u8> {
    let nals = nal_units(s);
    if has_aud(s) {
        return s[nals[0].1..].to_vec();
    }
    let (a, b) = *nals.last().unwrap();
    let cut = ((b - a) / 10).max(1);
    assert!(b - a > cut + 1);
    let mut out = s[..a - 4].to_vec();
    out.extend_from_slice(&((b - a - cut) as u32).to_be_bytes());
    out.extend_from_slice(&s[a..b - cut]);
    out
}

/// A different access unit of the same size: the delimiter becomes filler
/// (valid), or, without one, the last byte of the last NAL changes (only for
/// samples no test decodes).
pub fn same_size(s: &[u8]) -> Vec<u8> {
    let mut out = s.to_vec();
    if has_aud(s) {
        let (a, b) = nal_units(s)[0];
        out[a..b].copy_from_slice(&filler(b - a));
    } else {
        *out.last_mut().unwrap() ^= 0x5A;
    }
    out
}

/// Replacements covering the first and last sample, growth by ~100 KB and
/// by a few bytes, shrinking, equal size, and neighbours in one chunk/cluster.
/// Samples that ffmpeg decodes while probing (the first few) only get valid
/// access units.
pub fn h264_replacements(path: &Path, track: &VideoTrack) -> BTreeMap<usize, Vec<u8>> {
    let data = fs::read(path).unwrap();
    let bytes = |i: usize| {
        let s = track.samples[i];
        data[s.offset as usize..(s.offset + s.size) as usize].to_vec()
    };
    let n = track.samples.len();
    let mut reps = BTreeMap::new();
    reps.insert(0, grow(&bytes(0), 100_000));
    if has_aud(&bytes(1)) {
        reps.insert(1, same_size(&bytes(1)));
        reps.insert(2, shrink(&bytes(2)));
    }
    reps.insert(n / 2 - 1, same_size(&bytes(n / 2 - 1)));
    reps.insert(n / 2, grow(&bytes(n / 2), 30));
    reps.insert(n / 2 + 1, shrink(&bytes(n / 2 + 1)));
    reps.insert(n / 2 + 2, grow(&bytes(n / 2 + 2), 120_000));
    reps.insert(n - 1, grow(&bytes(n - 1), 100_000));
    reps
}

pub fn sizes_of(reps: &BTreeMap<usize, Vec<u8>>) -> BTreeMap<usize, u64> {
    reps.iter().map(|(&i, r)| (i, r.len() as u64)).collect()
}

pub fn with_crcs(reps: &BTreeMap<usize, Vec<u8>>) -> BTreeMap<usize, NewSample> {
    reps.iter()
        .map(|(&i, r)| {
            (
                i,
                NewSample {
                    len: r.len() as u64,
                    crc32: Some(vidstega_container::crc32(r)),
                },
            )
        })
        .collect()
}

/// Writes `splice` of `src` to `out` with the given replacements.
pub fn write_splice(splice: &Splice, src: &Path, reps: &BTreeMap<usize, Vec<u8>>, out: &Path) {
    let file = BufWriter::new(File::create(out).unwrap());
    let n = splice
        .write_to(
            File::open(src).unwrap(),
            |i| Ok(Box::new(Cursor::new(&reps[&i][..])) as Box<dyn Read>),
            file,
        )
        .unwrap();
    assert_eq!(n, splice.len());
    assert_eq!(fs::metadata(out).unwrap().len(), splice.len());
}

/// Check 3: the output plays like the source except for the replaced video
/// packets, which carry the replacement bytes.
pub fn check_spliced(src: &Path, out: &Path, reps: &BTreeMap<usize, Vec<u8>>) {
    let video = video_stream_index(src);
    assert_eq!(video_stream_index(out), video);
    let a = strip_pos(&packets(src));
    let b = strip_pos(&packets(out));
    assert_eq!(a.len(), b.len(), "{}: packet count", out.display());
    let mut vi = 0usize;
    let mut replaced = 0;
    for (i, (pa, pb)) in a.iter().zip(&b).enumerate() {
        if pa["stream_index"].as_u64() == Some(video) {
            if let Some(r) = reps.get(&vi) {
                let mut pa = pa.clone();
                pa["data_hash"] = Value::String(format!("SHA256:{}", sha256_hex(r)));
                pa["size"] = Value::String(r.len().to_string());
                assert_eq!(
                    &pa,
                    pb,
                    "{}: replaced video packet {vi} (packet {i})",
                    out.display()
                );
                replaced += 1;
                vi += 1;
                continue;
            }
            vi += 1;
        }
        assert_eq!(pa, pb, "{}: packet {i}", out.display());
    }
    assert_eq!(replaced, reps.len());
    assert_eq!(
        streams_and_format(src),
        streams_and_format(out),
        "{}: streams/format",
        out.display()
    );
    let res = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-nostdin",
            "-xerror",
            "-i",
            out.to_str().unwrap(),
            "-map",
            "0",
            "-c",
            "copy",
            "-f",
            "null",
            "-",
        ])
        .output()
        .expect("ffmpeg");
    assert!(res.status.success(), "{}: ffmpeg -xerror failed", out.display());
    assert!(
        res.stderr.is_empty(),
        "{}: ffmpeg stderr: {}",
        out.display(),
        String::from_utf8_lossy(&res.stderr)
    );
}

/// Checks 1–3 for an H.264 fixture. Returns the temp dir holding the outputs.
pub fn full_check(name: &'static str) -> tempfile::TempDir {
    let src = fixture(name);
    let track = check_samples_match_ffprobe(&src);
    check_identity(&src, &track);
    let reps = h264_replacements(&src, &track);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(format!("out-{name}"));
    let splice = plan_splice(&mut File::open(&src).unwrap(), &track, &sizes_of(&reps)).unwrap();
    write_splice(&splice, &src, &reps, &out);
    check_spliced(&src, &out, &reps);
    // The output's own index agrees with the replacement sizes.
    let again = read_video_track(&mut File::open(&out).unwrap()).unwrap();
    assert_eq!(again.samples.len(), track.samples.len());
    for (i, r) in &reps {
        assert_eq!(again.samples[*i].size, r.len() as u64);
    }
    if track.kind == ContainerKind::Matroska {
        let crcs_before = check_matroska_pointers(&src);
        check_matroska_pointers(&out);
        // With the replacements' CRCs, every CRC-32 element is kept and valid.
        let out2 = dir.path().join(format!("crc-{name}"));
        let splice = plan_splice_with_crc(&mut File::open(&src).unwrap(), &track, &with_crcs(&reps)).unwrap();
        write_splice(&splice, &src, &reps, &out2);
        check_spliced(&src, &out2, &reps);
        assert_eq!(
            check_matroska_pointers(&out2),
            crcs_before,
            "CRC-32 elements kept"
        );
    }
    dir
}
