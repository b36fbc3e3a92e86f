//! The candidate pass of one brief, sixteen eligible rows at a time with
//! AVX-512 (F, BW, VNNI; runtime detection by the caller, see
//! [`available`]): the int8 dot products of each query and the value
//! bounds of [`BriefScorer::value_bound`], for the same collectors and
//! with the same numbers as the row-at-a-time pass in `candidates`.
//!
//! Why: that pass is bound by instructions, not memory (typical brief at
//! 1M: its dot products and its value bounds cost about the same and add
//! up, BENCHMARKS.md). Here a row's dot product is one `vpdpbusd` on the
//! row with its sign bit flipped (the query's sum times 128 is taken off
//! once per query, not per row) and the sixteen sums are reduced
//! together; a row enters a shortlist's own `push` only when its estimate
//! is not below the shortlist's floor; the bounds are computed lane by
//! lane with the scalar code's operations in the scalar code's order, so
//! they are the same floats, hence the same histogram buckets. A row's
//! bound and its int8 scale come from its 32-byte record
//! ([`crate::snapshot::BoundWords`], gathered field by field), one line
//! beside the row's own.
//!
//! Invariant: for every row, the same pushes reach the same collectors as
//! in the row-at-a-time pass, but for estimates below a shortlist's floor
//! (which its `push` turns away anyway); so the shortlists, the bounds and
//! everything after them are the same.

use crate::quant::QuantVectors;
use crate::signals::BriefScorer;
use crate::topk::{Bounded, TopK};

/// Whether [`one_brief_range`] can run: the CPU has AVX-512 F/BW and VNNI
/// (and AVX2), and the rows are 64-dimension int8 vectors.
pub fn available(q: &QuantVectors) -> bool {
    q.dim == 64 && crate::quant::has_vnni()
}

/// Rows ahead of the current group whose lines are asked for.
const AHEAD: usize = 64;

/// The gathers read `BoundWords` as eight dwords: field k at dword k.
const _: () = {
    use crate::snapshot::BoundWords;
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<BoundWords>() == 32 && align_of::<BoundWords>() == 32);
    assert!(offset_of!(BoundWords, value_bound) == 0);
    assert!(offset_of!(BoundWords, overall_bound) == 4);
    assert!(offset_of!(BoundWords, aud_bloom) == 8);
    assert!(offset_of!(BoundWords, niche_bloom) == 12);
    assert!(offset_of!(BoundWords, hist_bloom) == 16);
    // Dword 6: country (bits 0-15), home share (16-23), other (24-31).
    assert!(offset_of!(BoundWords, country) == 24);
    assert!(offset_of!(BoundWords, home_share) == 26);
    assert!(offset_of!(BoundWords, other_share) == 27);
    assert!(offset_of!(BoundWords, scale) == 28);
};

