use cloutdesk_benches::{scenario, BenchWorld};
use cloutdesk_engine::filter::eligible;
use cloutdesk_engine::quant::{estimate, quantize_query, scan_top_k};
use cloutdesk_engine::topk::TopK;
use rayon::prelude::*;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let world = BenchWorld::cached(1_000_000);
    let s = world.open()?;
    let sc = scenario(&s, "typical")?;
    let b = &sc.brief;
    let el = eligible(b, &s);
    let n = 2400;
    let q = &s.qvectors;
    let qq = quantize_query(&b.query_vector);
    let total = q.len();
    for round in 0..5 {
        let t = Instant::now();
        for _ in 0..20 {
            std::hint::black_box(scan_top_k(
                q,
                &s.vectors,
                &b.query_vector,
                n,
                Some(&el.bits),
            ));
        }
        let a = t.elapsed().as_secs_f64() * 1000.0 / 20.0;
        let t = Instant::now();
        for _ in 0..20 {
            let words = el.bits.words();
            let r = (0..total.div_ceil(4096))
                .into_par_iter()
                .map(|c| {
                    let mut tk = TopK::new(3000);
                    let lo = c * 4096;
                    let hi = (lo + 4096).min(total);
                    for i in lo..hi {
                        let e = estimate(q, &qq, i);
                        if words[i / 64] >> (i % 64) & 1 == 1 {
                            tk.push(e, i as u32);
                        }
                    }
                    tk
                })
                .reduce(|| TopK::new(3000), TopK::merge);
            std::hint::black_box(r);
        }
        let d = t.elapsed().as_secs_f64() * 1000.0 / 20.0;
        let t = Instant::now();
        for _ in 0..20 {
            let r: i64 = (0..total.div_ceil(4096))
                .into_par_iter()
                .map(|c| {
                    let lo = c * 4096;
                    let hi = (lo + 4096).min(total);
                    let mut acc = 0i64;
                    for i in lo..hi {
                        acc += q.row(i)[(i * 7) % 64] as i64;
                    }
                    acc
                })
                .sum();
            std::hint::black_box(r);
        }
        let f = t.elapsed().as_secs_f64() * 1000.0 / 20.0;
        eprintln!("round {round}: eligible scan {a:.2} ms, dense scan {d:.2} ms, touch every row {f:.2} ms");
    }
    Ok(())
}
