//! The nightly re-rank's global assignment (`assign::assign`) on its own:
//! the 100k world's 1,000 generated briefs, each scored and cut to its
//! pool as `cloutdesk rerank` does (the best `max(2,000, 8 x wanted)` by
//! value per dollar and by value), every campaign taken five times so that
//! campaigns compete for the same creators as in the 10,000 x 1M re-rank
//! (which repeats the 1M world's 1,000 briefs ten times). The pools are
//! built once; only the assignment is timed.

use std::hint::black_box;

use cloutdesk_benches::{bench_snapshot, BenchWorld, SMALL};
use cloutdesk_engine::assign::{assign, truncate_pool, AssignOptions, CampaignPool};
use cloutdesk_engine::matcher::Matcher;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Copies of each campaign (campaigns competing for the same creators).
const COPIES: usize = 5;

fn assignment(c: &mut Criterion) {
    let s = bench_snapshot(SMALL);
    let briefs = BenchWorld::cached(SMALL)
        .batch_briefs(&s)
        .expect("the world's generated briefs");
    let m = Matcher::default();
    let pools: Vec<CampaignPool> = briefs
        .iter()
        .map(|b| {
            let pool = m.score_pool(&s, b);
            let k = 2000usize.max(8 * b.creators_wanted as usize);
            let scored = truncate_pool(pool.scored, k, |x| x.value, |x| x.fee_cents, |x| x.ordinal);
            CampaignPool {
                items: Matcher::items(&scored),
                budget_cents: b.budget_cents(),
                wanted: b.creators_wanted as usize,
                caps: Matcher::caps(b),
                previous: Vec::new(),
            }
        })
        .collect();
    let pools: Vec<CampaignPool> = (0..COPIES).flat_map(|_| pools.iter().cloned()).collect();
    let opts = AssignOptions::default();
    let mut g = c.benchmark_group("assign");
    g.throughput(Throughput::Elements(pools.len() as u64));
    g.bench_function(
        format!(
            "100k creators/{} campaigns ({COPIES} x {})",
            pools.len(),
            briefs.len()
        ),
        |bn| bn.iter(|| black_box(assign(black_box(&pools), &s.hot.capacity, &opts).rounds)),
    );
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = assignment
}
criterion_main!(benches);
