//! The floors the match figures are compared with: a plain parallel scan of
//! the hard-rule columns of every creator, and a dot product of the brief
//! vector with every creator vector.

use std::hint::black_box;

use cloutdesk_benches::{bench_snapshot, floor_scan, large_size, size_label, FLOOR_BYTES_PER_ROW};
use cloutdesk_engine::vector::dot;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rayon::prelude::*;

fn floor(c: &mut Criterion) {
    let n = large_size();
    let s = bench_snapshot(n);
    let label = format!("{} creators", size_label(n));
    let mut g = c.benchmark_group("floor");
    g.throughput(Throughput::Bytes((s.len() * FLOOR_BYTES_PER_ROW) as u64));
    g.bench_function(format!("{label}/scan of hard-rule columns"), |b| {
        b.iter(|| black_box(floor_scan(&s)))
    });
    let q = s.vectors.row(0).to_vec();
    g.throughput(Throughput::Bytes((s.vectors.data.len() * 4) as u64));
    g.bench_function(
        format!("{label}/dot with every vector ({} dims)", s.vectors.dim),
        |b| {
            b.iter(|| {
                (0..s.len())
                    .into_par_iter()
                    .with_min_len(4096)
                    .map(|i| dot(&q, s.vectors.row(i)))
                    .sum::<f32>()
            })
        },
    );
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = floor
}
criterion_main!(benches);
