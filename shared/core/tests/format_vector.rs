//! The test vectors published in `docs/format.md` must be what this code
//! computes. Versions 1 and 2 are frozen: their envelopes are parsed from the
//! document and placed again, so this build is checked to still read and
//! write them exactly. Version 3's vector is recomputed from scratch.
//! Run with `VIDSTEGA_PRINT_VECTOR=1` to print the computed blocks when the
//! format changes on purpose.

use sha2::{Digest, Sha256};
use vidstega_core::*;

type Block = Vec<(String, String)>;

fn bit_string(bytes: &[u8], count: usize) -> String {
    (0..count)
        .map(|i| {
            if bytes[i / 8] >> (7 - i % 8) & 1 == 1 {
                '1'
            } else {
                '0'
            }
        })
        .collect()
}

fn documented(name: &str) -> Block {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/format.md"))
        .expect("docs/format.md exists");
    let block = doc
        .split(&format!("```test-vector {name}\n"))
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_else(|| panic!("docs/format.md has a ```test-vector {name} block"));
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once(": ").expect("key: value lines");
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

fn value<'a>(block: &'a Block, key: &str) -> &'a str {
    &block
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("{key} missing"))
        .1
}

fn check(name: &str, computed: Block) {
    if std::env::var_os("VIDSTEGA_PRINT_VECTOR").is_some() {
        println!("```test-vector {name}");
        for (k, v) in &computed {
            println!("{k}: {v}");
        }
        println!("```");
    }
    assert_eq!(
        documented(name),
        computed,
        "docs/format.md's {name} test vector is stale"
    );
}

/// Version 1: every frame carries, luma only, 32×32 gray frames.
fn compute_v1(doc: &Block) -> Block {
    let password = value(doc, "password").as_bytes().to_vec();
    let message = value(doc, "message").as_bytes().to_vec();
    let env = Envelope::parse(&hex::decode(value(doc, "envelope")).unwrap()).unwrap();
    assert_eq!(env.header().version, 1);
    let key = PlacementKey::derive(&password);
    let g = FrameGeometry::gray(32, 32).unwrap();
    let layout = Layout::for_embedding(&key, env.header(), &g, PlaneSet::Luma, 2).unwrap();
    let body = BodyBits::whole(env.body().to_vec());
    let mut out = vec![
        (
            "password".to_string(),
            String::from_utf8_lossy(&password).into_owned(),
        ),
        (
            "message".to_string(),
            String::from_utf8_lossy(&message).into_owned(),
        ),
        ("placement_key".to_string(), hex::encode(key.as_bytes())),
        ("envelope".to_string(), hex::encode(env.to_bytes())),
        ("body_bits".to_string(), env.header().body_bits().to_string()),
    ];
    let mut assembly = BodyAssembly::new(env.header().body_bits());
    for f in 0..2u64 {
        let r = layout.frame_bits(f);
        out.push((
            format!("frame{f}_payload_bits"),
            format!("{}..{}", r.start, r.end),
        ));
        let pos: Vec<String> = layout.positions(f, 16).iter().map(u64::to_string).collect();
        out.push((format!("frame{f}_positions_0_15"), pos.join(",")));
        let carried = layout.carried_bits(f, &body).unwrap();
        out.push((format!("frame{f}_carried_bits_0_31"), bit_string(&carried, 32)));
        let mut plane: Vec<u8> = (0..1024u32)
            .map(|i| ((i % 32) * 7 + (i / 32) * 13 + f as u32 * 31) as u8)
            .collect();
        let stats = layout.embed_frame(f, &body, &mut [plane.as_mut_slice()]).unwrap();
        out.push((
            format!("frame{f}_changed_samples"),
            stats.changed_samples.to_string(),
        ));
        out.push((
            format!("frame{f}_stego_sha256"),
            hex::encode(Sha256::digest(&plane)),
        ));
        let found = Layout::locate(&key, &g, f, &[plane.as_slice()]).unwrap();
        assert_eq!(found.envelope_header(), env.header());
        let mut part = BodyBits::zeroed(found.frame_bits(f));
        found.extract_frame(f, &[plane.as_slice()], &mut part).unwrap();
        assembly.add(&part).unwrap();
    }
    assert_eq!(layout.open(&assembly, &password).unwrap(), message);
    out
}

