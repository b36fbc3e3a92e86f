//! Hard-rule bitmaps: the contract's hard filters as one parallel columnar
//! pass over every creator (`filter::eligible`), per benchmark brief.

use std::hint::black_box;

use cloutdesk_benches::{bench_snapshot, large_size, scenario_briefs, size_label};
use cloutdesk_engine::filter::eligible;
use criterion::{criterion_group, criterion_main, Criterion};

fn hard_rules(c: &mut Criterion) {
    let n = large_size();
    let s = bench_snapshot(n);
    let mut g = c.benchmark_group("filter");
    for sc in scenario_briefs(&s).expect("benchmark briefs") {
        let count = eligible(&sc.brief, &s).count;
        eprintln!("{} brief: {count} of {} eligible", sc.name, s.len());
        g.bench_function(
            format!("{} creators/{} brief", size_label(n), sc.name),
            |b| b.iter(|| black_box(eligible(black_box(&sc.brief), &s).count)),
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = hard_rules
}
criterion_main!(benches);
