//! Who gets scored: everyone eligible when that is few, else a union of
//! three retrievers restricted to the eligible set.
//!
//! - exact: eligible <= `exact_limit` -> score every eligible creator;
//! - union: BM25 top-N over the brief's words (tantivy, eligible-filtered),
//!   nearest neighbours of the brief vector (HNSW, filtered, when that is
//!   cheaper than an exact scan of the eligible vectors — see
//!   [`hnsw_is_cheaper`] — else the exact scan of the int8 vectors with an
//!   f32 re-score, [`crate::quant`]), neighbours of each `similar_to` seed, and
//!   the top-N by a cheap value-per-dollar estimate (predicted engagements x
//!   geography x niche / fee) over all eligible.
//!
//! Invariant: every candidate is eligible; the text scores returned cover
//! every candidate that matched the query.

use crate::ann::hnsw_search;
use crate::bitset::Bitset;
use crate::mem::prefetch;
use crate::quant::scan_top_k_many;
use crate::signals::BriefScorer;
use crate::topk::TopK;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CandidateOptions {
    /// Score every eligible creator when there are at most this many.
    pub exact_limit: usize,
    /// Each retriever returns max(min_per_source, per_wanted x wanted).
    pub min_per_source: usize,
    pub per_wanted: usize,
    /// HNSW search breadth.
    pub ef_search: usize,
}

