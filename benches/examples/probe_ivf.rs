//! Research probe for the next step of issue 3 (not a benchmark, not on
//! any hot path): how many of a brief's eligible rows an IVF-style probe
//! (creators clustered by their vectors; clusters read in falling order of
//! the brief vector's dot product with their centroids) must read to
//! recover the exact semantic top-n of the candidate stage
//! ([`scan_top_k`], the int8 scan with f32 re-score).
//!
//! ```text
//! cargo build --release -p cloutdesk-benches --example probe_ivf
//! PROBE_CREATORS=1000000 PROBE_CLUSTERS=1024 PROBE_BRIEFS=60 \
//!     target/release/examples/probe_ivf
//! ```
//!
//! Clusters: spherical k-means (6 rounds) on a sample of about 60,000
//! rows, then every row assigned to its nearest centroid. For the fixed
//! benchmark briefs and the world's first `PROBE_BRIEFS` generated ones
//! (union mode only), prints the share of the exact top-n found after
//! reading 5, 10, 20, 30 and 50% of the eligible rows, cluster by cluster,
//! and the share an exact probe must read: clusters in falling order of
//! their bound (centroid dot product plus the query's norm times the
//! cluster's radius), stopping once the k-th best found reaches every
//! bound left.

use std::collections::HashSet;
use std::time::Instant;

use cloutdesk_benches::{env_usize, scenario, BenchWorld};
use cloutdesk_engine::brief::CampaignBrief;
use cloutdesk_engine::filter::eligible;
use cloutdesk_engine::quant::scan_top_k;
use cloutdesk_engine::table::VectorTable;
use cloutdesk_engine::topk::TopK;
use cloutdesk_engine::vector::dot;
use rayon::prelude::*;

/// The centroid (of `cent`) nearest to row `r` by dot product.
fn nearest(r: &[f32], cent: &[Vec<f32>]) -> usize {
    (0..cent.len())
        .max_by(|&a, &b| dot(r, &cent[a]).total_cmp(&dot(r, &cent[b])))
        .unwrap_or(0)
}

/// Spherical k-means of `v`'s rows in `sample` into `c` unit centroids.
fn kmeans(v: &VectorTable, sample: &[usize], c: usize) -> Vec<Vec<f32>> {
    let mut cent: Vec<Vec<f32>> = (0..c)
        .map(|k| v.row(sample[k * sample.len() / c]).to_vec())
        .collect();
    for _ in 0..6 {
        let asg: Vec<usize> = sample
            .par_iter()
            .map(|&i| nearest(v.row(i), &cent))
            .collect();
        let mut sum = vec![vec![0f32; v.dim]; c];
        for (&i, &k) in sample.iter().zip(&asg) {
            for (a, b) in sum[k].iter_mut().zip(v.row(i)) {
                *a += b;
            }
        }
        for (k, s) in sum.into_iter().enumerate() {
            let norm = s.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                cent[k] = s.iter().map(|x| x / norm).collect();
            }
        }
    }
    cent
}