#[test]
fn version_1_vector_is_still_read_and_written() {
    let doc = documented("v1");
    check("v1", compute_v1(&doc));
}

// ---------------------------------------------------------------------------
// Versions 2 and 3. Every value the core computes is also recomputed here
// from the primitives (PBKDF2, HKDF, HMAC, ChaCha20, AES-GCM, CRC-32,
// GF(2^8)) with the formulas of docs/format.md, so the test proves the
// document, not only the code. Version 2's envelope is the document's own
// (this build seals version 3); version 3 is sealed here.
// ---------------------------------------------------------------------------

use hmac::{Hmac, Mac};

const V2_PASSWORD: &[u8] = b"VidStega test vector";
const V2_MESSAGE: &[u8] = b"Hidden in plain sight. Hidden in plain sight. Hidden in plain sight.";
/// Display size of the pictures: a 64x48 coded H.264 picture cropped by 2
/// on the right and 2 at the bottom, 4:2:0.
const V2_W: u32 = 62;
const V2_H: u32 = 46;
/// Frames of the every-frame part.
const V2_FRAMES: u64 = 3;
/// Carrier candidates of the compact part.
const V2_CANDIDATES: u64 = 9;
/// Candidates per group (GOP), in decoding order: 2 + 3 + 1 + 3 = 9.
const V2_GROUPS: [u64; 4] = [2, 3, 1, 3];
/// Embedding rate the compact part's carrier count is chosen with.
const V2_RATE: f64 = 0.25;

fn hkdf32(ikm: &[u8], info: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(None, ikm)
        .expand(info.as_bytes(), &mut out)
        .unwrap();
    out
}

fn hmac256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

fn bit(bytes: &[u8], j: u64) -> u8 {
    (bytes[(j / 8) as usize] >> (7 - j % 8)) & 1
}

fn put_bit(bytes: &mut [u8], j: u64, v: u8) {
    if v == 1 {
        bytes[(j / 8) as usize] |= 0x80 >> (j % 8);
    }
}

fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The document's keyed permutation (§6), written from its formulas.
struct Feistel {
    n_samples: u64,
    wl: u32,
    wr: u32,
    rk: [u32; 4],
}

impl Feistel {
    fn new(k_perm: &[u8; 32], plane_set: u8, key_index: u64, n_samples: u64) -> Self {
        let rk_bytes = hmac256(k_perm, &[&[plane_set], &key_index.to_le_bytes()]);
        let rk = core::array::from_fn(|e| u32::from_le_bytes(rk_bytes[4 * e..4 * e + 4].try_into().unwrap()));
        let w = (64 - (n_samples - 1).leading_zeros()).max(2);
        Feistel {
            n_samples,
            wl: w / 2,
            wr: w - w / 2,
            rk,
        }
    }

    fn feistel(&self, val: u32) -> u32 {
        let ml = (1u32 << self.wl) - 1;
        let mr = (1u32 << self.wr) - 1;
        let (mut left, mut right) = (val >> self.wr, val & mr);
        left ^= fmix32(right ^ self.rk[0]) & ml;
        right ^= fmix32(left ^ self.rk[1]) & mr;
        left ^= fmix32(right ^ self.rk[2]) & ml;
        right ^= fmix32(left ^ self.rk[3]) & mr;
        (left << self.wr) | right
    }

    /// The values visited from `i`: `feistel(i)`, `feistel(feistel(i))`, …,
    /// the last being `π(i)`, the first below `N`.
    fn walk(&self, i: u64) -> Vec<u64> {
        let mut seen = vec![self.feistel(i as u32) as u64];
        while *seen.last().unwrap() >= self.n_samples {
            seen.push(self.feistel(*seen.last().unwrap() as u32) as u64);
        }
        seen
    }

    fn pi(&self, i: u64) -> u64 {
        *self.walk(i).last().unwrap()
    }
}

