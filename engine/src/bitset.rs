//! A fixed-size bitset over creator ordinals, built in parallel chunks.
//!
//! Invariant: bits at positions >= `len` are always zero, so `count` and
//! `iter_ones` never report an ordinal outside the table.

use rayon::prelude::*;

use crate::topk::TopK;

/// Rows per parallel chunk when building from a predicate (a multiple of 64).
const CHUNK_ROWS: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitset {
    words: Vec<u64>,
    len: usize,
}

impl Bitset {
    pub fn new(len: usize) -> Bitset {
        Bitset {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    pub fn full(len: usize) -> Bitset {
        let mut b = Bitset {
            words: vec![u64::MAX; len.div_ceil(64)],
            len,
        };
        b.clear_tail();
        b
    }

    /// Bit i is `pred(i)`, evaluated in parallel over chunks of rows.
    pub fn from_fn<F>(len: usize, pred: F) -> Bitset
    where
        F: Fn(usize) -> bool + Sync,
    {
        let mut words = vec![0u64; len.div_ceil(64)];
        words
            .par_chunks_mut(CHUNK_ROWS / 64)
            .enumerate()
            .for_each(|(chunk, ws)| {
                let base = chunk * CHUNK_ROWS;
                for (wi, w) in ws.iter_mut().enumerate() {
                    let start = base + wi * 64;
                    let end = (start + 64).min(len);
                    let mut bits = 0u64;
                    for i in start..end {
                        bits |= (pred(i) as u64) << (i - start);
                    }
                    *w = bits;
                }
            });
        Bitset { words, len }
    }

    /// Word `w` (bits of rows `64w..64w+64`) is `word(w)`, computed in
    /// parallel chunks; bits past `len` are cleared.
    pub fn from_words<F>(len: usize, word: F) -> Bitset
    where
        F: Fn(usize) -> u64 + Sync,
    {
        let mut words = vec![0u64; len.div_ceil(64)];
        words
            .par_chunks_mut(CHUNK_ROWS / 64)
            .enumerate()
            .for_each(|(chunk, ws)| {
                let base = chunk * (CHUNK_ROWS / 64);
                for (wi, w) in ws.iter_mut().enumerate() {
                    *w = word(base + wi);
                }
            });
        let mut b = Bitset { words, len };
        b.clear_tail();
        b
    }

    /// The bitset of `len` rows whose words are `words` (one per 64 rows,
    /// in order, `len.div_ceil(64)` of them); bits past `len` are cleared.
    pub fn from_word_vec(len: usize, words: Vec<u64>) -> Bitset {
        assert_eq!(words.len(), len.div_ceil(64), "one word per 64 rows");
        let mut b = Bitset { words, len };
        b.clear_tail();
        b
    }

    pub fn from_ordinals(len: usize, ordinals: impl IntoIterator<Item = u32>) -> Bitset {
        let mut b = Bitset::new(len);
        for o in ordinals {
            b.set(o as usize);
        }
        b
    }

    fn clear_tail(&mut self) {
        let rem = self.len % 64;
        if rem != 0 {
            if let Some(last) = self.words.last_mut() {
                *last &= (1u64 << rem) - 1;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    /// The words, bit j of word w = ordinal 64 w + j (no bit past `len`).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    #[inline]
    pub fn get(&self, i: usize) -> bool {
        i < self.len && (self.words[i / 64] >> (i % 64)) & 1 == 1
    }

    #[inline]
    pub fn set(&mut self, i: usize) {
        if i < self.len {
            self.words[i / 64] |= 1 << (i % 64);
        }
    }

    #[inline]
    pub fn clear(&mut self, i: usize) {
        if i < self.len {
            self.words[i / 64] &= !(1 << (i % 64));
        }
    }

    pub fn and_inplace(&mut self, other: &Bitset) {
        debug_assert_eq!(self.len, other.len);
        self.words
            .iter_mut()
            .zip(&other.words)
            .for_each(|(a, b)| *a &= *b);
    }

    pub fn or_inplace(&mut self, other: &Bitset) {
        debug_assert_eq!(self.len, other.len);
        self.words
            .iter_mut()
            .zip(&other.words)
            .for_each(|(a, b)| *a |= *b);
    }

    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Ordinals of set bits, ascending.
    pub fn iter_ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let t = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + t)
            })
        })
    }

    /// Calls `f` with every set bit in `start..end`, ascending (`start` a
    /// multiple of 64), a word at a time.
    #[inline]
    pub fn for_each_one_in(&self, start: usize, end: usize, mut f: impl FnMut(usize)) {
        debug_assert_eq!(start % 64, 0);
        let end = end.min(self.len);
        if start >= end {
            return;
        }
        for wi in start / 64..end.div_ceil(64) {
            let mut w = self.words[wi];
            if (wi + 1) * 64 > end {
                w &= (1u64 << (end - wi * 64)) - 1;
            }
            while w != 0 {
                f(wi * 64 + w.trailing_zeros() as usize);
                w &= w - 1;
            }
        }
    }

    /// The best `k` set bits by `score` (higher first, ties by lower
    /// ordinal). Equal to scoring every set bit, sorting and truncating,
    /// whatever the thread count. `score` must not return NaN.
    pub fn par_top_k<F>(&self, k: usize, score: F) -> Vec<(f32, u32)>
    where
        F: Fn(usize) -> f32 + Sync,
    {
        self.par_top_k_fetching(k, |_| {}, score)
    }

    /// [`Bitset::par_top_k`] for scores that read scattered memory:
    /// `fetch(i)` (a prefetch hint) is called for the set bits of the next
    /// word before the bits of this one are scored. The result is the
    /// same as `par_top_k`'s.
    pub fn par_top_k_fetching<P, F>(&self, k: usize, fetch: P, score: F) -> Vec<(f32, u32)>
    where
        P: Fn(usize) + Sync,
        F: Fn(usize) -> f32 + Sync,
    {
        self.par_ranges_top_k(k, |ws, base| {
            let mut t = TopK::new(k);
            for_each_one_fetching(ws, base, 1, &fetch, |i| t.push(score(i), i as u32));
            t
        })
    }

    /// A top-k scan in parallel over a few large word-aligned ranges
    /// (about four per thread, so the per-range buffers merge cheaply):
    /// `range(words, first_ordinal)` collects one range's best `k`, the
    /// results are merged. For scans that need their own inner loop
    /// (`quant`'s prefetching int8 scan); [`Bitset::par_top_k`] is the
    /// plain case.
    pub fn par_ranges_top_k<F>(&self, k: usize, range: F) -> Vec<(f32, u32)>
    where
        F: Fn(&[u64], usize) -> TopK + Sync,
    {
        self.par_ranges(range, || TopK::new(k), TopK::merge)
            .into_sorted()
    }

    /// [`Bitset::par_ranges_top_k`]'s split, for any per-range result:
    /// `range(words, first_ordinal)` runs on a few large word-aligned
    /// ranges in parallel and the results are combined with `merge`
    /// (`identity` for none). The split depends on the thread count, so
    /// `merge` must make the result independent of it.
    pub fn par_ranges<T, F, I, M>(&self, range: F, identity: I, merge: M) -> T
    where
        T: Send,
        F: Fn(&[u64], usize) -> T + Sync,
        I: Fn() -> T + Sync + Send,
        M: Fn(T, T) -> T + Sync + Send,
    {
        let ranges = (rayon::current_num_threads() * 4).max(1);
        let words_per = self.words.len().div_ceil(ranges).max(1);
        self.words
            .par_chunks(words_per)
            .enumerate()
            .map(|(r, ws)| range(ws, r * words_per * 64))
            .reduce(identity, merge)
    }

    /// Ordinals of set bits, ascending, collected in parallel.
    pub fn to_ordinals(&self) -> Vec<u32> {
        let parts: Vec<Vec<u32>> = self
            .words
            .par_chunks(CHUNK_ROWS / 64)
            .enumerate()
            .map(|(chunk, ws)| {
                let base = chunk * CHUNK_ROWS;
                let mut out = Vec::new();
                for (wi, &w) in ws.iter().enumerate() {
                    let mut w = w;
                    while w != 0 {
                        let t = w.trailing_zeros() as usize;
                        out.push((base + wi * 64 + t) as u32);
                        w &= w - 1;
                    }
                }
                out
            })
            .collect();
        parts.concat()
    }
}

