//! Research probe for issue 3 (not a benchmark, not on any hot path):
//! what the one-brief candidate pass spends its time on, for the typical
//! brief at 1M. Each variant is one parallel pass over the brief's
//! eligible rows (the same ranges as the real pass), timed apart,
//! alternated round by round:
//!
//! - `iterate`: the set bits alone;
//! - `dot`: the int8 estimate of every row into a shortlist (portable
//!   code, rows asked for 24 ahead);
//! - `bound`: the value bound of every row into a `Bounded`;
//! - `both`: the two, as the row-at-a-time pass does;
//! - `bound-words`: only reading each row's bound words;
//! - `kernel`: the AVX-512 pass (`pass512`), when the CPU has it.
//!
//! ```text
//! cargo build --release -p cloutdesk-benches --example probe_pass
//! PROBE_RUNS=200 target/release/examples/probe_pass
//! ```

use std::time::Instant;

use cloutdesk_benches::{env_usize, scenario, BenchWorld};
use cloutdesk_engine::bitset::for_each_one_fetching_rows;
use cloutdesk_engine::filter::eligible;
use cloutdesk_engine::mem::prefetch;
use cloutdesk_engine::pass512::one_brief_pass;
use cloutdesk_engine::quant::{estimate, quantize_query, shortlist_len};
use cloutdesk_engine::signals::BriefScorer;
use cloutdesk_engine::topk::{Bounded, TopK};

fn main() -> anyhow::Result<()> {
    let runs = env_usize("PROBE_RUNS", 200)?.max(10);
    let world = BenchWorld::cached(env_usize("PROBE_CREATORS", 1_000_000)?);
    let s = world.open()?;
    let b = scenario(&s, "typical")?.brief;
    let el = eligible(&b, &s);
    let sc = BriefScorer::new(&b, &s);
    let q = &s.qvectors;
    let qq = quantize_query(&b.query_vector);
    let k = shortlist_len(8 * b.creators_wanted as usize);
    let bw = &s.hot.bound_words;
    let variants = ["iterate", "dot", "bound", "both", "bound-words", "kernel"];
    let mut times = vec![Vec::new(); variants.len()];
    let mut sink = 0u64;
    for r in 0..runs {
        for (v, name) in variants.iter().enumerate() {
            let t = Instant::now();
            let x: u64 = el.bits.par_ranges(
                |words, base| {
                    let mut acc = 0u64;
                    let mut tk = TopK::new(k);
                    let rows = words.iter().map(|w| w.count_ones() as usize).sum();
                    let mut bd = Bounded::with_capacity(rows);
                    if *name == "kernel" {
                        let mut shorts = vec![TopK::new(k)];
                        let qqs = std::slice::from_ref(&qq);
                        let ran = one_brief_pass(&sc, qqs, &mut shorts, &mut bd, words, base);
                        return u64::from(ran.is_some()) + shorts.len() as u64;
                    }
                    let fetch = |i: usize| match *name {
                        "dot" => prefetch(q.row_ptr(i)),
                        "bound" | "bound-words" => prefetch(bw.as_ptr().wrapping_add(i)),
                        "both" => {
                            prefetch(q.row_ptr(i));
                            prefetch(bw.as_ptr().wrapping_add(i));
                        }
                        _ => {}
                    };
                    for_each_one_fetching_rows(words, base, 24, fetch, |i| match *name {
                        "iterate" => acc += i as u64,
                        "dot" => tk.push(estimate(q, &qq, i), i as u32),
                        "bound" => bd.push(sc.value_bound(i), i as u32),
                        "bound-words" => acc += bw[i].value_bound.to_bits() as u64,
                        _ => {
                            tk.push(estimate(q, &qq, i), i as u32);
                            bd.push(sc.value_bound(i), i as u32);
                        }
                    });
                    acc + tk.into_unsorted().len() as u64
                },
                || 0,
                |a, b| a + b,
            );
            sink = sink.wrapping_add(x);
            if r >= 5 {
                times[v].push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    println!("typical brief, {} eligible rows, shortlist {k}", el.count);
    for (v, name) in variants.iter().enumerate() {
        let t = &mut times[v];
        t.sort_by(f64::total_cmp);
        println!(
            "{name:>12}: p50 {:.3} ms, p10 {:.3} ms",
            t[t.len() / 2],
            t[t.len() / 10]
        );
    }
    println!("(checksum {sink})");
    Ok(())
}