fn gf_mul(a: u8, b: u8) -> u8 {
    let (mut a, mut b, mut p) = (a as u16, b, 0u16);
    while b != 0 {
        if b & 1 == 1 {
            p ^= a;
        }
        a <<= 1;
        if a & 0x100 != 0 {
            a ^= 0x11d;
        }
        b >>= 1;
    }
    p as u8
}

fn gf_pow(a: u8, n: usize) -> u8 {
    (0..n).fold(1, |acc, _| gf_mul(acc, a))
}

fn gf_inverse_matrix(mut m: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let n = m.len();
    let mut inv: Vec<Vec<u8>> = (0..n).map(|r| (0..n).map(|c| (r == c) as u8).collect()).collect();
    for col in 0..n {
        let pivot = (col..n).find(|&r| m[r][col] != 0).expect("invertible");
        m.swap(col, pivot);
        inv.swap(col, pivot);
        let p_inv = (1..=255u8).find(|&x| gf_mul(m[col][col], x) == 1).unwrap();
        for c in 0..n {
            m[col][c] = gf_mul(m[col][c], p_inv);
            inv[col][c] = gf_mul(inv[col][c], p_inv);
        }
        for r in 0..n {
            let f = m[r][col];
            if r != col && f != 0 {
                for c in 0..n {
                    m[r][c] ^= gf_mul(f, m[col][c]);
                    inv[r][c] ^= gf_mul(f, inv[col][c]);
                }
            }
        }
    }
    inv
}

/// The encoding matrix `A = V · (top k rows of V)^-1`, `V[r][c] = r^c`.
fn rs_matrix(k: usize, m: usize) -> Vec<Vec<u8>> {
    let v: Vec<Vec<u8>> = (0..k + m)
        .map(|r| (0..k).map(|c| gf_pow(r as u8, c)).collect())
        .collect();
    let top_inv = gf_inverse_matrix(v[..k].to_vec());
    v.iter()
        .map(|row| {
            (0..k)
                .map(|c| (0..k).fold(0u8, |acc, j| acc ^ gf_mul(row[j], top_inv[j][c])))
                .collect()
        })
        .collect()
}

/// Sample `(x, y)` of plane `p` of picture `t`: `(7x + 13y + 31t + 64p) mod 256`.
fn v2_picture(g: &FrameGeometry, t: u64) -> Vec<Vec<u8>> {
    g.planes()
        .iter()
        .enumerate()
        .map(|(p, d)| {
            (0..d.height as u64)
                .flat_map(|y| {
                    (0..d.width as u64).map(move |x| (7 * x + 13 * y + 31 * t + 64 * p as u64) as u8)
                })
                .collect()
        })
        .collect()
}

/// What the document says one picture carries and where: `(T, positions,
/// stego planes, changed samples)`, computed without the core.
struct Reference {
    carried: Vec<u8>,
    positions: Vec<u64>,
    stego: Vec<Vec<u8>>,
    changed: u64,
}

