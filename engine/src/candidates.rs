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

use rayon::prelude::*;

use crate::ann::hnsw_search;
use crate::bitset::{for_each_one_fetching, Bitset};
use crate::filter::Eligibility;
use crate::mem::prefetch;
use crate::quant::{dispatch, estimate_in, quantize_query, rescore, shortlist_len};
use crate::signals::{BriefScorer, Evidence};
use crate::topk::{Bounded, SharedFloor, TopK};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CandidateOptions {
    /// Score every eligible creator when there are at most this many
    /// (default 5,000: above it, the union's three retrievers of at
    /// least 2,000 each score fewer creators for the same portfolio value;
    /// 1,000 generated briefs at 1M scored 3.92M candidates instead of
    /// 5.62M with a limit of 20,000, value kept 99.73%, BENCHMARKS.md).
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
            exact_limit: 5_000,
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
    /// What the retrievers already computed of each candidate's score,
    /// aligned with `ordinals` (or empty: nothing known).
    pub known: Vec<Known>,
    pub mode: Mode,
}

/// What a retriever computed of a candidate's score on the way, exactly
/// as scoring would compute it (the same functions on the same inputs):
/// the brief-creator cosine (the semantic retriever's f32 re-score of the
/// brief's own vector) and the niche and geography evidence (the value
/// retriever's estimate).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Known {
    pub cosine: Option<f32>,
    pub evidence: Option<Evidence>,
}

impl Known {
    pub const NOTHING: Known = Known {
        cosine: None,
        evidence: None,
    };
}

/// The union's retrievers 2-4 (vector and value) for one brief: the
/// ordinals they found (unsorted, may repeat) and what they computed of
/// some of them ([`Known`]).
#[derive(Debug, Default)]
struct Pool {
    ordinals: Vec<u32>,
    cosines: Vec<(f32, u32)>,
    evidence: Vec<(u32, Evidence)>,
}

