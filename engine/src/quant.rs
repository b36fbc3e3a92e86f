//! Int8 copies of the creator vectors for the exact semantic scan.
//!
//! The scan of the eligible vectors is memory-bound: a 64-dim f32 row is
//! four cache lines, its int8 copy one. Each row `x` is stored as
//! `round(127 x / max|x|)` with its scale `max|x| / 127`, so
//! `dot(q, x) ~ scale_q * scale_x * sum(q8 * x8)` (integer sum, exact and
//! order-free, hence the same on every machine and thread count). The scan
//! ranks every allowed row by that estimate, keeps a shortlist a quarter
//! larger than asked, and re-scores the shortlist with the f32 vectors, so
//! the returned similarities are exact cosines and only rows at the very
//! edge of the top k can differ from an f32 scan (the benchmark's
//! candidate-loss figure measures the whole candidate stage).
//!
//! Invariant: `data.len() == scale.len() * dim`; every similarity returned
//! by [`scan_top_k`] is `vector::dot` of the f32 query and row.

use rayon::prelude::*;

use crate::bitset::{for_each_one_fetching, Bitset};
use crate::table::VectorTable;
use crate::topk::TopK;
use crate::vector::dot;

#[derive(Debug, Default)]
pub struct QuantVectors {
    pub dim: usize,
    /// The rows, back to back, from `data[start]`: `start` puts the first
    /// row on a cache-line boundary, so a 64-dimension row is one line
    /// (the allocator aligns a large buffer to 16 bytes; a row across two
    /// lines costs a second miss the scans' one prefetch does not cover).
    data: Vec<i8>,
    start: usize,
    pub scale: Vec<f32>,
}

/// Bytes of a cache line.
const LINE: usize = 64;

/// A zeroed buffer for `bytes` bytes of rows, and where the first row
/// starts on a cache-line boundary.
fn aligned_rows(bytes: usize) -> (Vec<i8>, usize) {
    let data = vec![0i8; bytes + LINE];
    let start = data.as_ptr().align_offset(LINE).min(LINE);
    (data, start)
}

impl Clone for QuantVectors {
    /// A copy whose rows are aligned in their own buffer (a plain copy of
    /// the buffer keeps `start` but not the alignment it stood for).
    fn clone(&self) -> Self {
        let bytes = self.scale.len() * self.dim;
        let (mut data, start) = aligned_rows(bytes);
        data[start..start + bytes].copy_from_slice(&self.data[self.start..self.start + bytes]);
        QuantVectors {
            dim: self.dim,
            data,
            start,
            scale: self.scale.clone(),
        }
    }
}

/// Quantises `x` into `out` (same length); returns the scale.
pub fn quantize(x: &[f32], out: &mut [i8]) -> f32 {
    let m = x
        .iter()
        .map(|v| if v.is_finite() { v.abs() } else { 0.0 })
        .fold(0.0f32, f32::max);
    if m == 0.0 {
        out.iter_mut().for_each(|o| *o = 0);
        return 0.0;
    }
    let f = 127.0 / m;
    for (o, &v) in out.iter_mut().zip(x) {
        let v = if v.is_finite() { v } else { 0.0 };
        *o = (v * f).round().clamp(-127.0, 127.0) as i8;
    }
    m / 127.0
}

impl QuantVectors {
    /// Quantises every row of `v` (in parallel).
    pub fn from_table(v: &VectorTable) -> QuantVectors {
        let dim = v.dim;
        let n = v.len();
        let (mut data, start) = aligned_rows(n * dim);
        let mut scale = vec![0.0f32; n];
        if dim > 0 {
            data[start..start + n * dim]
                .par_chunks_mut(dim)
                .zip(scale.par_iter_mut())
                .enumerate()
                .with_min_len(4096)
                .for_each(|(i, (out, s))| *s = quantize(v.row(i), out));
        }
        QuantVectors {
            dim,
            data,
            start,
            scale,
        }
    }

    #[inline]
    pub fn row(&self, i: usize) -> &[i8] {
        let at = self.start + i * self.dim;
        &self.data[at..at + self.dim]
    }

