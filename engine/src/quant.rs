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

#[derive(Debug, Clone, Default)]
pub struct QuantVectors {
    pub dim: usize,
    pub data: Vec<i8>,
    pub scale: Vec<f32>,
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
        let mut data = vec![0i8; n * dim];
        let mut scale = vec![0.0f32; n];
        if dim > 0 {
            data.par_chunks_mut(dim)
                .zip(scale.par_iter_mut())
                .enumerate()
                .with_min_len(4096)
                .for_each(|(i, (out, s))| *s = quantize(v.row(i), out));
        }
        QuantVectors { dim, data, scale }
    }

    #[inline]
    pub fn row(&self, i: usize) -> &[i8] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    pub fn len(&self) -> usize {
        self.scale.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scale.is_empty()
    }
}

#[inline(always)]
fn dot_i8_body(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
}

/// How many words ahead of the one being scored the rows are prefetched.
const PREFETCH_WORDS: usize = 2;

/// Top `m` rows of one word range by the int8 estimate. Memory latency,
/// not arithmetic, bounds this loop (eligible rows are scattered), so the
/// rows of the word `PREFETCH_WORDS` ahead are prefetched before the rows
/// of this one are scored.
#[inline(always)]
fn scan_words(q: &QuantVectors, qq: &[i8], words: &[u64], base: usize, m: usize) -> TopK {
    let mut t = TopK::new(m);
    let fetch = |i: usize| crate::mem::prefetch(q.data.as_ptr().wrapping_add(i * q.dim));
    for_each_one_fetching(words, base, PREFETCH_WORDS, fetch, |i| {
        t.push(dot_i8_body(qq, q.row(i)) as f32 * q.scale[i], i as u32);
    });
    t
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn scan_words_avx2(q: &QuantVectors, qq: &[i8], words: &[u64], base: usize, m: usize) -> TopK {
    scan_words(q, qq, words, base, m)
}

/// `scan_words`, vectorised with AVX2 and prefetching when the CPU has it
/// (runtime detection; the build targets plain x86-64). Both paths give
/// the same result: the integer dot products are exact. The workspace
/// denies `unsafe`; this call, behind its CPU check, and two in `mem`
/// (`prefetch`, `release_free_memory`) are its exceptions.
#[allow(unsafe_code)]
fn scan_range(q: &QuantVectors, qq: &[i8], words: &[u64], base: usize, m: usize) -> TopK {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { scan_words_avx2(q, qq, words, base, m) };
        }
    }
    scan_words(q, qq, words, base, m)
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
    if k == 0 || q.is_empty() || query.len() != q.dim {
        return Vec::new();
    }
    let mut qq = vec![0i8; q.dim];
    quantize(query, &mut qq);
    let m = shortlist_len(k);
    let everyone;
    let bits = match allowed {
        Some(bits) => bits,
        None => {
            everyone = Bitset::full(q.len());
            &everyone
        }
    };
    let short = bits.par_ranges_top_k(m, |ws, base| scan_range(q, &qq, ws, base, m));
    let mut t = TopK::new(k);
    for (_, o) in short {
        t.push(dot(query, v.row(o as usize)), o);
    }
    t.into_sorted()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ann::exact_top_k;

    fn world(n: usize, dim: usize, seed: u64) -> VectorTable {
        let mut s = seed;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let mut data = Vec::with_capacity(n * dim);
        for _ in 0..n {
            let mut row: Vec<f32> = (0..dim).map(|_| next()).collect();
            crate::vector::normalize(&mut row);
            data.extend(row);
        }
        VectorTable {
            dim,
            data,
            user_supplied: false,
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
    fn dispatched_and_plain_scans_agree() {
        let v = world(3_000, 64, 9);
        let q = QuantVectors::from_table(&v);
        let mut qq = vec![0i8; 64];
        quantize(v.row(17), &mut qq);
        let bits = Bitset::from_fn(v.len(), |i| i % 3 != 0);
        let words = bits.words();
        let fast = scan_range(&q, &qq, words, 0, 200).into_sorted();
        let plain = scan_words(&q, &qq, words, 0, 200).into_sorted();
        assert_eq!(fast, plain);
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
