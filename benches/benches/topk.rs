//! Bounded top-k over 1M scores (`topk::top_k_of_scores`, parallel chunks)
//! against the definition it must equal: sort everything and truncate.

use std::hint::black_box;

use cloutdesk_engine::topk::{cmp_best_first, top_k_of_scores};
use criterion::{criterion_group, criterion_main, Criterion};

fn scores(n: usize) -> Vec<f32> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

fn topk(c: &mut Criterion) {
    let n = 1_000_000;
    let v = scores(n);
    let mut g = c.benchmark_group("topk");
    for k in [100usize, 1_000, 10_000] {
        g.bench_function(format!("1M scores/k={k}"), |b| {
            b.iter(|| black_box(top_k_of_scores(black_box(&v), k)))
        });
    }
    g.bench_function("1M scores/k=1000, sort and truncate (baseline)", |b| {
        b.iter(|| {
            let mut all: Vec<(f32, u32)> =
                v.iter().enumerate().map(|(i, &s)| (s, i as u32)).collect();
            all.sort_unstable_by(cmp_best_first);
            all.truncate(1000);
            black_box(all)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = topk
}
criterion_main!(benches);