    /// Where row `i` starts (for prefetching; any `i`, never read).
    #[inline(always)]
    pub fn row_ptr(&self, i: usize) -> *const i8 {
        self.data
            .as_ptr()
            .wrapping_add(self.start)
            .wrapping_add(i * self.dim)
    }

    pub fn len(&self) -> usize {
        self.scale.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scale.is_empty()
    }
}

/// Integer dot product (exact, so the same in every build). Whole blocks
/// of 64 go through [`dot_i8_64`], whose fixed length lets LLVM unroll it
/// into widen-and-multiply-add (`vpmovsxbw` + `vpmaddwd` under AVX2; a
/// loop of unknown length vectorised into 32-bit multiplies at half the
/// speed); the rest, for a dimension that is not a multiple of 64, is
/// summed after in 16-lane chunks.
#[inline(always)]
pub(crate) fn dot_i8_body(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (ba, ra) = a[..n].as_chunks::<64>();
    let (bb, rb) = b[..n].as_chunks::<64>();
    let mut sum = 0i32;
    for (x, y) in ba.iter().zip(bb) {
        sum += dot_i8_64(x, y);
    }
    let (ca, ta) = ra.as_chunks::<16>();
    let (cb, tb) = rb.as_chunks::<16>();
    let mut acc = [0i32; 16];
    for (x, y) in ca.iter().zip(cb) {
        // |x y| <= 128 x 128 fits an i16 product: exact.
        for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *s += (x as i16 * y as i16) as i32;
        }
    }
    let tail: i32 = ta.iter().zip(tb).map(|(&x, &y)| x as i32 * y as i32).sum();
    sum + acc.iter().sum::<i32>() + tail
}

/// [`dot_i8_body`] of one block of 64.
#[inline(always)]
fn dot_i8_64(a: &[i8; 64], b: &[i8; 64]) -> i32 {
    let mut acc = [0i32; 16];
    for (x, y) in a.as_chunks::<16>().0.iter().zip(b.as_chunks::<16>().0) {
        for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *s += (x as i16 * y as i16) as i32;
        }
    }
    acc.iter().sum()
}

/// How many words ahead of the one being scored the rows are prefetched.
const PREFETCH_WORDS: usize = 2;

/// Top `m` rows of one word range by the int8 estimate, one collector per
/// query: each row is read once for all the queries. Memory latency, not
/// arithmetic, bounds this loop (eligible rows are scattered), so the rows
/// of the word `PREFETCH_WORDS` ahead are prefetched before the rows of
/// this one are scored.
#[inline(always)]
fn scan_words(s: &RangeScan<'_>, words: &[u64], base: usize) -> Vec<TopK> {
    let q = s.q;
    let mut tops: Vec<TopK> = s.qqs.iter().map(|_| TopK::new(s.m)).collect();
    let fetch = |i: usize| crate::mem::prefetch(q.row_ptr(i));
    for_each_one_fetching(
        words,
        base,
        PREFETCH_WORDS,
        fetch,
        #[inline(always)]
        |i| {
            let (row, scale) = (q.row(i), q.scale[i]);
            for (t, qq) in tops.iter_mut().zip(s.qqs) {
                t.push(dot_i8_body(qq, row) as f32 * scale, i as u32);
            }
        },
    );
    tops
}

/// One int8 scan: the rows, the quantised queries, the shortlist length.
struct RangeScan<'a> {
    q: &'a QuantVectors,
    qqs: &'a [Vec<i8>],
    m: usize,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn scan_words_avx2(s: &RangeScan<'_>, words: &[u64], base: usize) -> Vec<TopK> {
    scan_words(s, words, base)
}

/// `scan_words`, vectorised with AVX2 when the CPU has it (runtime
/// detection; the build targets plain x86-64). Both paths give
/// the same result: the integer dot products are exact. The workspace
/// denies `unsafe`; this call, behind its CPU check, `dispatch`, the rule
/// kernels of `filter` and two in `mem` (`prefetch`,
/// `release_free_memory`) are its exceptions.
#[allow(unsafe_code)]
fn scan_range(s: &RangeScan<'_>, words: &[u64], base: usize) -> Vec<TopK> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { scan_words_avx2(s, words, base) };
        }
    }
    scan_words(s, words, base)
}