impl Pool {
    /// The value retriever's top-n, with their evidence.
    fn add_value(&mut self, val: Vec<(f32, u32, Evidence)>) {
        self.ordinals.extend(val.iter().map(|x| x.1));
        self.evidence
            .extend(val.into_iter().map(|(_, o, e)| (o, e)));
    }
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
/// estimate ([`BriefScorer::quick_value_per_dollar`], non-finite as 0),
/// best first: every eligible creator's bound
/// ([`BriefScorer::value_bound`]) in one parallel pass, then the estimate
/// in falling order of the bounds ([`Bounded::top_k`]; exact).
pub fn best_per_dollar(sc: &BriefScorer<'_>, eligible: &Bitset, n: usize) -> Vec<(f32, u32)> {
    best_per_dollar_with(sc, eligible, n)
        .into_iter()
        .map(|(v, o, _)| (v, o))
        .collect()
}

/// [`best_per_dollar`] with each one's [`Evidence`].
fn best_per_dollar_with(
    sc: &BriefScorer<'_>,
    eligible: &Bitset,
    n: usize,
) -> Vec<(f32, u32, Evidence)> {
    let bounds = eligible.par_ranges(
        |words, base| {
            let rows = words.iter().map(|w| w.count_ones() as usize).sum();
            let mut b = Bounded::with_capacity(rows);
            for (wi, &word) in words.iter().enumerate() {
                let mut w = word;
                while w != 0 {
                    let i = base + wi * 64 + w.trailing_zeros() as usize;
                    b.push(sc.value_bound(i), i as u32);
                    w &= w - 1;
                }
            }
            b.seal();
            b
        },
        || Bounded::with_capacity(0),
        Bounded::merge,
    );
    value_top_k(sc, &bounds, n)
}

/// The value retriever's top `n` of the creators in `bounds` (each with
/// its [`BriefScorer::value_bound`]): the estimate, non-finite as 0, in
/// falling order of the bounds, with the per-creator words and then the
/// lists it reads asked for ahead; each with the [`Evidence`] its
/// estimate was formed from, which scoring then reuses.
fn value_top_k(sc: &BriefScorer<'_>, bounds: &Bounded, n: usize) -> Vec<(f32, u32, Evidence)> {
    let h = &sc.s.hot;
    bounds.top_k_with(
        n,
        |o, far| {
            if far {
                h.prefetch_value_words(o as usize)
            } else {
                h.prefetch_lists(o as usize)
            }
        },
        |o| {
            let e = sc.evidence(o as usize);
            let v = sc.value_per_dollar_of(o as usize, &e);
            (if v.is_finite() { v } else { 0.0 }, e)
        },
    )
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
    if eligible_count <= opts.exact_limit {
        let bm25_all = bm25_of(sc, eligible);
        let ordinals = eligible.to_ordinals();
        let bm25 = aligned_scores(&ordinals, &bm25_all);
        return Candidates {
            ordinals,
            bm25,
            known: Vec::new(),
            mode: Mode::Exact,
        };
    }
    let n = per_source(sc, opts);
    // The text index works apart from the vector and value scans: run it
    // beside them (`rayon::join`), so neither waits on the other's
    // stragglers. The pool is sorted and deduplicated below, so the order
    // in which the retrievers add to it does not matter.
    let graph = graph_for(sc, eligible_count, opts);
    let ((bm25_all, bm25_top), pool) = rayon::join(
        || bm25_with_top(sc, eligible, n),
        || match graph {
            Some(g) => graph_and_value_candidates(g, sc, eligible, opts, n),
            // The vector and value scans in one pass over the eligible rows.
            None => shared_pass(&[sc], &[eligible], opts)
                .pop()
                .unwrap_or_default(),
        },
    );
    union_pool(eligible, pool, bm25_top, &bm25_all)
}

/// The HNSW graph, when the snapshot has one and its filtered search is
/// predicted cheaper than the exact scan for this brief
/// ([`hnsw_is_cheaper`]); `None`: the exact scan.
fn graph_for<'s>(
    sc: &BriefScorer<'s>,
    eligible_count: usize,
    opts: &CandidateOptions,
) -> Option<&'s crate::ann::Graph> {
    let n = per_source(sc, opts);
    sc.s.hnsw
        .as_ref()
        .filter(|_| hnsw_is_cheaper(n, opts.ef_search.max(n), eligible_count, sc.s.len()))
}

/// The vectors the semantic retriever searches from: the brief's, then
/// each `similar_to` seed's; a brief vector not in the creators' space
/// (empty: see `Snapshot::user_space_vector`) is left out.
fn brief_queries<'s>(sc: &BriefScorer<'s>) -> Vec<&'s [f32]> {
    let s = sc.s;
    std::iter::once(sc.b.query_vector.as_slice())
        .filter(|q| q.len() == s.vectors.dim)
        .chain(
            sc.b.similar_to
                .iter()
                .filter_map(|id| s.ordinal(id))
                .map(|o| s.vectors.row(o as usize)),
        )
        .collect()
}

/// How many candidates each retriever of the union returns for `b`.
/// Never more than the snapshot holds: `creators_wanted` has no upper
/// limit, and collectors are sized by this.
fn per_source(sc: &BriefScorer<'_>, opts: &CandidateOptions) -> usize {
    opts.min_per_source
        .max(
            opts.per_wanted
                .saturating_mul(sc.b.creators_wanted as usize),
        )
        .min(sc.s.len())
}

/// BM25 of every eligible creator matching the brief's words.
fn bm25_of(sc: &BriefScorer<'_>, eligible: &Bitset) -> Vec<(f32, u32)> {
    match &sc.s.text {
        Some(text) => match text.build_query(&sc.b.text_query) {
            Some(q) => text.scores(q.as_ref(), eligible),
            None => Vec::new(),
        },
        None => Vec::new(),
    }
}

