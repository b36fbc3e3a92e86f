//! Vector search: the HNSW graph (hnsw_rs, dot distance on unit vectors)
//! and the exact scan it is measured against.
//!
//! Vectors enter the graph scaled by [`HNSW_SCALE`] (< 1): hnsw_rs's scalar
//! `DistDot` asserts `1 - dot >= 0`, which rounding can break for two unit
//! vectors; scaling keeps the order and the assertion. Invariant: every
//! similarity returned here is a cosine in [-1, 1].

use hnsw_rs::anndists::dist::distances::DistDot;
use hnsw_rs::hnsw::Hnsw;
use rayon::prelude::*;

use crate::bitset::Bitset;
use crate::table::VectorTable;
use crate::topk::TopK;
use crate::vector::dot;

pub type Graph = Hnsw<'static, f32, DistDot>;

pub const HNSW_SCALE: f32 = 0.999;

#[derive(Debug, Clone, Copy)]
pub struct HnswParams {
    pub max_nb_connection: usize,
    pub ef_construction: usize,
    pub builder: HnswBuilder,
}

/// Who builds the graph; either way hnsw_rs loads and searches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HnswBuilder {
    /// [`crate::hnsw_build`]: flat arrays, int8 distances, written in
    /// hnsw_rs's dump format.
    #[default]
    Native,
    /// hnsw_rs's own parallel insertion ([`build_hnsw`]).
    HnswRs,
}

impl HnswBuilder {
    pub fn as_str(self) -> &'static str {
        match self {
            HnswBuilder::Native => "native",
            HnswBuilder::HnswRs => "hnsw_rs",
        }
    }
}

/// M = 16, ef_construction = 100: recall@10 0.97-0.98 at 1M (searched
/// with ef 128). Cheaper settings (`--hnsw-m`, `--hnsw-ef-construction`)
/// build faster but lose more recall at 1M than at 100k: M = 12,
/// ef_construction = 40 built the 1M graph in 253 s instead of 400-415 s
/// for recall 0.91 (0.98 at 100k; BENCHMARKS.md). ef_construction at or
/// below 2M, the layer-0 width, loses recall badly in hnsw_rs.
impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            max_nb_connection: 16,
            ef_construction: 100,
            builder: HnswBuilder::Native,
        }
    }
}

/// Builds the graph with parallel insertion, reporting progress per batch.
pub fn build_hnsw(v: &VectorTable, p: HnswParams, progress: &(dyn Fn(u64) + Sync)) -> Graph {
    let n = v.len();
    let mut g: Graph = Hnsw::new(
        p.max_nb_connection,
        n.max(1),
        16,
        p.ef_construction,
        DistDot,
    );
    let scaled: Vec<f32> = v.data.iter().map(|x| x * HNSW_SCALE).collect();
    const BATCH: usize = 20_000;
    let mut start = 0;
    while start < n {
        let end = (start + BATCH).min(n);
        let items: Vec<(&[f32], usize)> = (start..end)
            .map(|i| (&scaled[i * v.dim..(i + 1) * v.dim], i))
            .collect();
        g.parallel_insert_slice(&items);
        progress((end - start) as u64);
        start = end;
    }
    g.set_searching_mode(true);
    g
}

/// Approximate neighbours of a unit `query`: (cosine, ordinal), best first.
/// With `allowed`, only those ordinals are returned (hnsw_rs filtered search).
pub fn hnsw_search(
    g: &Graph,
    query: &[f32],
    k: usize,
    ef: usize,
    allowed: Option<&Bitset>,
) -> Vec<(f32, u32)> {
    let q: Vec<f32> = query.iter().map(|x| x * HNSW_SCALE).collect();
    let res = match allowed {
        Some(b) => {
            let f = |id: &usize| b.get(*id);
            g.search_filter(&q, k, ef.max(k), Some(&f))
        }
        None => g.search(&q, k, ef.max(k)),
    };
    res.into_iter()
        .map(|n| {
            let sim = (1.0 - n.distance) / (HNSW_SCALE * HNSW_SCALE);
            (sim.clamp(-1.0, 1.0), n.d_id as u32)
        })
        .collect()
}

/// Exact top-k by cosine over `allowed` (or everyone), in parallel chunks.
pub fn exact_top_k(
    v: &VectorTable,
    query: &[f32],
    k: usize,
    allowed: Option<&Bitset>,
) -> Vec<(f32, u32)> {
    let n = v.len();
    let chunk = 32 * 1024;
    (0..n.div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let mut t = TopK::new(k);
            let (a, b) = (c * chunk, ((c + 1) * chunk).min(n));
            match allowed {
                // Whole words of the bitset at a time: empty words cost nothing.
                Some(bits) => bits.for_each_one_in(a, b, |i| {
                    t.push(dot(query, v.row(i)), i as u32);
                }),
                None => {
                    for i in a..b {
                        t.push(dot(query, v.row(i)), i as u32);
                    }
                }
            }
            t
        })
        .reduce(|| TopK::new(k), TopK::merge)
        .into_sorted()
}

/// recall@10 of the graph against exact search, over `queries` rows of the
/// table used as queries (deterministic: every `step`-th row).
pub fn recall_at_10(g: &Graph, v: &VectorTable, queries: usize, ef: usize) -> f64 {
    recall_at_10_of(v, queries, |q| {
        hnsw_search(g, q, 10, ef, None)
            .into_iter()
            .map(|x| x.1)
            .collect()
    })
}

/// recall@10 against exact search of any search (`search(query)`: its
/// top-10 ordinals), over the sample of rows [`recall_at_10`] uses.
pub fn recall_at_10_of(
    v: &VectorTable,
    queries: usize,
    search: impl Fn(&[f32]) -> Vec<u32> + Sync,
) -> f64 {
    let n = v.len();
    if n == 0 || queries == 0 {
        return 1.0;
    }
    let step = (n / queries).max(1);
    let rows: Vec<usize> = (0..n).step_by(step).take(queries).collect();
    let hits: usize = rows
        .par_iter()
        .map(|&r| {
            let q = v.row(r);
            let exact: Vec<u32> = exact_top_k(v, q, 10, None)
                .into_iter()
                .map(|x| x.1)
                .collect();
            search(q).iter().filter(|a| exact.contains(a)).count()
        })
        .sum();
    hits as f64 / (rows.len() * 10).min(n * rows.len()) as f64
}
