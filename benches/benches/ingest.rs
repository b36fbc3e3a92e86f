//! Ingest of the cached 100k world: contract files (CSV) to a published
//! snapshot with tables and text index, into a fresh data dir each time.
//! The vector index is timed by `cloutdesk bench` (one build per run).

use std::time::Duration;

use cloutdesk_benches::{size_label, BenchWorld, SMALL};
use cloutdesk_ingest::NoProgress;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn ingest(c: &mut Criterion) {
    let w = BenchWorld::cached(SMALL);
    let (info, _) = w.ensure_source().expect("benchmark world source");
    let out = w.dir.join("data.criterion");
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(info.creators as u64));
    g.measurement_time(Duration::from_secs(60));
    g.bench_function(
        format!(
            "{} creators + {} performance rows/tables + text",
            size_label(info.creators),
            info.performance_rows
        ),
        |b| {
            b.iter(|| {
                w.ingest_fresh(&out, &NoProgress)
                    .expect("ingest of the benchmark world")
            })
        },
    );
    g.finish();
    let _ = std::fs::remove_dir_all(&out);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = ingest
}
criterion_main!(benches);
