//! `select_many` of the world's generated briefs in parallel (the nightly
//! batch): all 1,000 at 100k, the first 100 at 1M; throughput in briefs/s.

use std::hint::black_box;

use cloutdesk_benches::{bench_snapshot, large_size, size_label, BenchWorld, SMALL};
use cloutdesk_engine::matcher::Matcher;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn batch(c: &mut Criterion) {
    let m = Matcher::default();
    let mut sizes = vec![SMALL, large_size()];
    sizes.dedup();
    for n in sizes {
        let s = bench_snapshot(n);
        let mut briefs = BenchWorld::cached(n)
            .batch_briefs(&s)
            .expect("the world's generated briefs");
        // Ten samples of the whole batch at 1M would take minutes: the
        // large world runs the first 100 (`cloutdesk bench` runs all 1,000).
        if n > SMALL {
            briefs.truncate(100);
        }
        let mut g = c.benchmark_group("select_many");
        g.throughput(Throughput::Elements(briefs.len() as u64));
        g.bench_function(
            format!("{} creators/{} briefs", size_label(n), briefs.len()),
            |b| b.iter(|| black_box(m.select_many(&s, black_box(&briefs)).len())),
        );
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = batch
}
criterion_main!(benches);
