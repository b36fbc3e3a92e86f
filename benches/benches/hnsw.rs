//! Vector queries: the HNSW graph (hnsw_rs) unfiltered and filtered to the
//! typical brief's eligible set, against the exact parallel scan the
//! candidate stage falls back to (f32, and the int8 scan with f32 re-score
//! it runs, `quant::scan_top_k`).

use std::hint::black_box;

use cloutdesk_benches::{bench_snapshot, large_size, scenario, size_label};
use cloutdesk_engine::ann::{exact_top_k, hnsw_search};
use cloutdesk_engine::filter::eligible;
use cloutdesk_engine::quant::scan_top_k;
use criterion::{criterion_group, criterion_main, Criterion};

fn hnsw(c: &mut Criterion) {
    let n = large_size();
    let s = bench_snapshot(n);
    let graph = s
        .hnsw
        .as_ref()
        .expect("the benchmark snapshot has an HNSW graph");
    let typical = scenario(&s, "typical").expect("typical brief");
    let selective = scenario(&s, "selective").expect("selective brief");
    let q = &typical.brief.query_vector;
    let el = eligible(&typical.brief, &s).bits;
    let el_sel = eligible(&selective.brief, &s).bits;
    let label = format!("{} creators", size_label(n));
    let mut g = c.benchmark_group("hnsw");
    g.bench_function(format!("{label}/k=10, ef=64"), |b| {
        b.iter(|| black_box(hnsw_search(graph, black_box(q), 10, 64, None)))
    });
    g.bench_function(
        format!("{label}/k=2400, ef=2400, typical-eligible filter"),
        |b| b.iter(|| black_box(hnsw_search(graph, black_box(q), 2400, 2400, Some(&el)))),
    );
    g.bench_function(
        format!("{label}/k=100, ef=256, selective-eligible filter"),
        |b| b.iter(|| black_box(hnsw_search(graph, black_box(q), 100, 256, Some(&el_sel)))),
    );
    g.finish();
    let mut g = c.benchmark_group("exact vector scan");
    g.bench_function(format!("{label}/k=10"), |b| {
        b.iter(|| black_box(exact_top_k(&s.vectors, black_box(q), 10, None)))
    });
    g.bench_function(format!("{label}/k=2400, typical-eligible filter"), |b| {
        b.iter(|| black_box(exact_top_k(&s.vectors, black_box(q), 2400, Some(&el))))
    });
    g.finish();
    // What the candidate stage runs: int8 estimate + f32 re-score.
    let mut g = c.benchmark_group("int8 vector scan");
    g.bench_function(format!("{label}/k=10"), |b| {
        b.iter(|| black_box(scan_top_k(&s.qvectors, &s.vectors, black_box(q), 10, None)))
    });
    g.bench_function(format!("{label}/k=2400, typical-eligible filter"), |b| {
        b.iter(|| {
            black_box(scan_top_k(
                &s.qvectors,
                &s.vectors,
                black_box(q),
                2400,
                Some(&el),
            ))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = hnsw
}
criterion_main!(benches);