/// The salt slot (version 3): `Some(salt)` reserves the last 128 samples of
/// the first plane for it.
#[allow(clippy::too_many_arguments)]
fn reference_embed(
    subkeys: &Subkeys,
    header: &[u8; 64],
    body: &[u8],
    bits: std::ops::Range<u64>,
    plane_set: u8,
    key_index: u64,
    cover: &[Vec<u8>],
    salt: Option<[u8; 16]>,
) -> Reference {
    let planes = if plane_set == 0 { 1 } else { cover.len() };
    let reserved = if salt.is_some() { 128 } else { 0 };
    // Keyed positions: the selected samples without the salt slot.
    let n_samples: u64 = cover[..planes].iter().map(|p| p.len() as u64).sum::<u64>() - reserved;
    let mut lens: Vec<usize> = cover.iter().map(|p| p.len()).collect();
    lens[0] -= reserved as usize;
    let n_t = 512 + (bits.end - bits.start);
    // T = (H ‖ body bits) XOR ChaCha20(K_white, u64le(key_index) ‖ 0u32).
    let mut carried = vec![0u8; n_t.div_ceil(8) as usize];
    carried[..64].copy_from_slice(header);
    for j in 0..bits.end - bits.start {
        put_bit(&mut carried, 512 + j, bit(body, bits.start + j));
    }
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&key_index.to_le_bytes());
    let mut stream = vec![0u8; carried.len()];
    chacha20::cipher::StreamCipher::apply_keystream(
        &mut <chacha20::ChaCha20 as chacha20::cipher::KeyIvInit>::new(
            (&subkeys.white).into(),
            (&nonce).into(),
        ),
        &mut stream,
    );
    for (c, s) in carried.iter_mut().zip(&stream) {
        *c ^= s;
    }
    let perm = Feistel::new(&subkeys.perm, plane_set, key_index, n_samples);
    let positions: Vec<u64> = (0..n_samples).map(|i| perm.pi(i)).collect();
    let d = u64::from_le_bytes(
        hmac256(&subkeys.dir, &[&key_index.to_le_bytes()])[..8]
            .try_into()
            .unwrap(),
    );
    let mut stego = cover.to_vec();
    let mut changed = 0;
    for i in 0..n_t {
        let p = positions[i as usize];
        // Position p of the concatenated planes (the first without its slot).
        let (mut plane, mut off) = (0, p as usize);
        while off >= lens[plane] {
            off -= lens[plane];
            plane += 1;
        }
        let v = &mut stego[plane][off];
        let t = bit(&carried, i);
        if *v & 1 != t {
            changed += 1;
            let up = (p ^ d).wrapping_mul(0xd6e8_feb8_6659_fd93) >> 63 == 1;
            *v = if *v == 0 {
                1
            } else if *v == 255 {
                254
            } else if up {
                *v + 1
            } else {
                *v - 1
            };
        }
    }
    // The salt slot: bit j of the salt (MSB first) in the LSB of sample
    // len0 - 128 + j of the first plane, moved by the direction hash of
    // position N + j.
    if let Some(salt) = salt {
        let first = lens[0];
        for j in 0..128u64 {
            let v = &mut stego[0][first + j as usize];
            let t = bit(&salt, j);
            if *v & 1 != t {
                changed += 1;
                let up = ((n_samples + j) ^ d).wrapping_mul(0xd6e8_feb8_6659_fd93) >> 63 == 1;
                *v = if *v == 0 {
                    1
                } else if *v == 255 {
                    254
                } else if up {
                    *v + 1
                } else {
                    *v - 1
                };
            }
        }
    }
    Reference {
        carried,
        positions,
        stego,
        changed,
    }
}

struct Subkeys {
    perm: [u8; 32],
    white: [u8; 32],
    dir: [u8; 32],
    mac: [u8; 32],
    car: [u8; 32],
}

/// `H`: parameter block, count, plane set, layout, zeros, truncated MAC.
fn reference_header(subkeys: &Subkeys, pb: &[u8], count: u64, plane_set: u8, layout: u8) -> [u8; 64] {
    let mut h = [0u8; 64];
    h[..32].copy_from_slice(pb);
    h[32..36].copy_from_slice(&(count as u32).to_le_bytes());
    h[36] = plane_set;
    h[37] = layout;
    let mac = hmac256(&subkeys.mac, &[&h[..48]]);
    h[48..].copy_from_slice(&mac[..16]);
    h
}

/// `bits(r) = floor(r·B/F) .. floor((r+1)·B/F)`.
fn schedule(r: u64, b: u64, f: u64) -> std::ops::Range<u64> {
    let at = |r: u64| (r as u128 * b as u128 / f as u128) as u64;
    at(r)..at(r + 1)
}

fn joined(v: impl IntoIterator<Item = impl ToString>) -> String {
    v.into_iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")
}

