//! The contract's hard filters as one parallel columnar pass.
//!
//! Invariant: a creator's bit is set iff it passes every hard rule the brief
//! sets (CONTRACT.md, "Hard filters"), with the planned fee as the fee the
//! engine would pay; a creator whose value for a set filter is unknown fails
//! it. `check_one` states the same rules row by row and is used to verify
//! every selection (tests and a debug assertion in the matcher).

use rayon::prelude::*;

use crate::bitset::Bitset;
use crate::brief::CampaignBrief;
use crate::quant::dispatch;
use crate::snapshot::{Snapshot, UNKNOWN_CODE};

/// A brief's rules compiled against a snapshot's dictionaries.
#[derive(Debug, Clone)]
pub struct CompiledRules {
    /// Allowed platforms and countries (by code; `None`: no rule).
    platforms: Option<CodeSet<u8, 6>>,
    countries: Option<CodeSet<u16, 8>>,
    /// `countries` over the 8-bit column (`Hot::country_8`), when the
    /// snapshot has it.
    countries_8: Option<CodeSet<u8, 8>>,
    languages: Option<[u64; 3]>,
    followers_min: u64,
    followers_max: u64,
    min_er: Option<f64>,
    min_quality: Option<f64>,
    fee_lo_cents: u64,
    fee_hi_cents: u64,
    needs_usage_rights: bool,
}

/// Which rule removed a creator first (for "why so few?" answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Platform,
    Country,
    Language,
    Followers,
    EngagementRate,
    AudienceQuality,
    FeeRange,
    MinFee,
    Capacity,
    UsageRights,
    ExcludedBrand,
    ExcludedCreator,
    /// One of the brief's `similar_to` seeds (the brief asks for creators
    /// like them, not for them).
    LookalikeSeed,
}

impl CompiledRules {
    pub fn compile(b: &CampaignBrief, s: &Snapshot) -> CompiledRules {
        let platforms = b
            .platforms
            .as_ref()
            .map(|ps| CodeSet::new(ps.iter().map(|p| p.code()).collect()));
        // A country the snapshot has never seen is no creator's: no code.
        let country_codes: Option<Vec<u16>> = b.target.countries.as_ref().map(|cs| {
            cs.iter()
                .filter_map(|c| s.dicts.country_index.get(c).copied())
                .filter(|&c| c != UNKNOWN_CODE)
                .collect()
        });
        // With the 8-bit column every known code is below 255.
        let countries_8 = country_codes
            .as_ref()
            .filter(|_| !s.hot.country_8.is_empty())
            .map(|cs| CodeSet::new(cs.iter().map(|&c| c as u8).collect()));
        let countries = country_codes.map(CodeSet::new);
        let languages = b.target.languages.as_ref().map(|ls| {
            let mut m = [0u64; 3];
            for l in ls {
                if let Some(&code) = s.dicts.language_index.get(l) {
                    let code = code as usize;
                    if code < 192 {
                        m[code / 64] |= 1 << (code % 64);
                    }
                }
            }
            m
        });
        let (fee_lo_cents, fee_hi_cents) = match b.fee_range_usd {
            // Outward never: a fee of 150.00 is not in [150.004, ..].
            Some((lo, hi)) => (
                crate::pricing::cents_at_least(lo),
                crate::pricing::cents_at_most(hi),
            ),
            None => (0, u64::MAX),
        };
        CompiledRules {
            platforms,
            countries,
            countries_8,
            languages,
            followers_min: b.filters.followers_min.unwrap_or(0),
            followers_max: b.filters.followers_max.unwrap_or(u64::MAX),
            min_er: b.filters.min_engagement_rate,
            min_quality: b.filters.min_audience_quality,
            fee_lo_cents,
            fee_hi_cents,
            needs_usage_rights: b.usage_rights.as_ref().is_some_and(|u| u.paid_usage),
        }
    }