impl Default for CandidateOptions {
    fn default() -> Self {
        CandidateOptions {
            exact_limit: 20_000,
            min_per_source: 2_000,
            per_wanted: 8,
            ef_search: 256,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Exact,
    Union,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Exact => "exact",
            Mode::Union => "union",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Candidates {
    /// Sorted, distinct.
    pub ordinals: Vec<u32>,
    /// Raw BM25 of each candidate (`bm25[k]` is `ordinals[k]`'s), 0 where
    /// the creator does not match the brief's words.
    pub bm25: Vec<f32>,
    pub mode: Mode,
}

/// Dot products one HNSW visit costs against one row of the exact scan
/// (hnsw_rs: scalar distance, a visited set and two heaps per step;
/// measured on the benchmark worlds, see BENCHMARKS.md).
pub const HNSW_VISIT_COST: f64 = 100.0;

/// Whether a filtered HNSW search for `k` neighbours with breadth `ef` is
/// expected to beat an exact scan of `eligible` of `total` vectors: the
/// graph visits about `ef x 32` nodes, divided by the share that passes
/// the filter; the scan reads every eligible row once.
pub fn hnsw_is_cheaper(k: usize, ef: usize, eligible: usize, total: usize) -> bool {
    if eligible == 0 || total == 0 {
        return false;
    }
    let pass = eligible as f64 / total as f64;
    let visits = ef.max(k) as f64 * 32.0 / pass;
    visits * HNSW_VISIT_COST < eligible as f64
}

/// The `n` eligible creators with the best cheap value-per-dollar
/// estimate ([`BriefScorer::quick_value_per_dollar`]), best first.
pub fn best_per_dollar(sc: &BriefScorer<'_>, eligible: &Bitset, n: usize) -> Vec<(f32, u32)> {
    let h = &sc.s.hot;
    // The estimate reads three short lists per creator, scattered: ask
    // for their first cache lines a word of creators ahead.
    let fetch = |i: usize| {
        prefetch(h.aud.as_ptr().wrapping_add(h.aud_off[i] as usize));
        prefetch(h.hist.as_ptr().wrapping_add(h.hist_off[i] as usize));
        prefetch(h.niche_codes.as_ptr().wrapping_add(h.niche_off[i] as usize));
    };
    eligible.par_top_k_fetching(n, fetch, |i| {
        let v = sc.quick_value_per_dollar(i);
        if v.is_finite() {
            v
        } else {
            0.0
        }
    })
}

/// Whether any brief could make the candidate stage (with `opts`) search
/// the HNSW graph of a snapshot of `total` creators. The most favourable
/// case for the graph is the shallowest search (one creator wanted) with
/// everyone eligible; if [`hnsw_is_cheaper`] says no even then, the graph
/// is never used: at most `exact_limit` eligible are scored without
/// retrieval, and above it the exact scan wins.
pub fn graph_can_pay_off(total: usize, opts: &CandidateOptions) -> bool {
    if total <= opts.exact_limit {
        return false;
    }
    let n = opts.min_per_source.max(opts.per_wanted);
    hnsw_is_cheaper(n, opts.ef_search.max(n), total, total)
}

pub fn gather(
    sc: &BriefScorer<'_>,
    eligible: &Bitset,
    eligible_count: usize,
    opts: &CandidateOptions,
) -> Candidates {
    let s = sc.s;
    let b = sc.b;
    let bm25_scores = || -> Vec<(f32, u32)> {
        match &s.text {
            Some(text) => match text.build_query(&b.text_query) {
                Some(q) => text.scores(q.as_ref(), eligible),
                None => Vec::new(),
            },
            None => Vec::new(),
        }
    };
    if eligible_count <= opts.exact_limit {
        let bm25_all = bm25_scores();
        let ordinals = eligible.to_ordinals();
        let bm25 = aligned_scores(&ordinals, &bm25_all);
        return Candidates {
            ordinals,
            bm25,
            mode: Mode::Exact,
        };
    }
    let n = opts
        .min_per_source
        .max(opts.per_wanted * b.creators_wanted as usize);
    // The text index works apart from the vector and value scans: run it
    // beside them (`rayon::join`), so neither waits on the other's
    // stragglers. The pool is sorted and deduplicated below, so the order
    // in which the retrievers add to it does not matter.
    let (bm25_all, mut pool) = rayon::join(bm25_scores, || {
        vector_and_value_candidates(sc, eligible, eligible_count, opts, n)
    });
    // 1. BM25 top-n.
    {
        let mut t = TopK::new(n);
        for &(score, o) in &bm25_all {
            t.push(score, o);
        }
        pool.extend(t.into_sorted().into_iter().map(|x| x.1));
    }
    pool.retain(|&o| eligible.get(o as usize));
    pool.sort_unstable();
    pool.dedup();
    let bm25 = aligned_scores(&pool, &bm25_all);
    Candidates {
        ordinals: pool,
        bm25,
        mode: Mode::Union,
    }
}

/// The score of each of `ordinals` (sorted) in `scores`, 0 where absent
/// (the last one listed where an ordinal repeats).
fn aligned_scores(ordinals: &[u32], scores: &[(f32, u32)]) -> Vec<f32> {
    let mut out = vec![0.0f32; ordinals.len()];
    for &(score, o) in scores {
        if let Ok(k) = ordinals.binary_search(&o) {
            out[k] = score;
        }
    }
    out
}

/// Retrievers 2-4 of the union: semantic neighbours of the brief and of
/// each seed, and the best performers per dollar (unsorted, may repeat).
fn vector_and_value_candidates(
    sc: &BriefScorer<'_>,
    eligible: &Bitset,
    eligible_count: usize,
    opts: &CandidateOptions,
    n: usize,
) -> Vec<u32> {
    let s = sc.s;
    let b = sc.b;
    let mut pool: Vec<u32> = Vec::with_capacity(3 * n);
    // 2. Semantic neighbours of the brief: the HNSW graph when its search
    // is cheaper than scanning the eligible vectors, else the exact scan.
    let use_graph =
        s.hnsw.is_some() && hnsw_is_cheaper(n, opts.ef_search.max(n), eligible_count, s.len());
    // 3. ... and of each lookalike seed: with the exact scan, the brief's
    // vector and the seeds' share one pass over the eligible rows.
    let mut queries: Vec<&[f32]> = vec![&b.query_vector];
    for id in &b.similar_to {
        if let Some(o) = s.ordinal(id) {
            queries.push(s.vectors.row(o as usize));
        }
    }
    match (&s.hnsw, use_graph) {
        (Some(g), true) => {
            for q in &queries {
                let found = hnsw_search(g, q, n, opts.ef_search.max(n), Some(eligible));
                pool.extend(found.into_iter().map(|x| x.1));
            }
        }
        _ => {
            for found in scan_top_k_many(&s.qvectors, &s.vectors, &queries, n, Some(eligible)) {
                pool.extend(found.into_iter().map(|x| x.1));
            }
        }
    }
    // 4. Best predicted performers per dollar.
    pool.extend(best_per_dollar(sc, eligible, n).into_iter().map(|x| x.1));
    pool
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_pays_off_only_where_some_brief_would_search_it() {
        let o = CandidateOptions::default();
        // Never at the sizes measured (the exact scan wins)...
        assert!(!graph_can_pay_off(0, &o));
        assert!(!graph_can_pay_off(1_000_000, &o));
        // ... and exactly where the shallowest, widest search turns cheaper.
        let n = o.min_per_source.max(o.per_wanted);
        let first = (1..200_000_000usize)
            .step_by(100_000)
            .find(|&t| hnsw_is_cheaper(n, o.ef_search.max(n), t, t))
            .expect("the graph wins somewhere");
        assert!(graph_can_pay_off(first, &o));
        assert!(!graph_can_pay_off(first - 100_000, &o));
        // A search any deeper, or over fewer eligible, is never cheaper.
        assert!(!hnsw_is_cheaper(
            n + 1,
            o.ef_search.max(n + 1),
            first - 100_000,
            first - 100_000
        ));
        assert!(!hnsw_is_cheaper(
            n,
            o.ef_search.max(n),
            first / 2,
            first - 100_000
        ));
    }
}
