//! Research probe for issue 3 (not a benchmark, not on any hot path): the
//! brief's BM25 over its eligible creators by tantivy's union scorer
//! ([`TextIndex::full_scores`]) against term at a time
//! ([`TextIndex::union_scores`]): same scores (checked bit for bit here),
//! and each one's median time (`RAYON_NUM_THREADS=1`: on one thread), for
//! the fixed benchmark briefs
//! and the world's first `PROBE_BRIEFS` generated ones.
//! `PROBE_TERMS=1` also lists each brief's clauses with their document
//! frequencies.
//!
//! ```text
//! cargo build --release -p cloutdesk-benches --example probe_bm25
//! PROBE_CREATORS=1000000 PROBE_RUNS=50 target/release/examples/probe_bm25
//! ```

use std::time::Instant;

use cloutdesk_benches::{env_usize, scenario, BenchWorld};
use cloutdesk_engine::brief::CampaignBrief;
use cloutdesk_engine::filter::eligible;
use cloutdesk_engine::text::TermUnion;

fn main() -> anyhow::Result<()> {
    let extra = env_usize("PROBE_BRIEFS", 10)?;
    let runs = env_usize("PROBE_RUNS", 50)?;
    let world = BenchWorld::cached(env_usize("PROBE_CREATORS", 1_000_000)?);
    let s = world.open()?;
    let text = s.text.as_ref().expect("a text index");
    let mut briefs: Vec<(String, CampaignBrief)> = Vec::new();
    for name in ["broad", "typical", "lookalike"] {
        briefs.push((name.to_string(), scenario(&s, name)?.brief));
    }
    for b in world.batch_briefs(&s)?.into_iter().take(extra) {
        briefs.push((b.campaign_id.clone(), b));
    }
    println!("| brief | eligible | postings | matches | union scorer ms | term at a time ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, b) in &briefs {
        let el = eligible(b, &s);
        let Some(q) = text.build_query(&b.text_query) else {
            continue;
        };
        let u = q.downcast_ref::<TermUnion>().expect("a term union");
        let postings: u64 = u.clauses().iter().map(|(t, _)| text.doc_freq(t)).sum();
        if std::env::var_os("PROBE_TERMS").is_some() {
            for (t, boost) in u.clauses() {
                eprintln!("  {name}: {:?} boost {boost} df {}", t, text.doc_freq(t));
            }
        }
        let full = text.full_scores(q.as_ref(), &el.bits);
        let taat = text.union_scores(u, &el.bits).expect("tantivy");
        assert_eq!(full.len(), taat.len(), "{name}");
        for (a, b2) in full.iter().zip(&taat) {
            assert_eq!(a.1, b2.1, "{name}");
            assert_eq!(a.0.to_bits(), b2.0.to_bits(), "{name} ordinal {}", a.1);
        }
        let time = |f: &dyn Fn() -> usize| {
            let mut v: Vec<f64> = (0..runs)
                .map(|_| {
                    let t = Instant::now();
                    std::hint::black_box(f());
                    t.elapsed().as_secs_f64() * 1e3
                })
                .collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let a = time(&|| text.full_scores(q.as_ref(), &el.bits).len());
        let c = time(&|| text.union_scores(u, &el.bits).unwrap().len());
        println!(
            "| {name} | {} | {postings} | {} | {a:.3} | {c:.3} |",
            el.count,
            full.len()
        );
    }
    Ok(())
}