/// Pushes, for every set bit of `words` (bit j of word wi is row
/// `base + 64 wi + j`): each query's int8 estimate into its shortlist
/// (`shortlists[k]` for `qqs[k]`) and the row's value bound for `sc` into
/// `bounds`. Rows in order.
///
/// # Safety
/// [`available`] must hold for `q`, every query must have 64 dimensions,
/// `q` and `sc`'s snapshot must hold every row named by `words`, and rows
/// must be below 2^28 (gather offsets are 32-bit).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
#[allow(unsafe_code)]
pub(crate) unsafe fn one_brief_range(
    q: &QuantVectors,
    qqs: &[Vec<i8>],
    shortlists: &mut [TopK],
    sc: &BriefScorer<'_>,
    bounds: &mut Bounded,
    words: &[u64],
    base: usize,
) {
    use std::arch::x86_64::*;
    debug_assert_eq!(q.dim, 64);
    debug_assert_eq!(qqs.len(), shortlists.len());
    let bw = &sc.s.hot.bound_words;
    let rows: usize = words.iter().map(|w| w.count_ones() as usize).sum();
    let mut idx: Vec<u32> = Vec::with_capacity(rows);
    for (wi, &first) in words.iter().enumerate() {
        let mut w = first;
        while w != 0 {
            idx.push((base + wi * 64 + w.trailing_zeros() as usize) as u32);
            w &= w - 1;
        }
    }
    let n = idx.len();
    if n == 0 {
        return;
    }
    assert!(
        idx[n - 1] < (1 << 28)
            && (idx[n - 1] as usize) < bw.len()
            && (idx[n - 1] as usize) < q.len(),
        "rows within the snapshot"
    );
    let p = sc.bound_params();
    let bw_ptr = bw.as_ptr();
    let fetch = |i: u32| {
        crate::mem::prefetch(q.row_ptr(i as usize));
        crate::mem::prefetch(bw_ptr.wrapping_add(i as usize));
    };
    for &i in idx.iter().take(AHEAD) {
        fetch(i);
    }
    // SAFETY (the whole block): the CPU has the features this function is
    // compiled for (its contract); every load reads a row of `q` (64
    // bytes), a field of a record of `bw` (32 bytes, `BoundWords`' layout
    // checked at compile time below), or an entry of a table below its
    // length, at indices checked above or masked off.
    unsafe {
        let flip = _mm512_set1_epi8(i8::MIN);
        // Each query as is (signed), and 128 x its sum: sum((x + 128) q) -
        // 128 sum(q) = sum(x q), the same integer as the scalar code's.
        let queries: Vec<(__m512i, i32)> = qqs
            .iter()
            .map(|qq| {
                debug_assert_eq!(qq.len(), 64);
                let sum: i32 = qq.iter().map(|&x| x as i32).sum();
                (_mm512_loadu_si512(qq.as_ptr().cast()), 128 * sum)
            })
            .collect();
        let mut est = [0f32; 16];
        let mut buckets = [0u32; 16];
        let mut g = 0;
        while g < n {
            let m = (n - g).min(16);
            let valid: __mmask16 = if m == 16 {
                0xffff
            } else {
                ((1u32 << m) - 1) as u16
            };
            for &i in idx.iter().skip(g + AHEAD).take(16) {
                fetch(i);
            }
            let group = &idx[g..g + m];
            let vidx = _mm512_maskz_loadu_epi32(valid, idx.as_ptr().add(g).cast());
            // Lanes past the group read its first row (discarded).
            let row = |l: usize| q.row_ptr(group.get(l).copied().unwrap_or(group[0]) as usize);
            // Dword `8 i + k` is field k of row i's 32-byte record.
            let words8 = _mm512_slli_epi32::<3>(vidx);
            let bwp = bw_ptr.cast::<u8>();
            let field = |k: i32| {
                _mm512_mask_i32gather_epi32::<4>(
                    _mm512_setzero_si512(),
                    valid,
                    _mm512_add_epi32(words8, _mm512_set1_epi32(k)),
                    bwp.cast(),
                )
            };
            // The rows' int8 scales, kept in their records.
            let scales = _mm512_castsi512_ps(field(7));
            for ((qv, corr), short) in queries.iter().zip(shortlists.iter_mut()) {
                // Each row loaded again per query (from L1 after the
                // first), not kept: sixteen rows beside sixteen sums do
                // not fit the registers.
                let d: [__m512i; 16] = std::array::from_fn(|l| {
                    let x = _mm512_xor_si512(_mm512_loadu_si512(row(l).cast()), flip);
                    _mm512_dpbusd_epi32(_mm512_setzero_si512(), x, *qv)
                });
                let sums = _mm512_sub_epi32(reduce16(&d), _mm512_set1_epi32(*corr));
                let e = _mm512_mul_ps(_mm512_cvtepi32_ps(sums), scales);
                // Not below the floor (or unordered): the shortlist's own
                // push decides; below it, its push would turn the row away.
                let pass = match short.floor() {
                    Some(f) => _mm512_mask_cmp_ps_mask::<_CMP_NLT_UQ>(valid, e, _mm512_set1_ps(f)),
                    None => valid,
                };
                if pass != 0 {
                    _mm512_storeu_ps(est.as_mut_ptr(), e);
                    let mut bits = pass;
                    while bits != 0 {
                        let l = bits.trailing_zeros() as usize;
                        short.push(est[l], group[l]);
                        bits &= bits - 1;
                    }
                }
            }
            // The value bounds, lane by lane as `value_bound` computes them.
            // The overall-rate bound where the history's summary holds
            // none of the brief's niches.
            let in_history =
                _mm512_test_epi32_mask(field(4), _mm512_set1_epi32(p.niche_bits as u32 as i32))
                    | _mm512_test_epi32_mask(
                        field(5),
                        _mm512_set1_epi32((p.niche_bits >> 32) as u32 as i32),
                    );
            let mut ub = _mm512_mask_blend_ps(
                in_history,
                _mm512_castsi512_ps(field(1)),
                _mm512_castsi512_ps(field(0)),
            );
            if p.geo {
                let (aud, d3) = (field(2), field(6));
                let country = _mm512_and_si512(d3, _mm512_set1_epi32(0xffff));
                let known = _mm512_test_epi32_mask(d3, _mm512_set1_epi32(0x80 << 16));
                let hq = _mm512_and_si512(_mm512_srli_epi32::<16>(d3), _mm512_set1_epi32(0x7f));
                let oq = _mm512_srli_epi32::<24>(d3);
                let inf = _mm512_set1_ps(f32::INFINITY);
                // `BoundWords::home_bound` / `other_bound`: q / steps, or
                // infinity for the code that bounds nothing.
                let hb = _mm512_mask_blend_ps(
                    _mm512_cmpeq_epi32_mask(hq, _mm512_set1_epi32(127)),
                    _mm512_div_ps(_mm512_cvtepi32_ps(hq), _mm512_set1_ps(126.0)),
                    inf,
                );
                let ob = _mm512_mask_blend_ps(
                    _mm512_cmpeq_epi32_mask(oq, _mm512_set1_epi32(255)),
                    _mm512_div_ps(_mm512_cvtepi32_ps(oq), _mm512_set1_ps(254.0)),
                    inf,
                );
                let mut inside = _mm512_setzero_ps();
                for &(fold, code) in p.geo_folds {
                    let held = _mm512_test_epi32_mask(aud, _mm512_set1_epi32(1 << fold));
                    let home = _mm512_cmpeq_epi32_mask(country, _mm512_set1_epi32(code as i32));
                    let v = _mm512_mask_blend_ps(home, ob, hb);
                    inside = _mm512_mask_add_ps(inside, held, inside, v);
                }
                // clamp01: NaN -> 0 (max returns its second operand when
                // one is NaN), then into [0, 1].
                let x = _mm512_div_ps(inside, _mm512_set1_ps(p.geo_div));
                let known_geo =
                    _mm512_min_ps(_mm512_max_ps(x, _mm512_setzero_ps()), _mm512_set1_ps(1.0));
                // Unknown audience: the home country's factor (a code
                // past the table is no target).
                let in_table =
                    _mm512_cmplt_epu32_mask(country, _mm512_set1_epi32(p.unknown_geo.len() as i32));
                let unknown = _mm512_mask_i32gather_ps::<4>(
                    _mm512_set1_ps(crate::signals::UNTARGETED_HOME),
                    in_table & valid,
                    country,
                    p.unknown_geo.as_ptr().cast(),
                );
                ub = _mm512_mul_ps(ub, _mm512_mask_blend_ps(known, unknown, known_geo));
            }
            if p.niche {
                let nb = field(3);
                let mut present = _mm512_setzero_si512();
                for &f in p.niche_folds {
                    let bit = _mm512_and_si512(
                        _mm512_srlv_epi32(nb, _mm512_set1_epi32(f as i32)),
                        _mm512_set1_epi32(1),
                    );
                    present = _mm512_add_epi32(present, bit);
                }
                let factor = _mm512_i32gather_ps::<4>(present, p.niche_factor.as_ptr().cast());
                ub = _mm512_mul_ps(ub, factor);
            }
            // `topk::bound_bucket`, lane by lane.
            let top = _mm512_min_epu32(
                _mm512_srli_epi32::<{ crate::topk::BOUND_SHIFT }>(_mm512_castps_si512(ub)),
                _mm512_set1_epi32(crate::topk::BOUND_BUCKETS as i32 - 1),
            );
            let positive = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(ub, _mm512_setzero_ps());
            let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(ub, ub);
            let low = _mm512_maskz_mov_epi32(
                nan,
                _mm512_set1_epi32(crate::topk::BOUND_BUCKETS as i32 - 1),
            );
            let b = _mm512_mask_blend_epi32(positive, low, top);
            _mm512_storeu_si512(buckets.as_mut_ptr().cast(), b);
            for (l, &o) in group.iter().enumerate() {
                bounds.push_bucket(buckets[l], o);
            }
            g += 16;
        }
    }
}