    /// The first column rule creator `i` breaks, if any (exclusions aside).
    #[inline]
    pub fn first_broken(&self, s: &Snapshot, i: usize) -> Option<Rule> {
        let h = &s.hot;
        if let Some(p) = &self.platforms {
            if !p.contains(h.platform[i]) {
                return Some(Rule::Platform);
            }
        }
        if let Some(c) = &self.countries {
            if !c.contains(h.country[i]) {
                return Some(Rule::Country);
            }
        }
        if let Some(m) = &self.languages {
            let l = &h.languages[i];
            if (l[0] & m[0]) | (l[1] & m[1]) | (l[2] & m[2]) == 0 {
                return Some(Rule::Language);
            }
        }
        let f = h.followers[i];
        if f < self.followers_min || f > self.followers_max {
            return Some(Rule::Followers);
        }
        if let Some(min) = self.min_er {
            // NaN (unknown) fails: comparisons with NaN are false.
            if h.er_rule[i].is_nan() || h.er_rule[i] < min {
                return Some(Rule::EngagementRate);
            }
        }
        if let Some(min) = self.min_quality {
            if h.quality_rule[i].is_nan() || h.quality_rule[i] < min {
                return Some(Rule::AudienceQuality);
            }
        }
        let fee = h.fee_cents[i];
        if fee < self.fee_lo_cents || fee > self.fee_hi_cents {
            return Some(Rule::FeeRange);
        }
        if fee < h.min_fee_cents[i] {
            return Some(Rule::MinFee);
        }
        if h.capacity[i] == 0 {
            return Some(Rule::Capacity);
        }
        if self.needs_usage_rights && h.usage_rights[i] != 1 {
            return Some(Rule::UsageRights);
        }
        None
    }
}

/// Bit j set iff `keep(col[j])` (at most 64 values). The tests go to a
/// byte array first (independent compares the compiler vectorises), then
/// eight bytes at a time become eight bits with one multiply, instead of a
/// 64-step shift-or chain.
#[inline(always)]
fn mask<T: Copy>(col: &[T], keep: impl Fn(T) -> bool) -> u64 {
    let mut bytes = [0u8; 64];
    for (b, &x) in bytes.iter_mut().zip(col) {
        *b = keep(x) as u8;
    }
    pack_bytes(&bytes)
}

/// Bit j set iff `col[j]` (at most 64 values) is one of `codes`: member
/// by member, each one vectorised pass over the rows, so the cost follows
/// the list's length.
#[inline(always)]
fn eq_any<T: Copy + PartialEq>(col: &[T], codes: &[T]) -> u64 {
    let mut bytes = [0u8; 64];
    for &c in codes {
        for (b, &x) in bytes.iter_mut().zip(col) {
            *b |= (x == c) as u8;
        }
    }
    pack_bytes(&bytes)
}

/// Packs 64 bytes, each 0 or 1, into a word: bit j = byte j.
#[inline(always)]
fn pack_bytes(bytes: &[u8; 64]) -> u64 {
    // Byte k of a little-endian word times this constant lands alone on
    // bit 56 + k (the partial products never overlap, so nothing carries).
    const GATHER: u64 = 0x0102_0408_1020_4080;
    let mut m = 0u64;
    for (k, chunk) in bytes.chunks_exact(8).enumerate() {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        m |= (w.wrapping_mul(GATHER) >> 56) << (8 * k);
    }
    m
}

impl CompiledRules {
    /// The column rules over rows `start..end` (at most 64; `start` a
    /// multiple of 64) as a bit word: bit j set iff row `start + j` breaks
    /// none of them. The same rules as [`CompiledRules::first_broken`],
    /// evaluated column by column from the snapshot's brief-independent
    /// `payable` word (fee at or above the floor, capacity
    /// not 0), one tight loop per rule the brief sets, stopping once no
    /// row of the word is left. Followers and fees are read as 32-bit
    /// columns when the snapshot has them (every value below `u32::MAX`,
    /// so bounds saturate exactly).
    #[inline]
    pub fn word(&self, s: &Snapshot, start: usize, end: usize) -> u64 {
        self.word_with::<Plain>(s, start, end)
    }