/// Rows ranked by the int8 estimate before the f32 re-score: k plus a
/// quarter, plus a few for small k.
pub fn shortlist_len(k: usize) -> usize {
    k.saturating_add(k / 4).saturating_add(32)
}

/// Exact-cosine top `k` of `query` over the `allowed` rows (or all),
/// best first, ties by lower ordinal: int8 estimate over every row, f32
/// re-score of the shortlist.
pub fn scan_top_k(
    q: &QuantVectors,
    v: &VectorTable,
    query: &[f32],
    k: usize,
    allowed: Option<&Bitset>,
) -> Vec<(f32, u32)> {
    scan_top_k_many(q, v, &[query], k, allowed)
        .pop()
        .unwrap_or_default()
}

/// [`scan_top_k`] for several queries in one pass over the rows (a
/// brief's vector and its lookalike seeds): each allowed row is read once
/// and scored against every query, so the scattered loads are paid once.
/// Result `j` equals `scan_top_k` of `queries[j]` (empty for a query of
/// the wrong length).
pub fn scan_top_k_many(
    q: &QuantVectors,
    v: &VectorTable,
    queries: &[&[f32]],
    k: usize,
    allowed: Option<&Bitset>,
) -> Vec<Vec<(f32, u32)>> {
    let valid: Vec<usize> = (0..queries.len())
        .filter(|&j| queries[j].len() == q.dim)
        .collect();
    let mut out: Vec<Vec<(f32, u32)>> = vec![Vec::new(); queries.len()];
    if k == 0 || q.is_empty() || valid.is_empty() {
        return out;
    }
    let qqs: Vec<Vec<i8>> = valid.iter().map(|&j| quantize_query(queries[j])).collect();
    let m = shortlist_len(k);
    let everyone;
    let bits = match allowed {
        Some(bits) => bits,
        None => {
            everyone = Bitset::full(q.len());
            &everyone
        }
    };
    let scan = RangeScan { q, qqs: &qqs, m };
    let shorts = bits.par_ranges(
        |ws, base| scan_range(&scan, ws, base),
        || qqs.iter().map(|_| TopK::new(m)).collect::<Vec<_>>(),
        |a, b| a.into_iter().zip(b).map(|(x, y)| x.merge(y)).collect(),
    );
    for (&j, short) in valid.iter().zip(shorts) {
        out[j] = rescore(v, queries[j], short, k);
    }
    out
}

/// A query's int8 copy (its scale is irrelevant to the ranking).
pub fn quantize_query(query: &[f32]) -> Vec<i8> {
    let mut qq = vec![0i8; query.len()];
    quantize(query, &mut qq);
    qq
}

/// The int8 estimate of row `i` for the quantised query `qq`, as the
/// scans rank it (integer dot product times the row's scale).
#[inline(always)]
pub fn estimate(q: &QuantVectors, qq: &[i8], i: usize) -> f32 {
    dot_i8_body(qq, q.row(i)) as f32 * q.scale[i]
}

/// [`estimate`] with AVX-512 VNNI ([`dot_i8_vnni`]): the same value (the
/// integer dot product is exact either way). Only for CPUs with
/// `avx512f`, `avx512bw` and `avx512vnni` (the callers check).
///
/// # Safety
/// The CPU must have those features ([`has_vnni`]); the caller should be
/// compiled with them, so that the intrinsics inline.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) unsafe fn estimate_vnni(q: &QuantVectors, qq: &[i8], i: usize) -> f32 {
    // SAFETY: as this function's.
    unsafe { dot_i8_vnni(qq, q.row(i)) as f32 * q.scale[i] }
}

/// [`estimate`], by [`estimate_vnni`] when `VNNI` (x86-64 only; elsewhere
/// `VNNI` changes nothing): for a loop compiled both ways, as
/// `candidates`' batched pass is.
///
/// # Safety
/// With `VNNI`, as [`estimate_vnni`]; without, none.
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) unsafe fn estimate_in<const VNNI: bool>(q: &QuantVectors, qq: &[i8], i: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if VNNI {
        // SAFETY: as this function's.
        return unsafe { estimate_vnni(q, qq, i) };
    }
    estimate(q, qq, i)
}

