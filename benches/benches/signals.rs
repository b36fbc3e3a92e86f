//! Each signal over every creator (1M rows), in parallel as the matcher
//! runs them, for the typical brief. The engine exposes `geo_fit`,
//! `predicted_er`, `quick_value_per_dollar` and `score` (all seven
//! signals, the value and the headline score together); `semantic` is the
//! brief-creator dot product. Text relevance is BM25 (`bm25.rs`).

use std::hint::black_box;

use cloutdesk_benches::{bench_snapshot, large_size, scenario, size_label};
use cloutdesk_engine::signals::BriefScorer;
use cloutdesk_engine::vector::dot;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rayon::prelude::*;

fn signals(c: &mut Criterion) {
    let n = large_size();
    let s = bench_snapshot(n);
    let sc = scenario(&s, "typical").expect("typical brief");
    let b = &sc.brief;
    let scorer = BriefScorer::new(b, &s);
    let rows = s.len();
    let mut g = c.benchmark_group("signal");
    g.throughput(Throughput::Elements(rows as u64));
    let label = format!("{} rows", size_label(n));
    g.bench_function(
        format!("{label}/semantic (dot, {} dims)", s.vectors.dim),
        |bn| {
            bn.iter(|| {
                (0..rows)
                    .into_par_iter()
                    .with_min_len(4096)
                    .map(|i| dot(&b.query_vector, s.vectors.row(i)))
                    .sum::<f32>()
            })
        },
    );
    g.bench_function(format!("{label}/audience geo fit"), |bn| {
        bn.iter(|| {
            (0..rows)
                .into_par_iter()
                .with_min_len(4096)
                .map(|i| scorer.geo_fit(i).unwrap_or(0.0))
                .sum::<f32>()
        })
    });
    g.bench_function(format!("{label}/predicted engagement"), |bn| {
        bn.iter(|| {
            (0..rows)
                .into_par_iter()
                .with_min_len(4096)
                .map(|i| scorer.predicted_er(i).0)
                .sum::<f32>()
        })
    });
    g.bench_function(format!("{label}/quick value per dollar"), |bn| {
        bn.iter(|| {
            (0..rows)
                .into_par_iter()
                .with_min_len(4096)
                .map(|i| scorer.quick_value_per_dollar(i))
                .filter(|v| v.is_finite())
                .sum::<f32>()
        })
    });
    g.bench_function(format!("{label}/all signals + value (score)"), |bn| {
        bn.iter(|| {
            (0..rows)
                .into_par_iter()
                .with_min_len(4096)
                .map(|i| black_box(scorer.score(i, 0.5, 0.5)).value)
                .sum::<f64>()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = signals
}
criterion_main!(benches);