/// The vector of format `version` (2 or 3); version 2's envelope comes
/// from `doc`.
fn compute_v2_or_v3(version: u16, doc: Option<&Block>) -> Block {
    let mut out: Block = Vec::new();
    let mut put = |k: &str, v: String| out.push((k.to_string(), v));
    put("password", String::from_utf8_lossy(V2_PASSWORD).into_owned());
    put("message", String::from_utf8_lossy(V2_MESSAGE).into_owned());
    let salt: [u8; 16] = core::array::from_fn(|i| i as u8);

    // Keys: version 2 with the fixed salt, version 3 salted with the
    // message salt.
    let (key, pbkdf2_salt) = if version == 2 {
        (
            PlacementKey::derive(V2_PASSWORD),
            b"VidStega placement key v1".to_vec(),
        )
    } else {
        let mut s = b"VidStega placement key v3".to_vec();
        s.extend_from_slice(&salt);
        (PlacementKey::derive_salted(V2_PASSWORD, &salt), s)
    };
    let mut k_place = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(V2_PASSWORD, &pbkdf2_salt, 600_000, &mut k_place);
    assert_eq!(&k_place, key.as_bytes());
    put("placement_key", hex::encode(k_place));
    let subkeys = Subkeys {
        perm: hkdf32(&k_place, "vidstega v1 permutation"),
        white: hkdf32(&k_place, "vidstega v1 whitening"),
        dir: hkdf32(&k_place, "vidstega v1 direction"),
        mac: hkdf32(&k_place, "vidstega v1 header mac"),
        car: hkdf32(&k_place, "vidstega v2 carriers"),
    };
    put("K_perm", hex::encode(subkeys.perm));
    put("K_white", hex::encode(subkeys.white));
    put("K_dir", hex::encode(subkeys.dir));
    put("K_mac", hex::encode(subkeys.mac));
    put("K_car", hex::encode(subkeys.car));

    // Sealing.
    let params = SealParams {
        kdf_iterations: 1000,
        compress: true,
        data_shards: 3,
        parity_shards: 2,
        max_shard_len: 6,
    };
    let env = match doc {
        Some(doc) => Envelope::parse(&hex::decode(value(doc, "envelope")).unwrap()).unwrap(),
        None => seal_with_salt(V2_MESSAGE, V2_PASSWORD, &params, salt).unwrap(),
    };
    let h = env.header().clone();
    assert_eq!((h.version, h.compressed, h.salt), (version, true, salt));
    assert_eq!(
        PlacementKey::derive_for(V2_PASSWORD, &h).as_bytes(),
        key.as_bytes()
    );
    let slot_salt = (version >= 3).then_some(salt);
    let reserved = if version >= 3 { 128 } else { 0 };
    let bytes = env.to_bytes();
    let pb = &bytes[4..36];
    let mut master = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(V2_PASSWORD, &salt, 1000, &mut master);
    let k_enc = hkdf32(&master, "vidstega v1 aes-256-gcm key");
    let mut n_enc = [0u8; 12];
    hkdf::Hkdf::<Sha256>::new(None, &master)
        .expand(b"vidstega v1 aes-256-gcm nonce", &mut n_enc)
        .unwrap();
    put("K_enc", hex::encode(k_enc));
    put("N_enc", hex::encode(n_enc));
    let (k, m, l) = (
        h.data_shards as usize,
        h.parity_shards as usize,
        h.shard_len as usize,
    );
    let c = h.ciphertext_len as usize;
    let g = c.div_ceil(k * l);
    assert_eq!(l, (c.div_ceil(k)).clamp(1, 6));
    assert_eq!(g as u64, h.stripes());
    // The body: slot s = j·G + g holds shard j of stripe g and its CRC.
    let body = env.body();
    let slot_len = l + 4;
    assert_eq!(body.len(), g * (k + m) * slot_len);
    let shard = |j: usize, stripe: usize| {
        let s = j * g + stripe;
        let slot = &body[s * slot_len..(s + 1) * slot_len];
        let mut crc = crc32fast::Hasher::new();
        crc.update(&(s as u64).to_le_bytes());
        crc.update(&slot[..l]);
        assert_eq!(crc.finalize().to_le_bytes(), slot[l..], "CRC of slot {s}");
        slot[..l].to_vec()
    };
    let a = rs_matrix(k, m);
    let mut e = Vec::new();
    for stripe in 0..g {
        let data: Vec<Vec<u8>> = (0..k).map(|j| shard(j, stripe)).collect();
        for (i, row) in a.iter().enumerate().skip(k) {
            let parity: Vec<u8> = (0..l)
                .map(|b| (0..k).fold(0u8, |acc, j| acc ^ gf_mul(row[j], data[j][b])))
                .collect();
            assert_eq!(parity, shard(i, stripe), "parity shard {i} of stripe {stripe}");
        }
        e.extend(data.concat());
    }
    assert!(e[c..].iter().all(|&z| z == 0), "zero padding");
    e.truncate(c);
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    let plain = aes_gcm::Aes256Gcm::new((&k_enc).into())
        .decrypt((&n_enc).into(), Payload { msg: &e, aad: pb })
        .unwrap();
    assert_eq!(
        miniz_oxide::inflate::decompress_to_vec(&plain).unwrap(),
        V2_MESSAGE
    );
    put("plaintext", hex::encode(&plain));
    put("envelope", hex::encode(&bytes));
    put(
        "sizes",
        format!("C={c} k={k} m={m} L={l} G={g} S={}", g * (k + m)),
    );
    let body_bits = h.body_bits();
    put("body_bits", body_bits.to_string());
    let whole = BodyBits::whole(body.to_vec());

    // Part 1: every frame (layout 0), luma (plane set 0), F = 3 frames.
    let geo = FrameGeometry::yuv420(V2_W, V2_H).unwrap();
    let layout = Layout::for_embedding(&key, &h, &geo, PlaneSet::Luma, V2_FRAMES).unwrap();
    let header0 = reference_header(&subkeys, pb, V2_FRAMES, 0, 0);
    put("frames_header", hex::encode(header0));
    let luma = geo.samples(PlaneSet::Luma) - reserved;
    let mut assembly = BodyAssembly::new(body_bits);
    for f in 0..V2_FRAMES {
        let slot = Slot::frame(f);
        let cover = v2_picture(&geo, f);
        let bits = layout.frame_bits(f);
        assert_eq!(bits, schedule(f, body_bits, V2_FRAMES));
        let r = reference_embed(&subkeys, &header0, body, bits.clone(), 0, f, &cover, slot_salt);
        assert_eq!(
            layout.slot_positions(slot, luma),
            r.positions,
            "frame {f} positions"
        );
        assert_eq!(layout.slot_carried_bits(slot, &whole).unwrap(), r.carried);
        let mut stego = cover.clone();
        let stats = {
            let mut planes: Vec<&mut [u8]> = stego.iter_mut().map(|p| p.as_mut_slice()).collect();
            layout.embed_slot(slot, &whole, &mut planes).unwrap()
        };
        assert_eq!(stego, r.stego, "frame {f} stego");
        assert_eq!(stats.changed_samples, r.changed);
        if let Some(salt) = slot_salt {
            assert_eq!(salt_slot(&stego[0]), Some(salt), "frame {f} salt slot");
            let slot_at = stego[0].len() - 128;
            put(
                &format!("frame{f}_salt_slot_samples_0_7"),
                format!(
                    "{} -> {}",
                    joined(&cover[0][slot_at..slot_at + 8]),
                    joined(&stego[0][slot_at..slot_at + 8])
                ),
            );
        }
        if f == 0 {
            let perm = Feistel::new(&subkeys.perm, 0, 0, luma);
            put(
                "frame0_feistel",
                format!("w={} wL={} wR={}", perm.wl + perm.wr, perm.wl, perm.wr),
            );
            put(
                "frame0_round_keys",
                joined(perm.rk.iter().map(|k| format!("{k:08x}"))),
            );
            let i = (0..luma).find(|&i| perm.walk(i).len() > 1).unwrap();
            put("frame0_cycle_walk", format!("{i}->{}", joined(perm.walk(i))));
            let d = u64::from_le_bytes(
                hmac256(&subkeys.dir, &[&0u64.to_le_bytes()])[..8]
                    .try_into()
                    .unwrap(),
            );
            put("frame0_direction_key", format!("{d:016x}"));
        }
        put(
            &format!("frame{f}_payload_bits"),
            format!("{}..{}", bits.start, bits.end),
        );
        put(&format!("frame{f}_positions_0_15"), joined(&r.positions[..16]));
        put(&format!("frame{f}_carried_bits_0_31"), bit_string(&r.carried, 32));
        put(&format!("frame{f}_changed_samples"), r.changed.to_string());
        put(
            &format!("frame{f}_stego_luma_sha256"),
            hex::encode(Sha256::digest(&stego[0])),
        );
        // The core reads it back.
        let refs: Vec<&[u8]> = stego.iter().map(|p| p.as_slice()).collect();
        let found = Layout::locate(&key, &geo, f, &refs).unwrap();
        assert_eq!(
            (found.kind(), found.plane_set()),
            (LayoutKind::Frames, PlaneSet::Luma)
        );
        let mut part = BodyBits::zeroed(bits);
        assert!(found.extract_frame(f, &refs, &mut part).unwrap().header_intact);
        assembly.add(&part).unwrap();
    }
    assert_eq!(layout.open(&assembly, V2_PASSWORD).unwrap(), V2_MESSAGE);

    // Part 2: carriers (layout 1), all planes (plane set 1).
    let samples = geo.samples(PlaneSet::All);
    let all = samples - reserved;
    let per = (V2_RATE * samples as f64).floor() as u64;
    // Each carrier's rate budget pays for its salt slot (v3) and header.
    let overhead = reserved + 512;
    let n = body_bits.div_ceil(per - overhead).max(1);
    if version >= 3 {
        assert_eq!(n, carriers_needed(body_bits, samples, V2_RATE).unwrap());
    }
    put(
        "carriers_needed",
        format!("{n} (N={all}, rate {V2_RATE}: {} bits each)", per - overhead),
    );
    let u = u64::from_le_bytes(subkeys.car[..8].try_into().unwrap());
    put("carrier_offset_u", format!("{u:016x}"));
    let groups = V2_GROUPS.len() as u64;
    let point = |j: u64| {
        ((u.wrapping_add(j.wrapping_mul(0x9e37_79b9_7f4a_7c15)) as u128 * groups as u128) >> 64) as u64
    };
    let group_of: Vec<u32> = V2_GROUPS
        .iter()
        .enumerate()
        .flat_map(|(g, &size)| std::iter::repeat_n(g as u32, size as usize))
        .collect();
    assert_eq!(group_of.len() as u64, V2_CANDIDATES);
    put("candidate_groups", joined(&group_of));
    let order = CarrierOrder::new(&key, &group_of).unwrap();
    let points: Vec<u64> = (0..8).map(point).collect();
    assert_eq!(points, (0..8).map(|j| order.point(j)).collect::<Vec<_>>());
    put("group_points_0_7", joined(&points));
    let mut visits: Vec<u64> = Vec::new();
    let mut j = 0;
    while visits.len() < groups as usize {
        let g = point(j);
        if !visits.contains(&g) {
            visits.push(g);
        }
        j += 1;
    }
    assert!(j <= 4 * groups + 16, "no fallback needed");
    assert_eq!(order.group_order(), visits);
    put("group_order", joined(&visits));
    // Rounds: the r-th candidate of each group, groups in visiting order.
    let starts: Vec<u64> = (0..V2_GROUPS.len())
        .map(|g| V2_GROUPS[..g].iter().sum())
        .collect();
    let mut distinct: Vec<u64> = Vec::new();
    for round in 0..*V2_GROUPS.iter().max().unwrap() {
        for &g in &visits {
            if round < V2_GROUPS[g as usize] {
                distinct.push(starts[g as usize] + round);
            }
        }
    }
    assert_eq!(order.first(V2_CANDIDATES).unwrap(), distinct);
    put("carrier_order", joined(&distinct));
    put("header_search", joined(&distinct[..8]));
    let mut chosen = distinct[..n as usize].to_vec();
    chosen.sort_unstable();
    put(
        "carriers_rank_key_index",
        joined(chosen.iter().enumerate().map(|(r, c)| format!("{r}:{c}"))),
    );
    let layout = Layout::for_carriers(&key, &h, &geo, PlaneSet::All, n).unwrap();
    let header1 = reference_header(&subkeys, pb, n, 1, 1);
    put("carriers_header", hex::encode(header1));
    let mut stegos = Vec::new();
    for (rank, &cand) in chosen.iter().enumerate() {
        let slot = Slot {
            rank: rank as u64,
            key_index: cand,
        };
        let cover = v2_picture(&geo, cand);
        let bits = layout.frame_bits(slot.rank);
        assert_eq!(bits, schedule(slot.rank, body_bits, n));
        let r = reference_embed(&subkeys, &header1, body, bits.clone(), 1, cand, &cover, slot_salt);
        assert_eq!(
            layout.slot_positions(slot, all),
            r.positions,
            "carrier {rank} positions"
        );
        assert_eq!(layout.slot_carried_bits(slot, &whole).unwrap(), r.carried);
        let mut stego = cover.clone();
        let stats = {
            let mut planes: Vec<&mut [u8]> = stego.iter_mut().map(|p| p.as_mut_slice()).collect();
            layout.embed_slot(slot, &whole, &mut planes).unwrap()
        };
        assert_eq!(stego, r.stego, "carrier {rank} stego");
        assert_eq!(stats.changed_samples, r.changed);
        if rank == 0 {
            let perm = Feistel::new(&subkeys.perm, 1, cand, all);
            put(
                "carrier0_feistel",
                format!("w={} wL={} wR={}", perm.wl + perm.wr, perm.wl, perm.wr),
            );
            put(
                "carrier0_round_keys",
                joined(perm.rk.iter().map(|k| format!("{k:08x}"))),
            );
            let i = (0..all).find(|&i| perm.walk(i).len() > 1).unwrap();
            put("carrier0_cycle_walk", format!("{i}->{}", joined(perm.walk(i))));
        }
        put(&format!("carrier{rank}_key_index"), cand.to_string());
        put(
            &format!("carrier{rank}_payload_bits"),
            format!("{}..{}", bits.start, bits.end),
        );
        put(
            &format!("carrier{rank}_positions_0_15"),
            joined(&r.positions[..16]),
        );
        put(
            &format!("carrier{rank}_carried_bits_0_31"),
            bit_string(&r.carried, 32),
        );
        put(&format!("carrier{rank}_changed_samples"), r.changed.to_string());
        put(
            &format!("carrier{rank}_stego_sha256"),
            hex::encode(Sha256::digest(stego.concat())),
        );
        stegos.push((slot, stego));
    }
    // Extraction as the document describes it: (version 3) the salt from
    // any carrier and the key derived with it, the header from the first
    // carrier of the keyed order, then every carrier by rank.
    let key = match slot_salt {
        Some(salt) => {
            assert!(stegos.iter().all(|(_, p)| salt_slot(&p[0]) == Some(salt)));
            PlacementKey::derive_salted(V2_PASSWORD, &salt_slot(&stegos[0].1[0]).unwrap())
        }
        None => key,
    };
    let first = distinct[0];
    let (_, at_first) = stegos.iter().find(|(s, _)| s.key_index == first).unwrap();
    let refs: Vec<&[u8]> = at_first.iter().map(|p| p.as_slice()).collect();
    let found = Layout::locate_at(&key, &geo, first, &refs).unwrap();
    assert_eq!(
        (found.kind(), found.plane_set(), found.frame_count()),
        (LayoutKind::Carriers, PlaneSet::All, n)
    );
    let mut assembly = BodyAssembly::new(body_bits);
    for (slot, stego) in &stegos {
        let refs: Vec<&[u8]> = stego.iter().map(|p| p.as_slice()).collect();
        let mut part = BodyBits::zeroed(found.frame_bits(slot.rank));
        assert!(found.extract_slot(*slot, &refs, &mut part).unwrap().header_intact);
        assembly.add(&part).unwrap();
    }
    assert_eq!(found.open(&assembly, V2_PASSWORD).unwrap(), V2_MESSAGE);
    out
}

#[test]
fn version_2_vector_is_still_read_and_written_and_matches_the_formulas() {
    let doc = documented("v2");
    check("v2", compute_v2_or_v3(2, Some(&doc)));
}

#[test]
fn version_3_vector_with_its_salt_slot_matches_the_code_and_the_formulas() {
    check("v3", compute_v2_or_v3(3, None));
}