/// [`dot_i8_body`] with one `vpdpbusd` per 64 dimensions: it multiplies
/// unsigned by signed bytes, so `a` is read with its sign bit flipped (as
/// unsigned, a + 128) and 128 x sum(b), from a second `vpdpbusd`, is taken
/// off: sum((a + 128) b) - 128 sum(b) = sum(a b), exact in 32 bits (at
/// most 64 x 255 x 128 in magnitude per lane). The rest of a dimension
/// that is not a multiple of 64 as [`dot_i8_body`].
///
/// # Safety
/// As [`estimate_vnni`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) unsafe fn dot_i8_vnni(a: &[i8], b: &[i8]) -> i32 {
    use std::arch::x86_64::{
        _mm512_dpbusd_epi32, _mm512_loadu_si512, _mm512_reduce_add_epi32, _mm512_set1_epi8,
        _mm512_setzero_si512, _mm512_sub_epi32, _mm512_xor_si512,
    };
    let n = a.len().min(b.len());
    let (ba, ra) = a[..n].as_chunks::<64>();
    let (bb, rb) = b[..n].as_chunks::<64>();
    // SAFETY: the CPU has the features (this function's contract); each
    // load reads a whole array of 64 bytes, unaligned.
    unsafe {
        let flip = _mm512_set1_epi8(i8::MIN);
        let (mut acc, mut cor) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        for (x, y) in ba.iter().zip(bb) {
            let xv = _mm512_loadu_si512(x.as_ptr().cast());
            let yv = _mm512_loadu_si512(y.as_ptr().cast());
            acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(xv, flip), yv);
            cor = _mm512_dpbusd_epi32(cor, flip, yv);
        }
        _mm512_reduce_add_epi32(_mm512_sub_epi32(acc, cor)) + dot_i8_body(ra, rb)
    }
}

/// Whether this CPU runs [`dot_i8_vnni`] (runtime detection; AVX2 too,
/// which the pass around it is compiled for).
pub fn has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The exact-cosine top `k` of a shortlist ranked by the int8 estimate:
/// every shortlisted row re-scored with the f32 vectors. The rows are
/// scattered (four cache lines each): each is asked for `AHEAD` rows
/// before it is scored, and they are taken in the shortlist's own order
/// (the top-k does not depend on the order of its pushes).
pub fn rescore(v: &VectorTable, query: &[f32], short: TopK, k: usize) -> Vec<(f32, u32)> {
    const AHEAD: usize = 8;
    let rows = short.into_unsorted();
    let mut t = TopK::new(k);
    for (j, &(_, o)) in rows.iter().enumerate() {
        if let Some(&(_, far)) = rows.get(j + AHEAD) {
            crate::mem::prefetch_slice(v.row(far as usize));
        }
        t.push(dot(query, v.row(o as usize)), o);
    }
    t.into_sorted()
}

