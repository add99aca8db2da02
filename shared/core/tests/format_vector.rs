//! The test vector published in `docs/format.md` must be what this code
//! computes. The test recomputes every value and compares it with the
//! document's `test-vector` block; run with `VIDSTEGA_PRINT_VECTOR=1` to print
//! the block when the format changes on purpose.

use sha2::{Digest, Sha256};
use vidstega_core::*;

fn compute() -> Vec<(String, String)> {
    let password = b"VidStega test vector";
    let message = b"Hidden in plain sight.";
    let salt: [u8; 16] = core::array::from_fn(|i| i as u8);
    let params = SealParams {
        kdf_iterations: 1000,
        compress: false,
        data_shards: 2,
        parity_shards: 1,
        max_shard_len: 16_384,
    };
    let env = seal_with_salt(message, password, &params, salt).unwrap();
    let key = PlacementKey::derive(password);
    let g = FrameGeometry::gray(32, 32).unwrap();
    let layout = Layout::for_embedding(&key, env.header(), &g, PlaneSet::Luma, 2).unwrap();
    let body = BodyBits::whole(env.body().to_vec());
    let mut out = vec![
        (
            "password".to_string(),
            String::from_utf8_lossy(password).into_owned(),
        ),
        (
            "message".to_string(),
            String::from_utf8_lossy(message).into_owned(),
        ),
        ("placement_key".to_string(), hex::encode(key.as_bytes())),
        ("envelope".to_string(), hex::encode(env.to_bytes())),
        ("body_bits".to_string(), env.header().body_bits().to_string()),
    ];
    for f in 0..2u64 {
        let r = layout.frame_bits(f);
        out.push((
            format!("frame{f}_payload_bits"),
            format!("{}..{}", r.start, r.end),
        ));
        let pos: Vec<String> = layout.positions(f, 16).iter().map(u64::to_string).collect();
        out.push((format!("frame{f}_positions_0_15"), pos.join(",")));
        let carried = layout.carried_bits(f, &body).unwrap();
        let bits: String = (0..32)
            .map(|i| {
                if carried[i / 8] >> (7 - i % 8) & 1 == 1 {
                    '1'
                } else {
                    '0'
                }
            })
            .collect();
        out.push((format!("frame{f}_carried_bits_0_31"), bits));
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
        if f == 0 {
            let found = Layout::locate(&key, &g, 0, &[plane.as_slice()]).unwrap();
            assert_eq!(found.envelope_header(), env.header());
        }
    }
    out
}

#[test]
fn docs_test_vector_matches_the_code() {
    let computed = compute();
    if std::env::var_os("VIDSTEGA_PRINT_VECTOR").is_some() {
        for (k, v) in &computed {
            println!("{k}: {v}");
        }
    }
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/format.md"))
        .expect("docs/format.md exists");
    let block = doc
        .split("```test-vector\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/format.md has a ```test-vector block");
    let documented: Vec<(String, String)> = block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once(": ").expect("key: value lines");
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    assert_eq!(documented, computed, "docs/format.md's test vector is stale");
}