/// Visits the set bits of `words` in order (bit j of word wi is row
/// `base + 64 wi + j`), calling `fetch` (a prefetch hint) for the set bit
/// `rows` set bits further on before each visit (0: the row itself, just
/// before), so each row is fetched once: a steady window of loads in
/// flight, where [`for_each_one_fetching`] asks for a whole word's rows
/// at once.
#[inline(always)]
pub fn for_each_one_fetching_rows(
    words: &[u64],
    base: usize,
    rows: usize,
    fetch: impl Fn(usize),
    mut visit: impl FnMut(usize),
) {
    // The look-ahead cursor: its word index and the bits not yet fetched.
    let mut aw = 0usize;
    let mut abits = words.first().copied().unwrap_or(0);
    let mut next_ahead = || -> Option<usize> {
        while abits == 0 {
            aw += 1;
            abits = *words.get(aw)?;
        }
        let i = base + aw * 64 + abits.trailing_zeros() as usize;
        abits &= abits - 1;
        Some(i)
    };
    for _ in 0..rows {
        match next_ahead() {
            Some(i) => fetch(i),
            None => break,
        }
    }
    for (wi, &first) in words.iter().enumerate() {
        let mut w = first;
        while w != 0 {
            if let Some(i) = next_ahead() {
                fetch(i);
            }
            visit(base + wi * 64 + w.trailing_zeros() as usize);
            w &= w - 1;
        }
    }
}