/// `avx2(args)` when the CPU has AVX2 (runtime detection), else
/// `plain(args)`: for a loop written once as an `#[inline(always)]`
/// function (`plain`) and compiled a second time inside an
/// `#[target_feature(enable = "avx2")]` wrapper (`avx2`), so that the int8
/// dot products ([`estimate`]) it inlines vectorise. Both must compute the
/// same result (integer sums are exact). Same `unsafe` exception as
/// [`scan_range`].
#[allow(unsafe_code)]
#[inline]
pub fn dispatch<A, R>(args: A, plain: fn(A) -> R, avx2: unsafe fn(A) -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above, which is
            // what `avx2` requires.
            return unsafe { avx2(args) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = avx2;
    plain(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ann::exact_top_k;

    fn world(n: usize, dim: usize, seed: u64) -> VectorTable {
        crate::test_vectors(n, dim, seed, 0)
    }

    /// The VNNI dot product is the integer dot product, extremes and a
    /// dimension that is not a multiple of 64 included. Checks nothing on
    /// a CPU without AVX-512 VNNI (which then never runs it).
    #[test]
    #[allow(unsafe_code)]
    fn vnni_dot_is_the_integer_dot() {
        if !has_vnni() {
            eprintln!("no AVX-512 VNNI on this CPU: dot_i8_vnni is never used here");
            return;
        }
        let mut below = crate::test_below(11);
        for dim in [0usize, 3, 63, 64, 65, 128, 200] {
            for case in 0..50 {
                let byte = |below: &mut dyn FnMut(u64) -> u64| match case % 3 {
                    0 => i8::MIN,
                    1 => i8::MAX,
                    _ => (below(256) as i32 - 128) as i8,
                };
                let (a, b): (Vec<i8>, Vec<i8>) = (0..dim)
                    .map(|_| {
                        let x = byte(&mut below);
                        let y = if below(2) == 0 {
                            byte(&mut below)
                        } else {
                            (below(256) as i32 - 128) as i8
                        };
                        (x, y)
                    })
                    .unzip();
                let want: i32 = a.iter().zip(&b).map(|(&x, &y)| x as i32 * y as i32).sum();
                // SAFETY: the CPU has the features, checked above.
                let got = unsafe { dot_i8_vnni(&a, &b) };
                assert_eq!(got, want, "dim {dim} case {case}");
                assert_eq!(dot_i8_body(&a, &b), want, "dim {dim} case {case}");
            }
        }
    }

    #[test]
    fn quantised_row_is_close_to_the_original() {
        let v = world(50, 64, 3);
        let q = QuantVectors::from_table(&v);
        for i in 0..v.len() {
            for (a, &b) in v.row(i).iter().zip(q.row(i)) {
                assert!((a - b as f32 * q.scale[i]).abs() <= q.scale[i] * 0.5 + 1e-6);
            }
        }
        let mut out = [1i8; 4];
        assert_eq!(quantize(&[0.0, 0.0, f32::NAN, 0.0], &mut out), 0.0);
        assert_eq!(out, [0; 4]);
    }

    #[test]
    fn rows_start_on_cache_lines_and_copies_keep_them_there() {
        let v = world(300, 64, 5);
        let q = QuantVectors::from_table(&v);
        let c = q.clone();
        for x in [&q, &c] {
            assert_eq!(x.row_ptr(0) as usize % LINE, 0);
            assert_eq!(x.row(7).as_ptr(), x.row_ptr(7));
            assert_eq!(x.row(299).as_ptr() as usize % LINE, 0);
        }
        for i in 0..v.len() {
            assert_eq!(q.row(i), c.row(i));
            assert_eq!(q.scale[i], c.scale[i]);
        }
        // An odd dimension: rows back to back from an aligned start.
        let v = world(40, 37, 6);
        let q = QuantVectors::from_table(&v).clone();
        assert_eq!(q.row_ptr(0) as usize % LINE, 0);
        assert_eq!(q.row(3).len(), 37);
        assert_eq!(q.len(), 40);
        assert!(QuantVectors::default().clone().is_empty());
    }

    #[test]
    fn int8_dot_is_the_exact_integer_sum_for_any_length() {
        // Uniform integers in [-127, 127], the quantised range.
        let mut u = crate::test_uniform(11);
        let mut next = || ((u() + 0.5) * 254.999).floor() as i32 - 127;
        for len in [0usize, 1, 15, 16, 63, 64, 65, 100, 128, 200, 384] {
            let a: Vec<i8> = (0..len).map(|_| next() as i8).collect();
            let b: Vec<i8> = (0..len).map(|_| next() as i8).collect();
            let want: i32 = a.iter().zip(&b).map(|(&x, &y)| x as i32 * y as i32).sum();
            assert_eq!(dot_i8_body(&a, &b), want, "length {len}");
            // The extremes of the quantised range, whole blocks and tail.
            let hi = vec![-127i8; len];
            assert_eq!(dot_i8_body(&hi, &hi), 127 * 127 * len as i32);
            // Unequal lengths: the shorter one counts.
            if len > 1 {
                assert_eq!(
                    dot_i8_body(&a, &b[..len - 1]),
                    dot_i8_body(&a[..len - 1], &b[..len - 1])
                );
            }
        }
    }

    #[test]
    fn dispatched_and_plain_scans_agree() {
        let v = world(3_000, 64, 9);
        let q = QuantVectors::from_table(&v);
        let mut qq = vec![0i8; 64];
        quantize(v.row(17), &mut qq);
        let bits = Bitset::from_fn(v.len(), |i| i % 3 != 0);
        let words = bits.words();
        let mut qq2 = vec![0i8; 64];
        quantize(v.row(2_000), &mut qq2);
        let qqs = [qq.clone(), qq2];
        let scan = RangeScan {
            q: &q,
            qqs: &qqs,
            m: 200,
        };
        let fast: Vec<_> = scan_range(&scan, words, 0)
            .into_iter()
            .map(TopK::into_sorted)
            .collect();
        let plain: Vec<_> = scan_words(&scan, words, 0)
            .into_iter()
            .map(TopK::into_sorted)
            .collect();
        assert_eq!(fast, plain);
        assert_ne!(fast[0], fast[1]);
        let fast = fast[0].clone();
        assert_eq!(fast.len(), 200);
        // The estimate is the integer dot product times the row's scale.
        let (score, o) = fast[0];
        let d: i32 = qq
            .iter()
            .zip(q.row(o as usize))
            .map(|(&x, &y)| x as i32 * y as i32)
            .sum::<i32>();
        assert_eq!(score, d as f32 * q.scale[o as usize]);
    }

    #[test]
    fn one_pass_for_many_queries_equals_one_scan_each() {
        let v = world(5_000, 64, 13);
        let q = QuantVectors::from_table(&v);
        let allowed = Bitset::from_fn(v.len(), |i| i % 4 != 1);
        let rows: Vec<Vec<f32>> = [3usize, 777, 4_321]
            .iter()
            .map(|&i| v.row(i).to_vec())
            .collect();
        let short = vec![0.5f32; 10];
        let mut queries: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        queries.insert(1, &short);
        for threads in [1usize, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let many = pool.install(|| scan_top_k_many(&q, &v, &queries, 150, Some(&allowed)));
            assert_eq!(many.len(), 4);
            assert!(
                many[1].is_empty(),
                "a query of the wrong length finds nothing"
            );
            for (j, got) in many.iter().enumerate() {
                let want = scan_top_k(&q, &v, queries[j], 150, Some(&allowed));
                assert_eq!(got, &want, "query {j}, {threads} threads");
            }
            assert_eq!(many[0].len(), 150);
        }
    }

    #[test]
    fn scan_returns_exact_cosines_and_matches_the_f32_scan() {
        let v = world(20_000, 64, 11);
        let q = QuantVectors::from_table(&v);
        let allowed = Bitset::from_fn(v.len(), |i| i % 5 != 2);
        let mut kept = 0usize;
        let mut total = 0usize;
        for (qi, k) in [(7usize, 10usize), (123, 100), (9_999, 1_000)] {
            let query = v.row(qi).to_vec();
            let got = scan_top_k(&q, &v, &query, k, Some(&allowed));
            let want = exact_top_k(&v, &query, k, Some(&allowed));
            assert_eq!(got.len(), want.len());
            for &(sim, o) in &got {
                assert!(allowed.get(o as usize));
                assert_eq!(sim, dot(&query, v.row(o as usize)));
            }
            // Sorted best first, ties by ordinal.
            assert!(got
                .windows(2)
                .all(|w| crate::topk::cmp_best_first(&w[0], &w[1]).is_lt()));
            let want_set: std::collections::HashSet<u32> = want.iter().map(|x| x.1).collect();
            kept += got.iter().filter(|x| want_set.contains(&x.1)).count();
            total += want.len();
        }
        // The shortlist margin makes the int8 ranking miss (almost) nothing.
        assert!(kept * 1000 >= total * 998, "kept {kept} of {total}");
    }

    #[test]
    fn scan_is_independent_of_thread_count() {
        let v = world(30_000, 64, 5);
        let q = QuantVectors::from_table(&v);
        let query = v.row(42).to_vec();
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| scan_top_k(&q, &v, &query, 500, None))
        };
        assert_eq!(run(1), run(3));
    }
}