    /// [`CompiledRules::word`] with AVX2 compares where the CPU has them
    /// (through [`dispatch`]): the same bits (the kernels are tested
    /// against the plain loops on edge values). Each 64-row column becomes
    /// its word with a compare and a `movemask` per vector instead of a
    /// byte array packed by multiplies.
    #[inline]
    pub fn word_fast(&self, s: &Snapshot, start: usize, end: usize) -> u64 {
        #[cfg(target_arch = "x86_64")]
        let avx2: unsafe fn(WordArgs<'_>) -> u64 = word_avx2;
        #[cfg(not(target_arch = "x86_64"))]
        let avx2: unsafe fn(WordArgs<'_>) -> u64 = word_plain;
        dispatch((self, s, start, end), word_plain, avx2)
    }

    /// Words `w0..w1` of the column rules (as [`CompiledRules::word_fast`])
    /// appended to `out`; the CPU check is made once per block.
    pub fn words_into(&self, s: &Snapshot, w0: usize, w1: usize, out: &mut Vec<u64>) {
        #[cfg(target_arch = "x86_64")]
        let avx2: unsafe fn(BlockArgs<'_, '_>) = words_avx2;
        #[cfg(not(target_arch = "x86_64"))]
        let avx2: unsafe fn(BlockArgs<'_, '_>) = words_plain;
        dispatch((self, s, w0, w1, out), words_plain, avx2)
    }

    /// The body of [`CompiledRules::word`], its per-column tests made by
    /// the kernels `K`.
    #[inline(always)]
    fn word_with<K: Kernels>(&self, s: &Snapshot, start: usize, end: usize) -> u64 {
        let h = &s.hot;
        let r = start..end;
        let mut m = h.payable[start / 64];
        if let Some(p) = &self.platforms {
            m &= p.mask_u8::<K>(&h.platform[r.clone()]);
        }
        if let (Some(c), true) = (&self.countries, m != 0) {
            m &= match &self.countries_8 {
                Some(c8) => c8.mask_u8::<K>(&h.country_8[r.clone()]),
                None => c.mask(&h.country[r.clone()]),
            };
        }
        if m != 0 && (self.followers_min > 0 || self.followers_max < u64::MAX) {
            let (lo, hi) = (self.followers_min, self.followers_max);
            if h.followers_u32.is_empty() {
                m &= mask(&h.followers[r.clone()], |f| f >= lo && f <= hi);
            } else {
                m &= K::within_u32(&h.followers_u32[r.clone()], sat32(lo), sat32(hi));
            }
        }
        if m != 0 && (self.fee_lo_cents > 0 || self.fee_hi_cents < u64::MAX) {
            let (lo, hi) = (self.fee_lo_cents, self.fee_hi_cents);
            if h.fee_cents_u32.is_empty() {
                m &= mask(&h.fee_cents[r.clone()], |fee| fee >= lo && fee <= hi);
            } else {
                m &= K::within_u32(&h.fee_cents_u32[r.clone()], sat32(lo), sat32(hi));
            }
        }
        if let (Some(min), true) = (self.min_er, m != 0) {
            // NaN (unknown) fails: comparisons with NaN are false.
            m &= K::at_least_f64(&h.er_rule[r.clone()], min);
        }
        if let (Some(min), true) = (self.min_quality, m != 0) {
            m &= K::at_least_f64(&h.quality_rule[r.clone()], min);
        }
        if let (Some(want), true) = (&self.languages, m != 0) {
            if want[1] == 0 && want[2] == 0 {
                // Only codes < 64 asked: the 8-byte column says it all.
                m &= K::any_bit_u64(&h.languages_lo[r.clone()], want[0]);
            } else {
                m &= mask(&h.languages[r.clone()], |l| {
                    (l[0] & want[0]) | (l[1] & want[1]) | (l[2] & want[2]) != 0
                });
            }
        }
        if self.needs_usage_rights && m != 0 {
            m &= K::eq_any_u8(&h.usage_rights[r], &[1]);
        }
        m
    }
}

/// One word of rules: the rules, the snapshot, first and end row.
type WordArgs<'r> = (&'r CompiledRules, &'r Snapshot, usize, usize);

/// A block of words of rules: the rules, the snapshot, first and end word,
/// and where the words go.
type BlockArgs<'r, 'o> = (
    &'r CompiledRules,
    &'r Snapshot,
    usize,
    usize,
    &'o mut Vec<u64>,
);

fn word_plain((r, s, start, end): WordArgs<'_>) -> u64 {
    r.word_with::<Plain>(s, start, end)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn word_avx2((r, s, start, end): WordArgs<'_>) -> u64 {
    r.word_with::<Wide>(s, start, end)
}

fn words_plain(args: BlockArgs<'_, '_>) {
    words_with::<Plain>(args)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn words_avx2(args: BlockArgs<'_, '_>) {
    words_with::<Wide>(args)
}

/// A plain loop, not `extend` over an iterator: the iterator's `fold` is a
/// function of its own, compiled without AVX2, which would call each
/// kernel out of line instead of inlining it here.
#[inline(always)]
fn words_with<K: Kernels>((r, s, w0, w1, out): BlockArgs<'_, '_>) {
    let n = s.len();
    out.reserve(w1.saturating_sub(w0));
    for w in w0..w1 {
        out.push(r.word_with::<K>(s, w * 64, (w * 64 + 64).min(n)));
    }
}

/// How the rule pass turns up to 64 rows of a column into a word (bit j
/// for row j): the plain loops, or the AVX2 kernels.
trait Kernels {
    /// Bit j set iff `col[j]` is one of `codes`.
    fn eq_any_u8(col: &[u8], codes: &[u8]) -> u64;
    /// Bit j set iff `lo <= col[j] <= hi`.
    fn within_u32(col: &[u32], lo: u32, hi: u32) -> u64;
    /// Bit j set iff `col[j] >= min` (false for NaN).
    fn at_least_f64(col: &[f64], min: f64) -> u64;
    /// Bit j set iff `col[j] & want != 0`.
    fn any_bit_u64(col: &[u64], want: u64) -> u64;
}

/// The plain loops ([`mask`]), which the compiler vectorises for the
/// baseline CPU.
struct Plain;

impl Kernels for Plain {
    #[inline(always)]
    fn eq_any_u8(col: &[u8], codes: &[u8]) -> u64 {
        eq_any(col, codes)
    }

    #[inline(always)]
    fn within_u32(col: &[u32], lo: u32, hi: u32) -> u64 {
        mask(col, |x| x >= lo && x <= hi)
    }

    #[inline(always)]
    fn at_least_f64(col: &[f64], min: f64) -> u64 {
        mask(col, |x| x >= min)
    }

    #[inline(always)]
    fn any_bit_u64(col: &[u64], want: u64) -> u64 {
        mask(col, |x| x & want != 0)
    }
}

/// The AVX2 kernels of [`wide`] for a whole word of 64 rows, the plain
/// loops for a shorter (the last) one. Only ever instantiated inside
/// `word_avx2` and `words_avx2`, which [`dispatch`] calls after its CPU
/// check.
#[cfg(target_arch = "x86_64")]
struct Wide;

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
impl Kernels for Wide {
    #[inline(always)]
    fn eq_any_u8(col: &[u8], codes: &[u8]) -> u64 {
        match col.try_into() {
            // SAFETY: reached only from the AVX2 entry points (checked).
            Ok(col) => unsafe { wide::eq_any_u8(col, codes) },
            Err(_) => Plain::eq_any_u8(col, codes),
        }
    }

    #[inline(always)]
    fn within_u32(col: &[u32], lo: u32, hi: u32) -> u64 {
        match col.try_into() {
            // SAFETY: reached only from the AVX2 entry points (checked).
            Ok(col) => unsafe { wide::within_u32(col, lo, hi) },
            Err(_) => Plain::within_u32(col, lo, hi),
        }
    }

    #[inline(always)]
    fn at_least_f64(col: &[f64], min: f64) -> u64 {
        match col.try_into() {
            // SAFETY: reached only from the AVX2 entry points (checked).
            Ok(col) => unsafe { wide::at_least_f64(col, min) },
            Err(_) => Plain::at_least_f64(col, min),
        }
    }

    #[inline(always)]
    fn any_bit_u64(col: &[u64], want: u64) -> u64 {
        match col.try_into() {
            // SAFETY: reached only from the AVX2 entry points (checked).
            Ok(col) => unsafe { wide::any_bit_u64(col, want) },
            Err(_) => Plain::any_bit_u64(col, want),
        }
    }
}

/// The rule pass's AVX2 kernels: 64 rows of one column to a word (bit j
/// for row j), the same tests as the plain `mask` closures.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod wide {
    use std::arch::x86_64::*;

    /// Bit j set iff `col[j]` is one of `codes`.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn eq_any_u8(col: &[u8; 64], codes: &[u8]) -> u64 {
        let p = col.as_ptr().cast::<__m256i>();
        // SAFETY: `col` is 64 bytes, two unaligned 32-byte loads.
        let (a, b) = unsafe { (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1))) };
        let (mut ma, mut mb) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for &c in codes {
            let v = _mm256_set1_epi8(c as i8);
            ma = _mm256_or_si256(ma, _mm256_cmpeq_epi8(a, v));
            mb = _mm256_or_si256(mb, _mm256_cmpeq_epi8(b, v));
        }
        let lo = _mm256_movemask_epi8(ma) as u32 as u64;
        let hi = _mm256_movemask_epi8(mb) as u32 as u64;
        lo | (hi << 32)
    }

