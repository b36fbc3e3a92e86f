//! BM25 candidates: the brief's words against the tantivy index, every
//! match collected with its score and restricted to the eligible set (what
//! the candidate stage runs), per benchmark brief.

use std::hint::black_box;

use cloutdesk_benches::{bench_snapshot, large_size, scenario_briefs, size_label};
use cloutdesk_engine::filter::eligible;
use criterion::{criterion_group, criterion_main, Criterion};

fn bm25(c: &mut Criterion) {
    let n = large_size();
    let s = bench_snapshot(n);
    let text = s
        .text
        .as_ref()
        .expect("the benchmark snapshot has a text index");
    let mut g = c.benchmark_group("bm25");
    for sc in scenario_briefs(&s).expect("benchmark briefs") {
        let allowed = eligible(&sc.brief, &s).bits;
        let Some(q) = text.build_query(&sc.brief.text_query) else {
            continue;
        };
        eprintln!(
            "{} brief: {} eligible matches",
            sc.name,
            text.scores(q.as_ref(), &allowed).len()
        );
        g.bench_function(
            format!(
                "{} creators/{} brief, eligible-filtered",
                size_label(n),
                sc.name
            ),
            |b| b.iter(|| black_box(text.scores(q.as_ref(), &allowed).len())),
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bm25
}
criterion_main!(benches);
