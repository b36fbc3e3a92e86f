//! A steady loop of matches on a cached benchmark world, for profilers
//! (`perf record`) and quick before/after checks; not a benchmark (see
//! `cloutdesk bench` and the criterion benches for figures).
//!
//! ```text
//! cargo build --release -p cloutdesk-benches --example profile_match
//! PROFILE_CREATORS=1000000 PROFILE_BRIEF=typical PROFILE_RUNS=300 \
//!     target/release/examples/profile_match
//! PROFILE_MANY=1000 PROFILE_RUNS=3 target/release/examples/profile_match
//! ```
//!
//! `PROFILE_BRIEF` is one of the fixed benchmark briefs (`broad`,
//! `typical`, `selective`, `lookalike`); `PROFILE_MANY=k` runs
//! `select_many` over the world's first `k` generated briefs instead.

use std::time::Instant;

use cloutdesk_benches::{env_usize, scenario, BenchWorld};
use cloutdesk_engine::matcher::Matcher;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let k = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[k.min(sorted.len() - 1)]
}

fn main() -> anyhow::Result<()> {
    let creators = env_usize("PROFILE_CREATORS", 1_000_000)?;
    let runs = env_usize("PROFILE_RUNS", 200)?.max(1);
    let many = env_usize("PROFILE_MANY", 0)?;
    let t = Instant::now();
    let world = BenchWorld::cached(creators);
    let s = world.open()?;
    eprintln!("{creators} creators loaded in {:.1?}", t.elapsed());
    let m = Matcher::default();
    if many > 0 {
        let briefs = world.batch_briefs(&s)?;
        let briefs = &briefs[..many.min(briefs.len())];
        for _ in 0..runs {
            let t = Instant::now();
            let out = m.select_many(&s, briefs);
            let secs = t.elapsed().as_secs_f64();
            std::hint::black_box(out);
            eprintln!(
                "select_many: {} briefs in {secs:.2} s = {:.0} briefs/s",
                briefs.len(),
                briefs.len() as f64 / secs
            );
        }
        return Ok(());
    }
    let name = std::env::var("PROFILE_BRIEF").unwrap_or_else(|_| "typical".into());
    let sc = scenario(&s, &name)?;
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let out = m.select(&s, &sc.brief);
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(out);
    }
    ms.sort_by(f64::total_cmp);
    eprintln!(
        "{name}: {runs} matches, p10 {:.2} ms, p50 {:.2} ms, p90 {:.2} ms",
        percentile(&ms, 0.1),
        percentile(&ms, 0.5),
        percentile(&ms, 0.9)
    );
    Ok(())
}