    /// Bit j set iff `lo <= col[j] <= hi` (unsigned).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn within_u32(col: &[u32; 64], lo: u32, hi: u32) -> u64 {
        let (vlo, vhi) = (_mm256_set1_epi32(lo as i32), _mm256_set1_epi32(hi as i32));
        let p = col.as_ptr().cast::<__m256i>();
        let mut m = 0u64;
        for k in 0..8 {
            // SAFETY: 8 x 8 lanes of 32 bits are the 64 values of `col`.
            let x = unsafe { _mm256_loadu_si256(p.add(k)) };
            // x >= lo iff max(x, lo) == x; x <= hi iff min(x, hi) == x.
            let ge = _mm256_cmpeq_epi32(_mm256_max_epu32(x, vlo), x);
            let le = _mm256_cmpeq_epi32(_mm256_min_epu32(x, vhi), x);
            let both = _mm256_castsi256_ps(_mm256_and_si256(ge, le));
            m |= (_mm256_movemask_ps(both) as u32 as u64) << (8 * k);
        }
        m
    }

    /// Bit j set iff `col[j] >= min` (false for NaN, like the plain `>=`).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn at_least_f64(col: &[f64; 64], min: f64) -> u64 {
        let vmin = _mm256_set1_pd(min);
        let p = col.as_ptr();
        let mut m = 0u64;
        for k in 0..16 {
            // SAFETY: 16 x 4 lanes are the 64 values of `col`.
            let x = unsafe { _mm256_loadu_pd(p.add(4 * k)) };
            // Ordered, quiet: NaN on either side compares false.
            let ge = _mm256_cmp_pd::<_CMP_GE_OQ>(x, vmin);
            m |= (_mm256_movemask_pd(ge) as u32 as u64) << (4 * k);
        }
        m
    }

    /// Bit j set iff `col[j] & want != 0`.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn any_bit_u64(col: &[u64; 64], want: u64) -> u64 {
        let (w, zero) = (_mm256_set1_epi64x(want as i64), _mm256_setzero_si256());
        let p = col.as_ptr().cast::<__m256i>();
        let mut none = 0u64;
        for k in 0..16 {
            // SAFETY: 16 x 4 lanes of 64 bits are the 64 values of `col`.
            let x = unsafe { _mm256_loadu_si256(p.add(k)) };
            let z = _mm256_cmpeq_epi64(_mm256_and_si256(x, w), zero);
            none |= (_mm256_movemask_pd(_mm256_castsi256_pd(z)) as u32 as u64) << (4 * k);
        }
        !none
    }
}