fn main() -> anyhow::Result<()> {
    let creators = env_usize("PROBE_CREATORS", 1_000_000)?;
    let c = env_usize("PROBE_CLUSTERS", 1024)?.max(1);
    let extra = env_usize("PROBE_BRIEFS", 60)?;
    let world = BenchWorld::cached(creators);
    let s = world.open()?;
    let v = &s.vectors;
    let n = v.len();
    anyhow::ensure!(n >= c, "{n} creators for {c} clusters");
    let t = Instant::now();
    let sample: Vec<usize> = (0..n).step_by((n / 60_000).max(1)).collect();
    let cent = kmeans(v, &sample, c.min(sample.len()));
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); cent.len()];
    let asg: Vec<usize> = (0..n)
        .into_par_iter()
        .map(|i| nearest(v.row(i), &cent))
        .collect();
    for (i, k) in asg.into_iter().enumerate() {
        members[k].push(i as u32);
    }
    let radius: Vec<f32> = members
        .par_iter()
        .zip(&cent)
        .map(|(m, c)| {
            m.iter()
                .map(|&o| {
                    let r = v.row(o as usize);
                    r.iter()
                        .zip(c)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f32>()
                        .sqrt()
                })
                .fold(0f32, f32::max)
        })
        .collect();
    let mut rs = radius.clone();
    rs.sort_by(f32::total_cmp);
    eprintln!(
        "radius p10 {:.3} p50 {:.3} p90 {:.3}",
        rs[rs.len() / 10],
        rs[rs.len() / 2],
        rs[rs.len() * 9 / 10]
    );
    let mut exact_sum = 0f64;
    let sizes = members.iter().map(Vec::len);
    eprintln!(
        "{c} clusters in {:.1?}; sizes {}-{}",
        t.elapsed(),
        sizes.clone().min().unwrap_or(0),
        sizes.max().unwrap_or(0)
    );
    let mut briefs: Vec<CampaignBrief> = Vec::new();
    for name in ["typical", "broad", "lookalike"] {
        briefs.push(scenario(&s, name)?.brief);
    }
    briefs.extend(world.batch_briefs(&s)?.into_iter().take(extra));
    let shares = [0.05, 0.1, 0.2, 0.3, 0.5];
    let mut sums = vec![0f64; shares.len()];
    let mut union = 0usize;
    for b in &briefs {
        let el = eligible(b, &s);
        // The candidate stage's union mode (default options).
        if el.count <= 5_000 || b.query_vector.len() != v.dim {
            continue;
        }
        let k = 2_000usize.max(8 * b.creators_wanted as usize);
        let exact: HashSet<u32> = scan_top_k(&s.qvectors, v, &b.query_vector, k, Some(&el.bits))
            .into_iter()
            .map(|x| x.1)
            .collect();
        let mut order: Vec<(f32, usize)> = cent
            .iter()
            .enumerate()
            .map(|(j, x)| (dot(&b.query_vector, x), j))
            .collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut line = format!("{:>16} eligible {:>7} n {k}:", b.campaign_id, el.count);
        for (si, &share) in shares.iter().enumerate() {
            let budget = (share * el.count as f64) as usize;
            let (mut read, mut top) = (0usize, TopK::new(k));
            for &(_, j) in &order {
                for &o in &members[j] {
                    if el.bits.get(o as usize) {
                        read += 1;
                        top.push(dot(&b.query_vector, v.row(o as usize)), o);
                    }
                }
                if read >= budget {
                    break;
                }
            }
            let found = top
                .into_sorted()
                .iter()
                .filter(|x| exact.contains(&x.1))
                .count();
            let recall = found as f64 / exact.len().max(1) as f64;
            sums[si] += recall;
            line += &format!(" {:.0}%: {recall:.3}", share * 100.0);
        }
        // Exact pruning: clusters in falling order of their bound (centroid
        // dot plus the query's norm times the cluster's radius), stopping
        // once the k-th best found is at or above every bound left.
        let qn = dot(&b.query_vector, &b.query_vector).sqrt();
        let mut ub: Vec<(f32, usize)> = cent
            .iter()
            .enumerate()
            .map(|(j, x)| (dot(&b.query_vector, x) + qn * radius[j], j))
            .collect();
        ub.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (mut read, mut top) = (0usize, TopK::new(k + k / 4 + 32));
        for &(bound, j) in &ub {
            if top.kth().is_some_and(|t| t >= bound) {
                break;
            }
            for &o in &members[j] {
                if el.bits.get(o as usize) {
                    read += 1;
                    top.push(dot(&b.query_vector, v.row(o as usize)), o);
                }
            }
        }
        let pruned = read as f64 / el.count as f64;
        exact_sum += pruned;
        line += &format!(" exact stop after {:.1}%", pruned * 100.0);
        union += 1;
        println!("{line}");
    }
    let mean: Vec<String> = shares
        .iter()
        .zip(&sums)
        .map(|(share, sum)| format!("{:.0}%: {:.3}", share * 100.0, sum / union.max(1) as f64))
        .collect();
    println!(
        "exact pruning reads {:.1}% of eligible rows on average",
        100.0 * exact_sum / union.max(1) as f64
    );
    println!(
        "mean share of the exact top-n found over {union} union-mode briefs, by share of eligible rows read: {}",
        mean.join(", ")
    );
    Ok(())
}