/// BM25 of every eligible creator matching the brief's words
/// ([`bm25_of`]) and the ordinals of the top `n` of them (the union's
/// text retriever): together, so that the top-n is taken on the thread
/// that scored the text while the vector and value scans still run.
fn bm25_with_top(sc: &BriefScorer<'_>, eligible: &Bitset, n: usize) -> (Vec<(f32, u32)>, Vec<u32>) {
    let all = bm25_of(sc, eligible);
    let mut t = TopK::new(n);
    for &(score, o) in &all {
        t.push(score, o);
    }
    let top = t.into_unsorted().into_iter().map(|x| x.1).collect();
    (all, top)
}

/// The union's pool: the other retrievers' `pool` plus the BM25 top-n
/// (`bm25_top`, from [`bm25_with_top`]), eligible, sorted and distinct,
/// with each one's BM25 from `bm25_all` and what the retrievers computed
/// of it.
fn union_pool(
    eligible: &Bitset,
    pool: Pool,
    bm25_top: Vec<u32>,
    bm25_all: &[(f32, u32)],
) -> Candidates {
    let Pool {
        ordinals: mut ords,
        cosines,
        evidence,
    } = pool;
    ords.extend(bm25_top);
    ords.retain(|&o| eligible.get(o as usize));
    ords.sort_unstable();
    ords.dedup();
    let bm25 = aligned_scores(&ords, bm25_all);
    let members = Members::new(&ords);
    let mut known = vec![Known::NOTHING; ords.len()];
    for (c, o) in cosines {
        if let Some(k) = members.index(o) {
            known[k].cosine = Some(c);
        }
    }
    for (o, e) in evidence {
        if let Some(k) = members.index(o) {
            known[k].evidence = Some(e);
        }
    }
    Candidates {
        ordinals: ords,
        bm25,
        known,
        mode: Mode::Union,
    }
}

/// Words of a bitset one task of the batched pass reads for every brief
/// before it moves on (2,048 creators: their int8 rows and the columns
/// the value estimate reads stay in the core's cache across the briefs).
const BATCH_BLOCK_WORDS: usize = 32;

/// One union-mode brief in the batched pass.
struct BatchBrief<'s, 'a> {
    sc: &'s BriefScorer<'a>,
    words: &'s [u64],
    /// The brief's vector and its seeds' (the valid ones), f32 and int8.
    queries: Vec<&'s [f32]>,
    /// Whether `queries[0]` is the brief's own vector (its re-scores are
    /// then the candidates' cosines).
    own_first: bool,
    qqs: Vec<Vec<i8>>,
    n: usize,
    /// Per query, the best k-th estimate of the ranges scanned so far:
    /// what a range starting later turns away below.
    floors: Vec<SharedFloor>,
}

/// Ranges per thread of a candidate pass: enough that a thread that ran
/// the text index beside it joins while some are left (each range is
/// handed out alone); each range allocates its own collectors, and 8 a
/// thread measured no faster, for one brief or for `select_many`
/// (BENCHMARKS.md, twenty-fifth session).
const RANGES_PER_THREAD: usize = 4;

/// What the batched pass collects for one brief over some rows: a
/// shortlist per query by the int8 estimate, and each eligible row's
/// value bound ([`BriefScorer::value_bound`]), for the value top-n that
/// [`Bounded::top_k`] then evaluates in bound order.
struct BatchTops {
    vec: Vec<TopK>,
    bounds: Bounded,
}

impl BatchTops {
    fn new(b: &BatchBrief<'_, '_>, rows: usize) -> BatchTops {
        BatchTops {
            vec: b
                .floors
                .iter()
                .map(|f| {
                    let mut t = TopK::new(shortlist_len(b.n));
                    if let Some(f) = f.get() {
                        t.raise_floor(f);
                    }
                    t
                })
                .collect(),
            bounds: Bounded::with_capacity(rows),
        }
    }

    /// Shares this range's k-th best estimates with the ranges still to
    /// start (`b`'s floors).
    fn publish(&mut self, b: &BatchBrief<'_, '_>) {
        for (t, f) in self.vec.iter_mut().zip(&b.floors) {
            if let Some(kth) = t.kth() {
                f.raise(kth);
            }
        }
    }

