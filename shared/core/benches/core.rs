//! Throughput of the hidden-data core on 2560×1440 luma planes.
//!
//! `cargo bench -p vidstega-core --bench core`
//!
//! Embedding and extraction run on a one-thread rayon pool, so the figures are
//! per core, on a reused frame buffer as in the pipeline; sealing and opening of a 10 MB message are measured both on one
//! thread and on all cores, with PBKDF2 at its minimum of 1,000 iterations
//! (≈0.3 ms, negligible at this size) and compression off.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vidstega_core::*;

const W: u32 = 2560;
const H: u32 = 1440;

fn noise(seed: u64, n: usize) -> Vec<u8> {
    (0..n as u64)
        .map(|i| mix64(seed ^ i.wrapping_mul(0x9e37_79b9)) as u8)
        .collect()
}

fn params() -> SealParams {
    SealParams {
        kdf_iterations: MIN_KDF_ITERATIONS,
        compress: false,
        ..SealParams::default()
    }
}

fn one_thread() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap()
}

fn embedding(c: &mut Criterion) {
    let key = PlacementKey::from_bytes([42; 32]);
    let g = FrameGeometry::gray(W, H).unwrap();
    let samples = g.samples(PlaneSet::Luma);
    let cover = noise(1, samples as usize);
    let pool = one_thread();
    let mut group = c.benchmark_group("1440p luma frame, 1 core");
    group.sample_size(20);
    for rate in [0.01, 0.10, 1.0] {
        let bits = (samples as f64 * rate) as u64 - HEADER_BITS;
        let len = max_message_len(&params(), bits).unwrap();
        let env = seal(&noise(2, len as usize), b"pw", &params()).unwrap();
        let layout = Layout::for_embedding(&key, env.header(), &g, PlaneSet::Luma, 1).unwrap();
        let body = BodyBits::whole(env.body().to_vec());
        let pct = (rate * 100.0) as u32;
        // As in the pipeline, one frame buffer is reused and refilled before
        // each embedding (an untimed copy of the cover, like the decoder's
        // pipe read), on the same thread, so the figure is the core's own cost.
        let mut frame = cover.clone();
        group.bench_function(format!("embed {pct}%"), |b| {
            b.iter_custom(|iters| {
                pool.install(|| {
                    let mut spent = std::time::Duration::ZERO;
                    for _ in 0..iters {
                        frame.copy_from_slice(&cover);
                        let start = std::time::Instant::now();
                        layout.embed_frame(0, &body, &mut [frame.as_mut_slice()]).unwrap();
                        spent += start.elapsed();
                    }
                    spent
                })
            })
        });
        let mut stego = cover.clone();
        layout.embed_frame(0, &body, &mut [stego.as_mut_slice()]).unwrap();
        let mut decoded = stego.clone();
        group.bench_function(format!("extract {pct}%"), |b| {
            b.iter_custom(|iters| {
                pool.install(|| {
                    let mut spent = std::time::Duration::ZERO;
                    for _ in 0..iters {
                        decoded.copy_from_slice(&stego);
                        let start = std::time::Instant::now();
                        let mut out = BodyBits::zeroed(layout.frame_bits(0));
                        layout.extract_frame(0, &[decoded.as_slice()], &mut out).unwrap();
                        spent += start.elapsed();
                        criterion::black_box(out);
                    }
                    spent
                })
            })
        });
        group.bench_function(format!("locate header ({pct}%)"), |b| {
            b.iter(|| Layout::locate(&key, &g, 0, &[stego.as_slice()]).unwrap())
        });
    }
    group.finish();
}

fn sealing(c: &mut Criterion) {
    let msg = noise(3, 10 << 20);
    let env = seal(&msg, b"pw", &params()).unwrap();
    let pool = one_thread();
    let mut group = c.benchmark_group("10 MB message");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(msg.len() as u64));
    group.bench_function("seal, 1 core", |b| {
        b.iter(|| pool.install(|| seal(&msg, b"pw", &params()).unwrap()))
    });
    group.bench_function("seal, all cores", |b| {
        b.iter(|| seal(&msg, b"pw", &params()).unwrap())
    });
    group.bench_function("unseal, 1 core", |b| {
        b.iter(|| pool.install(|| unseal(&env, b"pw").unwrap()))
    });
    group.finish();
}

criterion_group!(benches, embedding, sealing);
criterion_main!(benches);