/// The codes a rule allows (platforms, countries). A short list (at most
/// `N`; the array padded by repeating a member) is tested by equality, one
/// vectorised pass over the word's rows per member, so a brief's one
/// country costs one compare per row (padded to `N`, it cost `N`); a
/// longer one is a table over every code; an empty one admits nobody.
#[derive(Debug, Clone)]
enum CodeSet<T, const N: usize> {
    Nobody,
    /// The members and how many of the array's leading entries they are.
    Few([T; N], usize),
    Table(Box<[bool]>),
}

impl<T, const N: usize> CodeSet<T, N>
where
    T: Copy + Ord + Into<usize>,
{
    fn new(mut codes: Vec<T>) -> Self {
        codes.sort_unstable();
        codes.dedup();
        match codes.first() {
            None => CodeSet::Nobody,
            Some(&first) if codes.len() <= N => {
                let mut a = [first; N];
                a[..codes.len()].copy_from_slice(&codes);
                CodeSet::Few(a, codes.len())
            }
            Some(_) => {
                let mut t = vec![false; 1 << (8 * std::mem::size_of::<T>())];
                for c in codes {
                    t[c.into()] = true;
                }
                CodeSet::Table(t.into_boxed_slice())
            }
        }
    }

    #[inline]
    fn contains(&self, x: T) -> bool {
        match self {
            CodeSet::Nobody => false,
            CodeSet::Few(a, k) => a[..*k].contains(&x),
            CodeSet::Table(t) => t[x.into()],
        }
    }

    /// `mask` of the rows whose code is in the set (the variant chosen
    /// once per word, not per row).
    #[inline]
    fn mask(&self, col: &[T]) -> u64 {
        match self {
            CodeSet::Nobody => 0,
            CodeSet::Few(a, k) => eq_any(col, &a[..*k]),
            CodeSet::Table(t) => mask(col, |x| t[x.into()]),
        }
    }
}