    /// The ranges' collectors together (`None`: no range).
    fn merge_all(parts: Vec<BatchTops>) -> Option<BatchTops> {
        let queries = parts.first()?.vec.len();
        let mut vecs: Vec<Vec<TopK>> = (0..queries)
            .map(|_| Vec::with_capacity(parts.len()))
            .collect();
        let mut bounds: Option<Bounded> = None;
        for p in parts {
            for (v, t) in vecs.iter_mut().zip(p.vec) {
                v.push(t);
            }
            bounds = Some(match bounds {
                Some(b) => b.merge(p.bounds),
                None => p.bounds,
            });
        }
        Some(BatchTops {
            vec: vecs.into_iter().filter_map(TopK::merge_all).collect(),
            bounds: bounds?,
        })
    }
}

/// One range of the batched pass: rows, briefs, first and end word.
type RangeArgs<'r, 's, 'a> = (
    &'r crate::quant::QuantVectors,
    &'r [BatchBrief<'s, 'a>],
    usize,
    usize,
);

/// One range of the batched pass ([`batch_range_in`]), its shortlists'
/// k-th best estimates then shared with the ranges still to start.
fn batch_range(
    q: &crate::quant::QuantVectors,
    briefs: &[BatchBrief<'_, '_>],
    w0: usize,
    w1: usize,
) -> Vec<BatchTops> {
    let mut tops = batch_range_in(q, briefs, w0, w1);
    for (t, b) in tops.iter_mut().zip(briefs) {
        t.publish(b);
    }
    tops
}