/// [`one_brief_range`] where it can run (`None` elsewhere: the caller
/// takes the row-at-a-time pass): the rows of `words` (from row `base`)
/// for `sc`, each query of `qqs` into the shortlist beside it, the value
/// bounds into `bounds`.
pub fn one_brief_pass(
    sc: &BriefScorer<'_>,
    qqs: &[Vec<i8>],
    shortlists: &mut [TopK],
    bounds: &mut Bounded,
    words: &[u64],
    base: usize,
) -> Option<()> {
    let q = &sc.s.qvectors;
    let fits = words.iter().rposition(|&w| w != 0).is_none_or(|wi| {
        let last = base + wi * 64 + 63 - words[wi].leading_zeros() as usize;
        last < q.len() && last < sc.s.hot.bound_words.len() && last < (1 << 28)
    });
    if !available(q) || qqs.len() != shortlists.len() || qqs.iter().any(|x| x.len() != 64) || !fits
    {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `available`, the query lengths and the rows' range are
        // checked just above.
        #[allow(unsafe_code)]
        unsafe {
            one_brief_range(q, qqs, shortlists, sc, bounds, words, base)
        };
        Some(())
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// Sixteen vectors of sixteen partial sums -> one vector of their sixteen
/// totals, `out[l] = sum(v[l])` (integer adds: exact in any order).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code)]
#[inline]
unsafe fn reduce16(v: &[std::arch::x86_64::__m512i; 16]) -> std::arch::x86_64::__m512i {
    use std::arch::x86_64::*;
    // Within each 128-bit lane j: pairs, then quads, so that `s[k]` holds
    // rows 4k..4k+3's sums over lane j, in row order.
    let pair = |a: __m512i, b: __m512i| {
        _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b))
    };
    let quad = |a: __m512i, b: __m512i| {
        _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b))
    };
    let s: [__m512i; 4] = std::array::from_fn(|k| {
        quad(
            pair(v[4 * k], v[4 * k + 1]),
            pair(v[4 * k + 2], v[4 * k + 3]),
        )
    });
    // Then across the four lanes: lane pairs (0+1, 2+3), then their sum.
    let lanes = |a: __m512i, b: __m512i| {
        _mm512_add_epi32(
            _mm512_shuffle_i32x4::<0b10_00_10_00>(a, b),
            _mm512_shuffle_i32x4::<0b11_01_11_01>(a, b),
        )
    };
    lanes(lanes(s[0], s[1]), lanes(s[2], s[3]))
}

