//! One whole match (hard rules, candidates, signals, selection, reasons)
//! per benchmark brief, at 100k and at 1M creators.

use std::hint::black_box;

use cloutdesk_benches::{bench_snapshot, large_size, scenario_briefs, size_label, SMALL};
use cloutdesk_engine::matcher::Matcher;
use criterion::{criterion_group, criterion_main, Criterion};

fn one_match(c: &mut Criterion) {
    let m = Matcher::default();
    let mut sizes = vec![SMALL, large_size()];
    sizes.dedup();
    for n in sizes {
        let s = bench_snapshot(n);
        let mut g = c.benchmark_group("match");
        for sc in scenario_briefs(&s).expect("benchmark briefs") {
            g.bench_function(
                format!("{} creators/{} brief", size_label(n), sc.name),
                |b| b.iter(|| black_box(m.select(&s, black_box(&sc.brief)))),
            );
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = one_match
}
criterion_main!(benches);