impl<const N: usize> CodeSet<u8, N> {
    /// [`CodeSet::mask`] of an 8-bit column, a short list by `K`.
    #[inline(always)]
    fn mask_u8<K: Kernels>(&self, col: &[u8]) -> u64 {
        match self {
            CodeSet::Few(a, k) => K::eq_any_u8(col, &a[..*k]),
            other => other.mask(col),
        }
    }
}

/// A 64-bit bound against a column whose values are all below
/// `u32::MAX`: saturating keeps every comparison's outcome.
#[inline]
fn sat32(x: u64) -> u32 {
    x.min(u32::MAX as u64) as u32
}

/// The eligible set of a brief.
#[derive(Debug, Clone)]
pub struct Eligibility {
    pub bits: Bitset,
    pub count: usize,
}

/// Computes the eligible set: the column rules in one parallel pass (64
/// rows per word, column by column), then
/// the brand and creator exclusions from their postings.
pub fn eligible(b: &CampaignBrief, s: &Snapshot) -> Eligibility {
    let rules = CompiledRules::compile(b, s);
    let bits = Bitset::from_words(s.len(), |w| {
        let start = w * 64;
        rules.word_fast(s, start, (start + 64).min(s.len()))
    });
    excluded_out(b, s, bits)
}

/// Words of rules one task of [`eligible_many`] computes for every brief
/// before it moves on (4,096 creators, whose rule columns stay in the
/// core's cache across the briefs).
const MANY_BLOCK_WORDS: usize = 64;

/// [`eligible`] of each of `briefs`, equal brief by brief (tested), in one
/// pass over the rule columns for all of them: each block of rows is read
/// from memory once, then every brief's rules run on it from cache.
pub fn eligible_many(briefs: &[&CampaignBrief], s: &Snapshot) -> Vec<Eligibility> {
    let rules: Vec<CompiledRules> = briefs
        .iter()
        .map(|b| CompiledRules::compile(b, s))
        .collect();
    let n = s.len();
    let words = n.div_ceil(64);
    let ranges = (rayon::current_num_threads() * 4).max(1);
    let per = words.div_ceil(ranges).max(1);
    // parts[r][j]: brief j's words of range r.
    let parts: Vec<Vec<Vec<u64>>> = (0..words.div_ceil(per))
        .into_par_iter()
        .map(|r| {
            let (w0, w1) = (r * per, ((r + 1) * per).min(words));
            let mut out: Vec<Vec<u64>> =
                rules.iter().map(|_| Vec::with_capacity(w1 - w0)).collect();
            let mut b0 = w0;
            while b0 < w1 {
                let b1 = (b0 + MANY_BLOCK_WORDS).min(w1);
                for (rule, o) in rules.iter().zip(out.iter_mut()) {
                    rule.words_into(s, b0, b1, o);
                }
                b0 = b1;
            }
            out
        })
        .collect();
    briefs
        .par_iter()
        .enumerate()
        .map(|(j, b)| {
            // The ranges' words in order (a copy per range, no per-word
            // index arithmetic).
            let mut own = Vec::with_capacity(words);
            for part in &parts {
                own.extend_from_slice(&part[j]);
            }
            let bits = Bitset::from_word_vec(n, own);
            excluded_out(b, s, bits)
        })
        .collect()
}

