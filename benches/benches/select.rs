//! Portfolio selection over 10k scored candidates (lazy greedy over six
//! slot prices plus the best single creator), with and without diversity
//! caps. The candidates are the first 10k eligible creators of the typical
//! brief on the 100k world, scored exactly.

use std::hint::black_box;

use cloutdesk_benches::{bench_snapshot, scenario, SMALL};
use cloutdesk_engine::matcher::{MatchOptions, Matcher};
use cloutdesk_engine::select::{select, Caps};
use criterion::{criterion_group, criterion_main, Criterion};

fn selection(c: &mut Criterion) {
    let s = bench_snapshot(SMALL);
    let sc = scenario(&s, "typical").expect("typical brief");
    let b = &sc.brief;
    let m = Matcher::new(MatchOptions {
        force_exact: true,
        ..MatchOptions::default()
    });
    let pool = m.score_pool(&s, b);
    let take = pool.scored.len().min(10_000);
    let items = Matcher::items(&pool.scored[..take]);
    let label = format!("{}k candidates", take / 1000);
    let wanted = b.creators_wanted as usize;
    let budget = b.budget_cents();
    let mut g = c.benchmark_group("select");
    g.bench_function(format!("{label}/{wanted} wanted, no caps"), |bn| {
        bn.iter(|| black_box(select(black_box(&items), budget, wanted, &Caps::default())))
    });
    let caps = Caps {
        per_niche: Some(wanted / 5),
        per_country: Some(wanted / 5),
        per_tier: Some(wanted / 2),
    };
    g.bench_function(
        format!("{label}/{wanted} wanted, caps 20% per niche and country"),
        |bn| bn.iter(|| black_box(select(black_box(&items), budget, wanted, &caps))),
    );
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = selection
}
criterion_main!(benches);