/// Visits the set bits of `words` in order (bit j of word wi is row
/// `base + 64 wi + j`), first calling `fetch` (a prefetch hint) for the
/// set bits of the word `ahead` words further on, so that scattered
/// loads overlap with the work on the current word.
#[inline(always)]
pub fn for_each_one_fetching(
    words: &[u64],
    base: usize,
    ahead: usize,
    fetch: impl Fn(usize),
    mut visit: impl FnMut(usize),
) {
    // Both closures are called directly here (not through a `&mut F`
    // forwarding shim): a shim is a function of its own that LLVM may
    // leave out of line, and an out-of-line visitor loses the caller's
    // `#[target_feature]` (the AVX2 build of the scans in `quant` and
    // `candidates` was running its dot products in SSE2 that way).
    for (wi, &first) in words.iter().enumerate().take(ahead) {
        let mut w = first;
        while w != 0 {
            fetch(base + wi * 64 + w.trailing_zeros() as usize);
            w &= w - 1;
        }
    }
    for wi in 0..words.len() {
        if let Some(&ahead_word) = words.get(wi + ahead) {
            let mut w = ahead_word;
            while w != 0 {
                fetch(base + (wi + ahead) * 64 + w.trailing_zeros() as usize);
                w &= w - 1;
            }
        }
        let mut w = words[wi];
        while w != 0 {
            visit(base + wi * 64 + w.trailing_zeros() as usize);
            w &= w - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_word_vec_keeps_the_words_and_clears_the_tail() {
        let b = Bitset::from_word_vec(130, vec![u64::MAX, 5, u64::MAX]);
        assert_eq!(b.words(), &[u64::MAX, 5, 0b11]);
        assert_eq!(b.count(), 64 + 2 + 2);
        assert_eq!(b, Bitset::from_words(130, |w| [u64::MAX, 5, u64::MAX][w]));
        assert!(std::panic::catch_unwind(|| Bitset::from_word_vec(130, vec![0; 2])).is_err());
    }

    #[test]
    fn fetching_rows_ahead_visits_every_one_in_order_and_fetches_each_first() {
        use std::cell::RefCell;
        let n = 64 * 9 + 13;
        // Sparse, dense, empty and full words, and a last partial one.
        let b = Bitset::from_fn(n, |i| {
            let w = i / 64;
            match w {
                0 => i % 17 == 3,
                1 | 4 => false,
                2 | 5 => true,
                _ => (i * 7) % 5 == 1,
            }
        });
        let ones: Vec<usize> = b.iter_ones().collect();
        for rows in [0usize, 1, 5, 24, 1000] {
            for base_word in [0usize, 3] {
                let words = &b.words()[base_word..];
                let base = base_word * 64;
                let want: Vec<usize> = ones.iter().copied().filter(|&i| i >= base).collect();
                let log = RefCell::new(Vec::new());
                for_each_one_fetching_rows(
                    words,
                    base,
                    rows,
                    |i| log.borrow_mut().push((false, i)),
                    |i| log.borrow_mut().push((true, i)),
                );
                let log = log.into_inner();
                let visits: Vec<usize> = log.iter().filter(|x| x.0).map(|x| x.1).collect();
                let fetches: Vec<usize> = log.iter().filter(|x| !x.0).map(|x| x.1).collect();
                assert_eq!(visits, want, "rows {rows}, base {base}");
                // Each row is fetched once, in order, before it is visited
                // and never more than `rows` ahead (0: just before).
                assert_eq!(fetches, want, "rows {rows}, base {base}");
                let mut visited = 0usize;
                let mut fetched = 0usize;
                for &(is_visit, i) in &log {
                    if is_visit {
                        assert!(fetched > visited, "row {i} visited before it was fetched");
                        visited += 1;
                    } else {
                        fetched += 1;
                        assert!(fetched <= visited + rows + 1, "row {i} fetched too early");
                    }
                }
            }
        }
    }

    #[test]
    fn from_fn_matches_predicate_across_chunks() {
        let n = CHUNK_ROWS * 2 + 77;
        let b = Bitset::from_fn(n, |i| i % 3 == 0 || i == n - 1);
        for i in 0..n {
            assert_eq!(b.get(i), i % 3 == 0 || i == n - 1, "bit {i}");
        }
        assert_eq!(b.count(), b.iter_ones().count());
        assert_eq!(
            b.to_ordinals(),
            b.iter_ones().map(|i| i as u32).collect::<Vec<_>>()
        );
    }

    #[test]
    fn par_top_k_equals_sort_and_truncate() {
        let n = CHUNK_ROWS * 3 + 11;
        let b = Bitset::from_fn(n, |i| i % 3 != 1);
        // Many ties (score depends on i % 97) so the ordinal tie-break counts.
        let score = |i: usize| ((i * 7919) % 97) as f32;
        for k in [0, 1, 5, 100, 5000] {
            let mut want: Vec<(f32, u32)> = b.iter_ones().map(|i| (score(i), i as u32)).collect();
            want.sort_by(crate::topk::cmp_best_first);
            want.truncate(k);
            assert_eq!(b.par_top_k(k, score), want, "k = {k}");
        }
    }

    #[test]
    fn from_words_matches_from_fn() {
        let n = CHUNK_ROWS + 130;
        let pred = |i: usize| i % 7 == 1 || i % 64 == 63;
        let b = Bitset::from_words(n, |w| {
            (0..64).fold(0u64, |m, j| m | ((pred(w * 64 + j) as u64) << j))
        });
        assert_eq!(b, Bitset::from_fn(n, pred));
    }

    #[test]
    fn for_each_one_in_visits_the_range() {
        let n = 1000;
        let b = Bitset::from_fn(n, |i| i % 5 == 0);
        for (a, e) in [(0, 1000), (64, 130), (128, 128), (960, 5000), (0, 1)] {
            let mut got = Vec::new();
            b.for_each_one_in(a, e, |i| got.push(i));
            let want: Vec<usize> = (a..e.min(n)).filter(|i| i % 5 == 0).collect();
            assert_eq!(got, want, "range {a}..{e}");
        }
    }

    #[test]
    fn full_has_no_bits_past_len() {
        let b = Bitset::full(130);
        assert_eq!(b.count(), 130);
        assert!(!b.get(130));
        let mut a = Bitset::new(130);
        a.set(5);
        a.set(129);
        a.set(500); // out of range: ignored
        assert_eq!(a.count(), 2);
        a.and_inplace(&b);
        assert_eq!(a.to_ordinals(), vec![5, 129]);
    }
}
