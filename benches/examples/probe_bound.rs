//! Research probe for issue 3 (not a benchmark, not on any hot path): how
//! many eligible creators the value retriever must evaluate, i.e. whose
//! bound ([`BriefScorer::value_bound`]) reaches the k-th best estimate,
//! with the overall-rate bound (a creator none of whose history is in the
//! brief's niches is predicted its overall rate) and, for comparison,
//! with the any-rate bound alone (`BoundWords::value_bound`: the best of
//! its overall and niche rates). Union-mode briefs only: the fixed
//! benchmark briefs and the world's first `PROBE_BRIEFS` generated ones.
//!
//! ```text
//! cargo build --release -p cloutdesk-benches --example probe_bound
//! PROBE_CREATORS=1000000 PROBE_BRIEFS=20 target/release/examples/probe_bound
//! ```

use cloutdesk_benches::{env_usize, scenario, BenchWorld};
use cloutdesk_engine::brief::CampaignBrief;
use cloutdesk_engine::candidates::{best_per_dollar, CandidateOptions};
use cloutdesk_engine::filter::eligible;
use cloutdesk_engine::signals::BriefScorer;
use cloutdesk_engine::snapshot::bloom_bit;

fn main() -> anyhow::Result<()> {
    let extra = env_usize("PROBE_BRIEFS", 20)?;
    let world = BenchWorld::cached(env_usize("PROBE_CREATORS", 1_000_000)?);
    let s = world.open()?;
    let opts = CandidateOptions::default();
    let mut briefs: Vec<(String, CampaignBrief)> = Vec::new();
    for name in ["broad", "typical", "lookalike"] {
        briefs.push((name.to_string(), scenario(&s, name)?.brief));
    }
    for b in world.batch_briefs(&s)?.into_iter().take(extra) {
        briefs.push((b.campaign_id.clone(), b));
    }
    let h = &s.hot;
    let (mut tot_now, mut tot_any) = (0usize, 0usize);
    println!("| brief | eligible | n | reach the k-th (overall-rate bound) | (any-rate bound) |");
    println!("|---|---:|---:|---:|---:|");
    for (name, b) in &briefs {
        let el = eligible(b, &s);
        if el.count <= opts.exact_limit {
            continue;
        }
        let sc = BriefScorer::new(b, &s);
        let niche_bits = b
            .niches
            .iter()
            .filter_map(|n| s.dicts.niche_index.get(n))
            .fold(0u64, |m, &c| m | bloom_bit(c));
        let n = opts
            .min_per_source
            .max(opts.per_wanted * b.creators_wanted as usize);
        let kth = best_per_dollar(&sc, &el.bits, n)
            .last()
            .map_or(0.0, |x| x.0);
        let (mut now, mut any) = (0usize, 0usize);
        for i in el.bits.iter_ones() {
            let w = h.bound_words[i];
            let ub = sc.value_bound(i);
            let base = if w.hist_bloom & niche_bits == 0 {
                w.overall_bound
            } else {
                w.value_bound
            };
            // The brief's factors times the any-rate bound.
            let any_rate = if base > 0.0 {
                ub / base * w.value_bound
            } else {
                w.value_bound
            };
            now += usize::from(ub >= kth);
            any += usize::from(any_rate >= kth);
        }
        tot_now += now;
        tot_any += any;
        println!("| {name} | {} | {n} | {now} | {any} |", el.count);
    }
    println!("| total | | | {tot_now} | {tot_any} |");
    Ok(())
}