/// [`batch_range_body`], vectorised with AVX2 where the CPU has it.
fn batch_range_in(
    q: &crate::quant::QuantVectors,
    briefs: &[BatchBrief<'_, '_>],
    w0: usize,
    w1: usize,
) -> Vec<BatchTops> {
    #[cfg(target_arch = "x86_64")]
    let avx2: unsafe fn(RangeArgs<'_, '_, '_>) -> Vec<BatchTops> = batch_range_avx2;
    #[cfg(not(target_arch = "x86_64"))]
    let avx2: unsafe fn(RangeArgs<'_, '_, '_>) -> Vec<BatchTops> = batch_range_body::<false>;
    // One brief, on a CPU with AVX-512 VNNI and 64-dimension vectors:
    // sixteen rows at a time (`pass512`; the same collectors with the same
    // contents; typical brief at 1M: the pass 2.5 -> 1.05 ms).
    if let ([b], true) = (briefs, crate::pass512::available(q)) {
        let words = &b.words[w0..w1];
        let mut t = BatchTops::new(b, words.iter().map(|w| w.count_ones() as usize).sum());
        if crate::pass512::one_brief_pass(b.sc, &b.qqs, &mut t.vec, &mut t.bounds, words, w0 * 64)
            .is_some()
        {
            t.bounds.seal();
            return vec![t];
        }
    }
    // Otherwise one brief streams its rows from memory, where fewer
    // instructions a row let more loads overlap (VNNI: typical brief at 1M
    // -4%); many briefs score each row from cache, where VNNI measured no
    // better (BENCHMARKS.md, twenty-second session). Same integers either
    // way.
    #[cfg(target_arch = "x86_64")]
    if briefs.len() == 1 && crate::quant::has_vnni() {
        // SAFETY: the CPU has the features `batch_range_vnni` is compiled
        // for, checked just above.
        #[allow(unsafe_code)]
        return unsafe { batch_range_vnni((q, briefs, w0, w1)) };
    }
    dispatch((q, briefs, w0, w1), batch_range_body::<false>, avx2)
}

/// [`batch_range_body`] with AVX-512 VNNI dot products
/// ([`crate::quant::estimate_vnni`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
fn batch_range_vnni(args: RangeArgs<'_, '_, '_>) -> Vec<BatchTops> {
    batch_range_body::<true>(args)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn batch_range_avx2(args: RangeArgs<'_, '_, '_>) -> Vec<BatchTops> {
    batch_range_body::<false>(args)
}

/// The batched pass over words `w0..w1` for every brief: block by block,
/// each brief's eligible rows of the block are scored (int8 estimate per
/// query) and their value bounds recorded while the block's rows are in
/// cache. `VNNI`: the int8 dot products by AVX-512 VNNI, for a caller
/// compiled with those features on a CPU that has them
/// ([`batch_range_vnni`]).
#[inline(always)]
fn batch_range_body<const VNNI: bool>(
    (q, briefs, w0, w1): RangeArgs<'_, '_, '_>,
) -> Vec<BatchTops> {
    let mut tops: Vec<BatchTops> = briefs
        .iter()
        .map(|b| {
            let rows = b.words[w0..w1]
                .iter()
                .map(|w| w.count_ones() as usize)
                .sum();
            BatchTops::new(b, rows)
        })
        .collect();
    // The first brief to visit a block brings its rows in: it asks for
    // each eligible row's int8 vector ahead of use (scattered loads
    // overlap instead of queueing); the briefs after it find them in
    // cache. The value bound's per-creator record (32 bytes a row) is
    // asked for with the row: read in row order but with gaps, they were
    // where the one-brief scan stalled most (typical brief at 1M, p50 of
    // three alternated rounds 24.1 / 25.2 / 20.4 ms -> 22.7 / 18.4 /
    // 21.9 ms; `select_many` unchanged).
    let bound_words = briefs
        .first()
        .map_or(&[][..], |b| b.sc.s.hot.bound_words.as_slice());
    let fetch = |i: usize| {
        prefetch(q.row_ptr(i));
        prefetch(bound_words.as_ptr().wrapping_add(i));
    };
    /// Scores row `i` for brief `b` into its collectors `t`.
    #[inline(always)]
    #[allow(unsafe_code)]
    fn visit<const VNNI: bool>(
        q: &crate::quant::QuantVectors,
        b: &BatchBrief<'_, '_>,
        t: &mut BatchTops,
        i: usize,
    ) {
        for (tv, qq) in t.vec.iter_mut().zip(&b.qqs) {
            // SAFETY: `VNNI` is only set by `batch_range_vnni`, which runs
            // after `has_vnni` found the features.
            tv.push(unsafe { estimate_in::<VNNI>(q, qq, i) }, i as u32);
        }
        // The value estimate walks the creator's lists: only its bound,
        // read from per-creator words, is taken here; the few rows whose
        // bound can reach the top-n are evaluated afterwards.
        t.bounds.push(b.sc.value_bound(i), i as u32);
    }
    if let ([b], [t]) = (briefs, tops.as_mut_slice()) {
        // One brief: its rows in order, each row's lines asked for
        // `ROWS_AHEAD` eligible rows before it is scored (a steady window
        // of loads in flight; asking for a whole word's rows at once was
        // 5-7% slower on the typical brief at 1M, alternated in one
        // process, BENCHMARKS.md).
        const ROWS_AHEAD: usize = 24;
        let words = &b.words[w0..w1];
        crate::bitset::for_each_one_fetching_rows(
            words,
            w0 * 64,
            ROWS_AHEAD,
            fetch,
            #[inline(always)]
            |i| visit::<VNNI>(q, b, t, i),
        );
        t.bounds.seal();
        return tops;
    }
    let mut b0 = w0;
    while b0 < w1 {
        let b1 = (b0 + BATCH_BLOCK_WORDS).min(w1);
        for (k, (b, t)) in briefs.iter().zip(tops.iter_mut()).enumerate() {
            let words = &b.words[b0..b1];
            if k == 0 {
                for_each_one_fetching(
                    words,
                    b0 * 64,
                    1,
                    fetch,
                    #[inline(always)]
                    |i| visit::<VNNI>(q, b, t, i),
                );
            } else {
                for (wi, &w) in words.iter().enumerate() {
                    let mut w = w;
                    while w != 0 {
                        visit::<VNNI>(q, b, t, (b0 + wi) * 64 + w.trailing_zeros() as usize);
                        w &= w - 1;
                    }
                }
            }
        }
        b0 = b1;
    }
    for t in &mut tops {
        t.bounds.seal();
    }
    tops
}

/// Retrievers 2-4 of the union for each of `scorers` (eligible sets
/// `bits`, one snapshot), by exact scans: the semantic neighbours of each
/// brief's vector and seeds (int8 estimate, f32 re-score of the
/// shortlist, as [`crate::quant::scan_top_k_many`]) and the best performers per dollar
/// ([`best_per_dollar`]), all from one pass over the creators, block by
/// block. Unsorted, may repeat.
fn shared_pass(
    scorers: &[&BriefScorer<'_>],
    bits: &[&Bitset],
    opts: &CandidateOptions,
) -> Vec<Pool> {
    let Some(first) = scorers.first() else {
        return Vec::new();
    };
    let s = first.s;
    let q = &s.qvectors;
    let briefs: Vec<BatchBrief<'_, '_>> = scorers
        .iter()
        .zip(bits)
        .map(|(sc, el)| {
            debug_assert!(std::ptr::eq(sc.s, s), "one snapshot");
            let n = per_source(sc, opts);
            let mut queries = brief_queries(sc);
            // As `quant::scan_top_k_many`: nothing without vectors or depth, and
            // a query of the wrong length finds nothing.
            queries.retain(|x| x.len() == q.dim && !q.is_empty() && n > 0);
            let qqs = queries.iter().map(|x| quantize_query(x)).collect();
            let own = sc.b.query_vector.as_slice();
            let own_first = queries
                .first()
                .is_some_and(|x| std::ptr::eq(*x, own) && !own.is_empty());
            BatchBrief {
                sc,
                words: el.words(),
                floors: queries.iter().map(|_| SharedFloor::default()).collect(),
                queries,
                own_first,
                qqs,
                n,
            }
        })
        .collect();
    let words = bits[0].words().len();
    let ranges = (rayon::current_num_threads() * RANGES_PER_THREAD).max(1);
    let per = words.div_ceil(ranges).max(1);
    // Each range is handed out alone, so that a thread joining late (it
    // ran the text index beside the pass) finds ranges left to take; then
    // each brief's collectors are put together at once (order-free: the
    // top-k is exact; the ranges scanned after the first few kept only
    // what beat the brief's shared floors, so there is little to merge).
    let ranges: Vec<Vec<BatchTops>> = (0..words.div_ceil(per))
        .into_par_iter()
        .with_max_len(1)
        .map(|r| batch_range(q, &briefs, r * per, ((r + 1) * per).min(words)))
        .collect();
    // Range by range to brief by brief.
    let mut per_brief: Vec<Vec<BatchTops>> = briefs
        .iter()
        .map(|_| Vec::with_capacity(ranges.len()))
        .collect();
    for range in ranges {
        for (b, t) in per_brief.iter_mut().zip(range) {
            b.push(t);
        }
    }
    let merged: Vec<Option<BatchTops>> = per_brief
        .into_par_iter()
        .map(BatchTops::merge_all)
        .collect();
    briefs
        .par_iter()
        .zip(merged.into_par_iter())
        .map(|(b, tops)| {
            let mut pool = Pool {
                ordinals: Vec::with_capacity(3 * b.n),
                ..Pool::default()
            };
            if let Some(BatchTops { vec, bounds }) = tops {
                // The shortlists' re-scores beside the value top-n (a
                // brief alone has nothing else to run beside them).
                let (found, val) = rayon::join(
                    || {
                        vec.into_par_iter()
                            .zip(b.queries.par_iter())
                            .map(|(short, query)| rescore(&s.vectors, query, short, b.n))
                            .collect::<Vec<_>>()
                    },
                    || value_top_k(b.sc, &bounds, b.n),
                );
                for (q, f) in found.into_iter().enumerate() {
                    pool.ordinals.extend(f.iter().map(|x| x.1));
                    if q == 0 && b.own_first {
                        pool.cosines = f;
                    }
                }
                pool.add_value(val);
            }
            pool
        })
        .collect()
}

/// [`gather`] for many briefs against one snapshot, `eligible[j]` being
/// the eligible set of `scorers[j]`'s brief. Equal, brief by brief, to
/// `gather` (same candidates, BM25 and mode; tested). Where the one-brief
/// AVX-512 pass runs (`pass512`), the briefs are gathered one at a time
/// in parallel, each sixteen rows at a time: faster than sharing a
/// row-at-a-time pass (1,000 briefs at 1M: `select_many` 337 -> 415
/// briefs/s, BENCHMARKS.md). Elsewhere the vector and value scans of the
/// union-mode briefs share one pass over the creators
/// ([`gather_many_sharing`]): each block of rows comes from memory once
/// for all of them instead of once per brief.
pub fn gather_many(
    scorers: &[BriefScorer<'_>],
    eligible: &[Eligibility],
    opts: &CandidateOptions,
) -> Vec<Candidates> {
    let one_by_one = scorers
        .first()
        .is_some_and(|sc| crate::pass512::available(&sc.s.qvectors));
    gather_many_with(scorers, eligible, opts, !one_by_one)
}

/// [`gather_many`] with the shared pass whatever the CPU (tests check it
/// equals [`gather`] on any machine).
#[doc(hidden)]
pub fn gather_many_sharing(
    scorers: &[BriefScorer<'_>],
    eligible: &[Eligibility],
    opts: &CandidateOptions,
) -> Vec<Candidates> {
    gather_many_with(scorers, eligible, opts, true)
}

fn gather_many_with(
    scorers: &[BriefScorer<'_>],
    eligible: &[Eligibility],
    opts: &CandidateOptions,
    share: bool,
) -> Vec<Candidates> {
    assert_eq!(scorers.len(), eligible.len());
    // Briefs the shared pass takes: union mode with the exact scan.
    let shared = |j: usize| {
        let (sc, el) = (&scorers[j], &eligible[j]);
        share && el.count > opts.exact_limit && graph_for(sc, el.count, opts).is_none()
    };
    let batched: Vec<usize> = (0..scorers.len()).filter(|&j| shared(j)).collect();
    // The others one at a time (each parallel inside).
    let mut out: Vec<Option<Candidates>> = (0..scorers.len())
        .into_par_iter()
        .map(|j| {
            (!shared(j)).then(|| gather(&scorers[j], &eligible[j].bits, eligible[j].count, opts))
        })
        .collect();
    if !batched.is_empty() {
        let picked: Vec<&BriefScorer<'_>> = batched.iter().map(|&j| &scorers[j]).collect();
        let bits: Vec<&Bitset> = batched.iter().map(|&j| &eligible[j].bits).collect();
        type Scores = (Vec<(f32, u32)>, Vec<u32>);
        let (pools, bm25): (Vec<Pool>, Vec<Scores>) = rayon::join(
            || shared_pass(&picked, &bits, opts),
            || {
                picked
                    .par_iter()
                    .zip(bits.par_iter())
                    .map(|(sc, el)| bm25_with_top(sc, el, per_source(sc, opts)))
                    .collect()
            },
        );
        let done: Vec<Candidates> = pools
            .into_par_iter()
            .zip(bm25.into_par_iter())
            .enumerate()
            .map(|(k, (pool, (bm25_all, bm25_top)))| union_pool(bits[k], pool, bm25_top, &bm25_all))
            .collect();
        for (&j, c) in batched.iter().zip(done) {
            out[j] = Some(c);
        }
    }
    out.into_iter()
        .map(|c| c.expect("every brief is gathered"))
        .collect()
}

/// The score of each of `ordinals` (sorted, distinct) in `scores`, 0
/// where absent (the last one listed where an ordinal repeats): the
/// ordinals walked beside `scores`, linear where `scores` comes in runs of
/// rising ordinals (BM25's, segment by segment) rather than a search per
/// score; any order gives the same result (tested).
fn aligned_scores(ordinals: &[u32], scores: &[(f32, u32)]) -> Vec<f32> {
    debug_assert!(ordinals.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
    let mut out = vec![0.0f32; ordinals.len()];
    let mut at = 0usize;
    let mut last = 0u32;
    for &(score, o) in scores {
        if o < last {
            // A new run: back to the first ordinal at or after `o`.
            at = ordinals.partition_point(|&m| m < o);
        }
        last = o;
        while at < ordinals.len() && ordinals[at] < o {
            at += 1;
        }
        if ordinals.get(at) == Some(&o) {
            out[at] = score;
        }
    }
    out
}

/// Sorted, distinct ordinals, for placing what is keyed by ordinal at its
/// index. Most ordinals looked up are not members (a typical brief's
/// words match a few hundred thousand creators, its pool holds a few
/// thousand): a bit per ordinal rules them out, and a member's index is
/// its rank among the bits (the members in the words before its own,
/// counted once, plus those below it in its word), with no search.
struct Members {
    bits: Bitset,
    /// Members in the words before each word of `bits`.
    before: Vec<u32>,
}

impl Members {
    fn new(ordinals: &[u32]) -> Members {
        debug_assert!(ordinals.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
        let len = ordinals.last().map_or(0, |&o| o as usize + 1);
        let bits = Bitset::from_ordinals(len, ordinals.iter().copied());
        let mut seen = 0u32;
        let before = bits
            .words()
            .iter()
            .map(|w| {
                let b = seen;
                seen += w.count_ones();
                b
            })
            .collect();
        Members { bits, before }
    }

    /// The index of `o` among the ordinals.
    #[inline]
    fn index(&self, o: u32) -> Option<usize> {
        let o = o as usize;
        let word = *self.bits.words().get(o / 64)?;
        let below = word & ((1u64 << (o % 64)) - 1);
        (word >> (o % 64) & 1 != 0)
            .then(|| self.before[o / 64] as usize + below.count_ones() as usize)
    }
}

/// Retrievers 2-4 of the union when the HNSW graph is searched (see
/// [`hnsw_is_cheaper`]): graph neighbours of the brief's vector and of
/// each seed, and the best performers per dollar (unsorted, may repeat).
fn graph_and_value_candidates(
    g: &crate::ann::Graph,
    sc: &BriefScorer<'_>,
    eligible: &Bitset,
    opts: &CandidateOptions,
    n: usize,
) -> Pool {
    let mut pool = Pool {
        ordinals: Vec::with_capacity(3 * n),
        ..Pool::default()
    };
    for q in brief_queries(sc) {
        // The graph's distances are not the exact cosines: not kept.
        let found = hnsw_search(g, q, n, opts.ef_search.max(n), Some(eligible));
        pool.ordinals.extend(found.into_iter().map(|x| x.1));
    }
    pool.add_value(best_per_dollar_with(sc, eligible, n));
    pool
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_scores_are_each_ordinals_last_listed_score() {
        let mut next = crate::test_below(12345);
        for round in 0..200 {
            let mut ordinals: Vec<u32> = (0..next(40)).map(|_| next(500) as u32).collect();
            ordinals.sort_unstable();
            ordinals.dedup();
            // Members, repeats, non-members and ordinals past the last.
            let scores: Vec<(f32, u32)> = (0..next(300))
                .map(|k| (k as f32 + 0.5, next(700) as u32))
                .collect();
            let mut scores = scores;
            if round % 2 == 1 {
                // Runs of rising ordinals, as BM25 lists them.
                let cut = scores.len() / 3;
                scores[..cut].sort_by_key(|s| s.1);
                scores[cut..].sort_by_key(|s| s.1);
            }
            let got = aligned_scores(&ordinals, &scores);
            let want: Vec<f32> = ordinals
                .iter()
                .map(|o| scores.iter().rev().find(|s| s.1 == *o).map_or(0.0, |s| s.0))
                .collect();
            assert_eq!(got, want, "round {round}");
            let m = Members::new(&ordinals);
            for o in 0..800u32 {
                assert_eq!(
                    m.index(o),
                    ordinals.binary_search(&o).ok(),
                    "round {round}, {o}"
                );
            }
        }
        assert!(aligned_scores(&[], &[(1.0, 3)]).is_empty());
    }

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