/// The eligible set from the column rules' `bits`: the brief's excluded
/// brands and creators taken out, counted.
fn excluded_out(b: &CampaignBrief, s: &Snapshot, mut bits: Bitset) -> Eligibility {
    for brand in &b.exclude_brands {
        if let Some(list) = s.brand_postings.get(brand) {
            for &o in list {
                bits.clear(o as usize);
            }
        }
    }
    // The excluded creators, and the lookalike seeds (never selected
    // themselves: README's contract extensions).
    for id in b.exclude_creators.iter().chain(&b.similar_to) {
        if let Some(o) = s.ordinal(id) {
            bits.clear(o as usize);
        }
    }
    let count = bits.count();
    Eligibility { bits, count }
}

/// Every rule creator `i` breaks for brief `b`, checked from the tables
/// directly (independent of the bitmap path; used to verify selections).
pub fn check_one(b: &CampaignBrief, s: &Snapshot, i: usize) -> Vec<Rule> {
    let c = &s.creators;
    let mut broken = Vec::new();
    if let Some(ps) = &b.platforms {
        if !ps.contains(&c.platform[i]) {
            broken.push(Rule::Platform);
        }
    }
    if let Some(cs) = &b.target.countries {
        if !c.country[i].as_ref().is_some_and(|x| cs.contains(x)) {
            broken.push(Rule::Country);
        }
    }
    if let Some(ls) = &b.target.languages {
        if !c.languages[i]
            .as_ref()
            .is_some_and(|have| have.iter().any(|l| ls.contains(l)))
        {
            broken.push(Rule::Language);
        }
    }
    let f = c.followers[i];
    if b.filters.followers_min.is_some_and(|m| f < m)
        || b.filters.followers_max.is_some_and(|m| f > m)
    {
        broken.push(Rule::Followers);
    }
    if let Some(m) = b.filters.min_engagement_rate {
        if !c.engagement_rate[i].is_some_and(|er| er >= m) {
            broken.push(Rule::EngagementRate);
        }
    }
    if let Some(m) = b.filters.min_audience_quality {
        if !c.audience_quality[i].is_some_and(|q| q >= m) {
            broken.push(Rule::AudienceQuality);
        }
    }
    let fee_cents = s.hot.fee_cents[i];
    if let Some((lo, hi)) = b.fee_range_usd {
        if fee_cents < crate::pricing::cents_at_least(lo)
            || fee_cents > crate::pricing::cents_at_most(hi)
        {
            broken.push(Rule::FeeRange);
        }
    }
    if c.min_fee_usd[i].is_some_and(|m| fee_cents < crate::pricing::cents_at_least(m)) {
        broken.push(Rule::MinFee);
    }
    if c.capacity[i] == Some(0) {
        broken.push(Rule::Capacity);
    }
    if b.usage_rights.as_ref().is_some_and(|u| u.paid_usage)
        && c.accepts_usage_rights[i] != Some(true)
    {
        broken.push(Rule::UsageRights);
    }
    let worked: Vec<String> = c.brands_worked_with[i]
        .iter()
        .flatten()
        .chain(c.history_brands[i].iter().flatten())
        .map(|x| x.to_lowercase())
        .collect();
    if b.exclude_brands.iter().any(|x| worked.contains(x)) {
        broken.push(Rule::ExcludedBrand);
    }
    if b.exclude_creators.contains(&c.creator_id[i]) {
        broken.push(Rule::ExcludedCreator);
    }
    if b.similar_to.contains(&c.creator_id[i]) {
        broken.push(Rule::LookalikeSeed);
    }
    broken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_sets_hold_exactly_their_codes() {
        let col: Vec<u16> = (0..64).map(|j| (j * 7 % 23) as u16).collect();
        for codes in [
            vec![],
            vec![5u16],
            vec![5, 5, 9],
            (0..8).collect(),
            (0..9).collect(),
        ] {
            let set = CodeSet::<u16, 8>::new(codes.clone());
            let want = |x: u16| codes.contains(&x);
            match (&set, codes.len()) {
                (CodeSet::Nobody, 0) | (CodeSet::Few(_, _), 1..=8) | (CodeSet::Table(_), 9..) => {}
                (other, n) => panic!("{n} codes became {other:?}"),
            }
            for x in 0..30u16 {
                assert_eq!(set.contains(x), want(x), "{codes:?} / {x}");
            }
            let mut m = 0u64;
            for (j, &x) in col.iter().enumerate() {
                m |= (want(x) as u64) << j;
            }
            assert_eq!(set.mask(&col), m, "{codes:?}");
            // The last word of a table is partial: rows past it stay 0.
            assert_eq!(set.mask(&col[..37]), m & ((1 << 37) - 1), "{codes:?}");
        }
    }

    #[test]
    fn mask_sets_bit_j_iff_row_j_passes() {
        // Every pattern of a byte position, partial words included.
        for len in [0usize, 1, 7, 8, 9, 63, 64] {
            for seed in 0..50u64 {
                let col: Vec<u64> = (0..len as u64)
                    .map(|j| (j * 2654435761 + seed * 97) % 11)
                    .collect();
                let got = mask(&col, |x| x >= 5);
                let mut want = 0u64;
                for (j, &x) in col.iter().enumerate() {
                    want |= ((x >= 5) as u64) << j;
                }
                assert_eq!(got, want, "len {len} seed {seed}");
            }
        }
        assert_eq!(mask(&[1u8; 64], |x| x == 1), u64::MAX);
        assert_eq!(pack_bytes(&[0u8; 64]), 0);
    }

    /// The AVX2 kernels give the plain `mask` bits on columns full of edge
    /// values: bounds themselves, 0 and MAX, NaN, infinities, -0.0.
    #[cfg(target_arch = "x86_64")]
    #[test]
    #[allow(unsafe_code)]
    fn wide_kernels_give_the_plain_bits() {
        if !std::is_x86_feature_detected!("avx2") {
            eprintln!("no AVX2 on this CPU: the kernels are never called");
            return;
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..400 {
            // u8 codes against 0..6 members.
            let col8: [u8; 64] = std::array::from_fn(|_| (next() % 7) as u8 * 40);
            let k = round % 7;
            let codes: Vec<u8> = (0..k).map(|_| (next() % 7) as u8 * 40).collect();
            // SAFETY (all calls below): AVX2 is present, checked above.
            let got = unsafe { wide::eq_any_u8(&col8, &codes) };
            assert_eq!(got, mask(&col8, |v| codes.contains(&v)), "{codes:?}");

            // u32 ranges whose bounds occur in the column.
            let pick = [0u32, 1, 99, 100, 101, u32::MAX - 1, u32::MAX];
            let col32: [u32; 64] = std::array::from_fn(|_| {
                if next() % 2 == 0 {
                    pick[(next() % 7) as usize]
                } else {
                    next() as u32
                }
            });
            let (a, b) = (pick[(next() % 7) as usize], pick[(next() % 7) as usize]);
            let (lo, hi) = (a.min(b), if round % 5 == 0 { a.max(b) } else { b });
            let got = unsafe { wide::within_u32(&col32, lo, hi) };
            assert_eq!(got, mask(&col32, |v| v >= lo && v <= hi), "[{lo}, {hi}]");

            // f64 at-least with NaN, infinities and signed zeros.
            let fpick = [
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                0.0,
                -0.0,
                0.8,
                0.8f32 as f64,
                0.79999999,
            ];
            let colf: [f64; 64] = std::array::from_fn(|_| fpick[(next() % 8) as usize]);
            let min = fpick[1 + (next() % 7) as usize];
            let got = unsafe { wide::at_least_f64(&colf, min) };
            assert_eq!(got, mask(&colf, |v| v >= min), "at least {min}");

            // u64 bit sets.
            let col64: [u64; 64] = std::array::from_fn(|_| next() & next() & next());
            let want = match round % 4 {
                0 => 0,
                1 => 1 << 63,
                2 => next(),
                _ => next() & next() & next(),
            };
            let got = unsafe { wide::any_bit_u64(&col64, want) };
            assert_eq!(got, mask(&col64, |v| v & want != 0), "{want:#x}");
        }
    }
}