/// For tests: runs [`one_brief_range`] over `bits` with shortlists of
/// `k` for `queries` (f32, quantised here) and compares what it collected
/// with the scalar definitions — each shortlist with the top `k` of
/// [`crate::quant::estimate`] over the same rows, each row's bound bucket
/// with `value_bound`'s. `None` when the kernel cannot run here, else the
/// first difference found, if any.
#[doc(hidden)]
pub fn differs_from_scalar(
    sc: &BriefScorer<'_>,
    queries: &[&[f32]],
    k: usize,
    bits: &crate::bitset::Bitset,
) -> Option<Option<String>> {
    let q = &sc.s.qvectors;
    if !available(q) || queries.iter().any(|x| x.len() != 64) {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let qqs: Vec<Vec<i8>> = queries
            .iter()
            .map(|x| crate::quant::quantize_query(x))
            .collect();
        let mut shorts: Vec<TopK> = qqs.iter().map(|_| TopK::new(k)).collect();
        let mut bounds = Bounded::with_capacity(bits.count());
        one_brief_pass(sc, &qqs, &mut shorts, &mut bounds, bits.words(), 0)?;
        for (j, (short, qq)) in shorts.into_iter().zip(&qqs).enumerate() {
            let mut want = TopK::new(k);
            for i in bits.iter_ones() {
                want.push(crate::quant::estimate(q, qq, i), i as u32);
            }
            let (got, want) = (short.into_sorted(), want.into_sorted());
            if got != want {
                return Some(Some(format!("query {j}: shortlist {got:?} != {want:?}")));
            }
        }
        let got = bounds.pushed();
        let want: Vec<(u32, u32)> = bits
            .iter_ones()
            .map(|i| {
                (
                    crate::topk::bound_bucket(sc.value_bound(i)) as u32,
                    i as u32,
                )
            })
            .collect();
        if let Some(d) = got.iter().zip(&want).position(|(a, b)| a != b) {
            return Some(Some(format!(
                "row {}: bucket {} != {} (bound {})",
                want[d].1,
                got[d].0,
                want[d].0,
                sc.value_bound(want[d].1 as usize)
            )));
        }
        if got.len() != want.len() {
            return Some(Some(format!(
                "{} bounds pushed for {} rows",
                got.len(),
                want.len()
            )));
        }
        Some(None)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (k, bits);
        None
    }
}
