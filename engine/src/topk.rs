//! Bounded top-k selection over (score, ordinal) pairs.
//!
//! Invariant: the result equals "sort by score descending, ties by ordinal
//! ascending, truncate to k" — checked against that definition by proptest.
//! Scores must not be NaN (callers map unknowns to a finite value first).

use std::cmp::Ordering;

/// Orders best first: higher score, then lower ordinal.
#[inline]
pub fn cmp_best_first(a: &(f32, u32), b: &(f32, u32)) -> Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// Keeps the best `k` of a stream of candidates in a buffer of at most
/// `2k`, compacting with `select_nth_unstable_by` when it fills (amortised
/// O(1) per push, never a full sort of the stream).
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    buf: Vec<(f32, u32)>,
    /// Once the buffer has been compacted, anything worse than this cannot
    /// enter the top k.
    threshold: Option<(f32, u32)>,
    /// Anything scoring strictly below this is turned away
    /// ([`TopK::raise_floor`]; -inf: nothing).
    min: f32,
}

impl TopK {
    pub fn new(k: usize) -> TopK {
        TopK {
            k,
            buf: Vec::with_capacity(k.saturating_mul(2).min(1 << 20)),
            threshold: None,
            min: f32::NEG_INFINITY,
        }
    }

    /// Turns away from now on anything scoring strictly below `f`: for a
    /// collector of part of a stream, `f` a score that at least k items
    /// of the stream reach (another part's k-th best, [`SharedFloor`]),
    /// so that nothing turned away could be among the stream's best k.
    #[inline]
    pub fn raise_floor(&mut self, f: f32) {
        if f > self.min {
            self.min = f;
        }
    }

    #[inline]
    pub fn push(&mut self, score: f32, ordinal: u32) {
        if self.k == 0 {
            return;
        }
        if score < self.min {
            return;
        }
        let item = (score, ordinal);
        if let Some(t) = self.threshold {
            if cmp_best_first(&item, &t) != Ordering::Less {
                return;
            }
        }
        self.buf.push(item);
        if self.buf.len() >= self.k * 2 {
            self.compact();
        }
    }

    fn compact(&mut self) {
        if self.buf.len() > self.k {
            self.buf.select_nth_unstable_by(self.k - 1, cmp_best_first);
            self.buf.truncate(self.k);
            self.threshold = self.buf.iter().copied().max_by(cmp_best_first_rev);
        }
    }

    /// The score an item must beat to enter, once the collector has been
    /// full: anything scoring strictly less is turned away (`None` while
    /// everything still enters).
    #[inline]
    pub fn floor(&self) -> Option<f32> {
        match self.threshold {
            Some(t) => Some(t.0.max(self.min)),
            None => (self.min > f32::NEG_INFINITY).then_some(self.min),
        }
    }

    /// The k-th best score so far (`None` while fewer than k were kept):
    /// compacts first, so unlike [`TopK::floor`] it is never stale.
    pub fn kth(&mut self) -> Option<f32> {
        if self.k == 0 || self.buf.len() < self.k {
            return None;
        }
        if self.buf.len() > self.k {
            self.compact();
        } else {
            self.threshold = self.buf.iter().copied().max_by(cmp_best_first_rev);
        }
        self.threshold.map(|t| t.0)
    }

    /// Merges another collector's fruits (map per chunk, then merge): the
    /// one holding fewer is pushed into the other, under the higher of
    /// their floors (each a floor of the whole stream).
    pub fn merge(mut self, mut other: TopK) -> TopK {
        debug_assert_eq!(self.k, other.k, "collectors of one k");
        if other.buf.len() > self.buf.len() {
            std::mem::swap(&mut self, &mut other);
        }
        self.raise_floor(other.min);
        for (s, o) in other.buf {
            self.push(s, o);
        }
        self
    }

    /// The collectors of the parts of one stream, together: every part's
    /// kept items at or above the highest of their floors, cut to the best
    /// k at once (the same best k as merging them one by one).
    pub fn merge_all(parts: Vec<TopK>) -> Option<TopK> {
        let k = parts.first()?.k;
        debug_assert!(parts.iter().all(|t| t.k == k), "collectors of one k");
        let min = parts
            .iter()
            .map(|t| t.min)
            .fold(f32::NEG_INFINITY, f32::max);
        let len = parts.iter().map(|t| t.buf.len()).sum();
        let mut buf = Vec::with_capacity(len);
        for t in parts {
            buf.extend(t.buf.into_iter().filter(|x| x.0 >= min));
        }
        let mut t = TopK {
            k,
            buf,
            threshold: None,
            min,
        };
        if t.buf.len() > k {
            t.compact();
        }
        Some(t)
    }

    /// The best k, in no particular order.
    pub fn into_unsorted(mut self) -> Vec<(f32, u32)> {
        self.compact();
        self.buf
    }

    /// The best k, best first.
    pub fn into_sorted(mut self) -> Vec<(f32, u32)> {
        self.compact();
        self.buf.sort_unstable_by(cmp_best_first);
        self.buf
    }
}

/// The best k-th score any part of a stream has reached, shared by the
/// threads collecting the parts ([`TopK::raise_floor`]): raised as parts
/// finish, read as parts start. Which parts have finished by then depends
/// on timing, but not what a part's collector ends up contributing to the
/// stream's best k, so neither does the result.
#[derive(Debug, Default)]
pub struct SharedFloor(std::sync::atomic::AtomicU32);

impl SharedFloor {
    /// `f`'s place in the float order as an unsigned integer (above 0).
    fn key(f: f32) -> u32 {
        let b = f.to_bits();
        if b >> 31 == 1 {
            !b
        } else {
            b | 1 << 31
        }
    }

    /// Raises the floor to `f` if that is higher (NaN: nothing).
    pub fn raise(&self, f: f32) {
        if !f.is_nan() {
            self.0
                .fetch_max(Self::key(f), std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The floor, `None` before any part raised it.
    pub fn get(&self) -> Option<f32> {
        match self.0.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            k if k >> 31 == 1 => Some(f32::from_bits(k & !(1 << 31))),
            k => Some(f32::from_bits(!k)),
        }
    }
}

fn cmp_best_first_rev(a: &(f32, u32), b: &(f32, u32)) -> Ordering {
    cmp_best_first(a, b)
}

/// Top-k of a slice of scores (index = ordinal), computed per chunk in
/// parallel and merged.
pub fn top_k_of_scores(scores: &[f32], k: usize) -> Vec<(f32, u32)> {
    use rayon::prelude::*;
    scores
        .par_chunks(64 * 1024)
        .enumerate()
        .map(|(c, chunk)| {
            let mut t = TopK::new(k);
            let base = c * 64 * 1024;
            for (i, &s) in chunk.iter().enumerate() {
                t.push(s, (base + i) as u32);
            }
            t
        })
        .reduce(|| TopK::new(k), TopK::merge)
        .into_sorted()
}

/// Buckets of [`Bounded`]'s histogram of bounds: the top bits of
/// a positive f32 (exponent and four mantissa bits), so a bucket spans a
/// factor of at most 1 + 1/16 and buckets order as their floats do.
pub(crate) const BOUND_BUCKETS: usize = 4096;
pub(crate) const BOUND_SHIFT: u32 = 19;

/// The bucket of bound `ub`: monotone in `ub`; 0 for `ub <= 0`, the top
/// bucket for NaN (a bound that says nothing is evaluated first).
#[inline]
pub(crate) fn bound_bucket(ub: f32) -> usize {
    if ub.is_nan() {
        BOUND_BUCKETS - 1
    } else if ub <= 0.0 {
        0
    } else {
        ((ub.to_bits() >> BOUND_SHIFT) as usize).min(BOUND_BUCKETS - 1)
    }
}

/// The smallest bound in bucket `b >= 1` (every bound of a lower bucket
/// is below it).
#[inline]
fn bucket_edge(b: usize) -> f32 {
    f32::from_bits((b as u32) << BOUND_SHIFT)
}

/// A collector of `(bound, ordinal)` entries for [`Bounded::top_k`]: the
/// entries of one scan (its own, and those of the collectors merged into
/// it, kept as they are: one part per scanned range), each part with the
/// histogram of its bounds kept as they are pushed (while the scan's data
/// is in cache), and its entries put in falling order of their buckets
/// by [`Bounded::seal`] (where the scan calls it, while they are in cache
/// too).
#[derive(Debug, Clone)]
pub struct Bounded {
    own: Part,
    merged: Vec<Part>,
}

/// The entries one chunk of a round of [`Bounded::top_k_with`] evaluated
/// (value, ordinal, payload).
type Evaluated<T> = Vec<(f32, u32, T)>;

/// One scanned range's entries and the histogram of their bounds.
#[derive(Debug, Clone)]
struct Part {
    /// (bucket of the bound, ordinal), as pushed; emptied by sealing.
    entries: Vec<(u32, u32)>,
    hist: Vec<u32>,
    /// Sealed: the ordinals of `entries` by falling bucket (in push order
    /// within a bucket).
    sealed: Option<Vec<u32>>,
}

impl Part {
    /// The ordinals by falling bucket (a counting sort by the histogram).
    fn by_bucket(&self) -> Vec<u32> {
        if self.entries.is_empty() {
            // The identity parts of a parallel reduce: no offsets to lay out.
            return Vec::new();
        }
        let mut at = vec![0usize; BOUND_BUCKETS];
        let mut acc = 0usize;
        for b in (0..BOUND_BUCKETS).rev() {
            at[b] = acc;
            acc += self.hist[b] as usize;
        }
        let mut out = vec![0u32; acc];
        for &(b, o) in &self.entries {
            let c = &mut at[b as usize];
            out[*c] = o;
            *c += 1;
        }
        out
    }

    /// [`Part::by_bucket`], computed once by sealing or now.
    fn order(&self) -> std::borrow::Cow<'_, [u32]> {
        match &self.sealed {
            Some(v) => std::borrow::Cow::Borrowed(v.as_slice()),
            None => std::borrow::Cow::Owned(self.by_bucket()),
        }
    }
}

impl Bounded {
    /// An empty collector expecting about `rows` entries.
    pub fn with_capacity(rows: usize) -> Bounded {
        Bounded {
            own: Part {
                entries: Vec::with_capacity(rows),
                hist: vec![0; BOUND_BUCKETS],
                sealed: None,
            },
            merged: Vec::new(),
        }
    }

    /// Records `ub`, an upper bound of the value of `ordinal`.
    #[inline(always)]
    pub fn push(&mut self, ub: f32, ordinal: u32) {
        self.push_bucket(bound_bucket(ub) as u32, ordinal);
    }

    /// [`Bounded::push`] of a bound whose bucket (`bound_bucket`, below
    /// [`BOUND_BUCKETS`]) the caller computed.
    #[inline(always)]
    pub(crate) fn push_bucket(&mut self, bucket: u32, ordinal: u32) {
        debug_assert!(self.own.sealed.is_none(), "pushed to a sealed Bounded");
        self.own.hist[bucket as usize] += 1;
        self.own.entries.push((bucket, ordinal));
    }

    /// The (bucket, ordinal) entries pushed to this collector itself, in
    /// push order (empty once sealed): for tests.
    pub(crate) fn pushed(&self) -> &[(u32, u32)] {
        &self.own.entries
    }

    /// Puts this collector's own entries in falling order of their
    /// buckets now (no more may be pushed), so that [`Bounded::top_k`]
    /// need not: a scan calls it at the end of its range, while the
    /// entries are in cache (sorting them later, cold, was a tenth of a
    /// typical brief's match at 1M). Optional: `top_k` sorts what is not
    /// sealed; the same results either way.
    pub fn seal(&mut self) {
        if self.own.sealed.is_none() {
            self.own.sealed = Some(self.own.by_bucket());
            self.own.entries = Vec::new();
        }
    }

    /// Both collectors' entries (moved, not copied).
    pub fn merge(mut self, other: Bounded) -> Bounded {
        self.merged.push(other.own);
        self.merged.extend(other.merged);
        self
    }

    /// Every part.
    fn parts(&self) -> impl Iterator<Item = &Part> {
        std::iter::once(&self.own).chain(&self.merged)
    }

    /// The best `k` of the entries by `eval`, best first — equal to
    /// pushing `(eval(o), o)` for every entry `(ub, o)` into a [`TopK`] —
    /// where each `ub` is an upper bound of `eval(o)` (`eval` must not be
    /// NaN; a NaN bound bounds nothing, so that entry is always
    /// evaluated). `fetch(o, far)` is a prefetch hint, issued twice for
    /// each entry: 16 entries ahead with `far` (for what `eval` reads at
    /// fixed places) and 8 ahead without (for what those places point
    /// to).
    ///
    /// The threshold algorithm: entries are evaluated in falling order of
    /// their bounds, a histogram bucket at a time, and the rest are skipped
    /// once the k-th best value found is at or above every bound not yet
    /// evaluated (each of those then scores strictly less, and is turned
    /// away by the top-k whatever its ordinal). Each round evaluates at
    /// least as many entries as all rounds before it together, or down to
    /// the k-th best's own bucket, whichever is fewer; so the work follows
    /// the number of entries whose bound reaches the final k-th value, not
    /// the number of entries. Rounds evaluate their entries in parallel
    /// (rayon).
    pub fn top_k<F, P>(&self, k: usize, fetch: P, eval: F) -> Vec<(f32, u32)>
    where
        F: Fn(u32) -> f32 + Sync,
        P: Fn(u32, bool) + Sync,
    {
        self.top_k_with(k, fetch, |o| (eval(o), ()))
            .into_iter()
            .map(|(v, o, ())| (v, o))
            .collect()
    }

    /// [`Bounded::top_k`] where `eval` also returns what it worked out on
    /// the way (`T`), handed back beside each of the best `k` so that the
    /// caller need not work it out again.
    pub fn top_k_with<T, F, P>(&self, k: usize, fetch: P, eval: F) -> Vec<(f32, u32, T)>
    where
        T: Send,
        F: Fn(u32) -> (f32, T) + Sync,
        P: Fn(u32, bool) + Sync,
    {
        use rayon::prelude::*;
        if k == 0 {
            return Vec::new();
        }
        let mut hist = vec![0u32; BOUND_BUCKETS];
        for part in self.parts() {
            hist.iter_mut().zip(&part.hist).for_each(|(a, b)| *a += b);
        }
        let hist = &hist;
        // Each part's ordinals by falling bucket: a round of buckets
        // `lo..hi` is a slice of each, from `next[p]` on.
        let parts: Vec<&Part> = self.parts().collect();
        let orders: Vec<std::borrow::Cow<'_, [u32]>> =
            parts.par_iter().map(|part| part.order()).collect();
        let mut next = vec![0usize; parts.len()];
        let mut top = TopK::new(k);
        // Every evaluated entry with its value and payload, round by
        // round, chunk by chunk: the best k are picked out at the end.
        let mut evaluated: Vec<Evaluated<T>> = Vec::new();
        // Buckets `hi..` are done.
        let mut hi = BOUND_BUCKETS;
        let mut done = 0usize;
        let mut picked: Vec<u32> = Vec::new();
        while hi > 0 {
            let kth = top.kth();
            if let Some(f) = kth {
                // Everything left has a bound below `bucket_edge(hi)`.
                if hi < BOUND_BUCKETS && f >= bucket_edge(hi) {
                    break;
                }
            }
            // At least as many as done so far (2k to start) ...
            let want = done.max(2 * k);
            let mut lo = hi;
            let mut got = 0usize;
            while lo > 0 && got < want {
                lo -= 1;
                got += hist[lo] as usize;
            }
            // ... or down to the k-th best's bucket, after which the loop
            // stops (the k-th best only rises).
            if let Some(f) = kth {
                lo = lo.max(bound_bucket(f));
            }
            picked.clear();
            for ((part, order), at) in parts.iter().zip(&orders).zip(next.iter_mut()) {
                let n: usize = part.hist[lo..hi].iter().map(|&h| h as usize).sum();
                picked.extend_from_slice(&order[*at..*at + n]);
                *at += n;
            }
            done += picked.len();
            const NEAR: usize = 8;
            const FAR: usize = 16;
            // Chunks small enough that a round of a few thousand is
            // shared by every thread (each chunk has its own top-k).
            let chunk = (picked.len() / (4 * rayon::current_num_threads()).max(1)).clamp(256, 2048);
            // Merged as the chunks finish, on their threads.
            let found: Option<(TopK, Vec<Evaluated<T>>)> = picked
                .par_chunks(chunk)
                .map(|chunk| {
                    let mut t = TopK::new(k);
                    let mut seen = Vec::with_capacity(chunk.len());
                    for (j, &o) in chunk.iter().enumerate().take(FAR) {
                        fetch(o, true);
                        if j >= FAR - NEAR {
                            fetch(chunk[j - (FAR - NEAR)], false);
                        }
                    }
                    for (j, &o) in chunk.iter().enumerate() {
                        if let Some(&far) = chunk.get(j + FAR) {
                            fetch(far, true);
                        }
                        if let Some(&near) = chunk.get(j + NEAR) {
                            fetch(near, false);
                        }
                        let (v, extra) = eval(o);
                        t.push(v, o);
                        // Below the k-th best of the rounds before, it
                        // cannot be among the best k (that only rises).
                        if kth.is_none_or(|f| v >= f) {
                            seen.push((v, o, extra));
                        }
                    }
                    (t, vec![seen])
                })
                .reduce_with(|(a, mut x), (b, y)| {
                    x.extend(y);
                    (a.merge(b), x)
                });
            if let Some((t, seen)) = found {
                top = top.merge(t);
                evaluated.extend(seen);
            }
            hi = lo;
        }
        // The k-th best (value, ordinal): the best k are the evaluated
        // entries at or above it (each entry is evaluated once).
        let Some(kth) = top.into_unsorted().into_iter().max_by(cmp_best_first) else {
            return Vec::new();
        };
        let mut best: Vec<(f32, u32, T)> = evaluated
            .into_iter()
            .flatten()
            .filter(|e| cmp_best_first(&(e.0, e.1), &kth) != Ordering::Greater)
            .collect();
        best.sort_unstable_by(|a, b| cmp_best_first(&(a.0, a.1), &(b.0, b.1)));
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn top_k_equals_sort_and_truncate(scores in proptest::collection::vec(-100i32..100, 0..400), k in 0usize..50) {
            let scores: Vec<f32> = scores.into_iter().map(|s| s as f32 / 7.0).collect();
            let mut expected: Vec<(f32, u32)> = scores.iter().enumerate().map(|(i, &s)| (s, i as u32)).collect();
            expected.sort_by(cmp_best_first);
            expected.truncate(k);
            let mut t = TopK::new(k);
            for (i, &s) in scores.iter().enumerate() { t.push(s, i as u32); }
            let mut unsorted = t.clone().into_unsorted();
            unsorted.sort_by(cmp_best_first);
            prop_assert_eq!(&unsorted, &expected);
            prop_assert_eq!(t.into_sorted(), expected.clone());
            prop_assert_eq!(top_k_of_scores(&scores, k), expected);
        }

        /// A stream's parts collected apart, each later part under the
        /// best k-th score of the parts before it (a shared floor, as the
        /// candidate pass shares it), then put together all at once or one
        /// by one (either way round), keep the stream's best k.
        #[test]
        fn parts_under_a_shared_floor_keep_the_best_k(
            scores in proptest::collection::vec(-60i32..60, 0..500),
            parts in 1usize..7,
            k in 1usize..40,
            order in 0u8..2,
        ) {
            let scores: Vec<f32> = scores.into_iter().map(|s| s as f32 / 4.0).collect();
            // Later parts hold lower ordinals half the time: ties at the
            // floor then go to them.
            let ordinal = |i: usize| if order == 0 { i as u32 } else { (scores.len() - i) as u32 };
            let mut expected: Vec<(f32, u32)> = scores.iter().enumerate().map(|(i, &s)| (s, ordinal(i))).collect();
            expected.sort_by(cmp_best_first);
            expected.truncate(k);
            let floor = SharedFloor::default();
            prop_assert_eq!(floor.get(), None);
            let per = scores.len().div_ceil(parts).max(1);
            let mut collected: Vec<TopK> = Vec::new();
            for (c, chunk) in scores.chunks(per).enumerate() {
                let mut t = TopK::new(k);
                if let Some(f) = floor.get() {
                    t.raise_floor(f);
                }
                for (i, &s) in chunk.iter().enumerate() {
                    t.push(s, ordinal(c * per + i));
                }
                if let Some(kth) = t.kth() {
                    floor.raise(kth);
                    prop_assert_eq!(floor.get().map(|f| f >= kth), Some(true));
                }
                collected.push(t);
            }
            let one_by_one = collected
                .iter()
                .cloned()
                .reduce(|a, b| if order == 0 { a.merge(b) } else { b.merge(a) })
                .map_or_else(Vec::new, TopK::into_sorted);
            let at_once = TopK::merge_all(collected).map_or_else(Vec::new, TopK::into_sorted);
            prop_assert_eq!(&one_by_one, &expected);
            prop_assert_eq!(&at_once, &expected);
        }

        /// The threshold algorithm equals a top-k over every entry, with
        /// bounds that are tight, loose, equal to their values (ties
        /// between the skipped and the kept), infinite or NaN.
        #[test]
        fn bounded_top_k_equals_top_k_of_all(
            items in proptest::collection::vec((0u32..40, 0u32..6), 0..600),
            parts in 1usize..5,
            k in 0usize..80,
            sealed in 0u8..16,
        ) {
            let n = items.len();
            let value = |o: u32| items[o as usize].0 as f32 / 8.0;
            let entries: Vec<Vec<(f32, u32)>> = (0..parts)
                .map(|p| {
                    (0..n)
                        .filter(|o| o % parts == p)
                        .map(|o| {
                            let (v, slack) = items[o];
                            let v = v as f32 / 8.0;
                            let ub = match slack {
                                0 | 1 => v,
                                2 => v * 1.5 + 0.1,
                                3 => v + 300.0,
                                4 => f32::INFINITY,
                                _ => f32::NAN,
                            };
                            (ub, o as u32)
                        })
                        .collect()
                })
                .collect();
            let mut all = TopK::new(k);
            for o in 0..n as u32 {
                all.push(value(o), o);
            }
            // Some parts sealed, some not (sorted by `top_k`).
            let mut parts_of = entries.into_iter().enumerate().map(|(j, p)| {
                let mut b = Bounded::with_capacity(p.len());
                for (ub, o) in p {
                    b.push(ub, o);
                }
                if sealed >> j & 1 != 0 {
                    b.seal();
                }
                b
            });
            let first = parts_of.next().unwrap_or_else(|| Bounded::with_capacity(0));
            let bounded = parts_of.fold(first, Bounded::merge);
            let got = bounded.top_k(k, |_, _| {}, value);
            // The payload comes back with its own entry.
            let with = bounded.top_k_with(k, |_, _| {}, |o| (value(o), o.wrapping_mul(7) ^ 5));
            prop_assert!(with.iter().all(|&(_, o, x)| x == o.wrapping_mul(7) ^ 5));
            let with: Vec<(f32, u32)> = with.into_iter().map(|(v, o, _)| (v, o)).collect();
            prop_assert_eq!(&with, &got);
            prop_assert_eq!(got, all.into_sorted());
        }
    }

    /// Pushing after `seal` would leave the entry out of the sealed order
    /// while counting it in the histogram: debug builds refuse it.
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "pushed to a sealed Bounded")]
    fn a_sealed_collector_takes_no_more_entries() {
        let mut b = Bounded::with_capacity(2);
        b.push(1.0, 0);
        b.seal();
        b.push(2.0, 1);
    }

    #[test]
    fn bound_buckets_order_as_their_floats() {
        let xs = [
            0.0f32,
            1e-40,
            1e-30,
            0.5,
            0.53,
            0.6,
            1.0,
            1.07,
            3.0,
            1e30,
            f32::MAX,
            f32::INFINITY,
        ];
        for w in xs.windows(2) {
            assert!(bound_bucket(w[0]) <= bound_bucket(w[1]), "{w:?}");
        }
        for b in 1..BOUND_BUCKETS {
            let e = bucket_edge(b);
            if e.is_finite() {
                assert_eq!(bound_bucket(e), b);
                assert!(bound_bucket(f32::from_bits(e.to_bits() - 1)) < b);
            }
        }
        assert_eq!(bound_bucket(-1.0), 0);
        assert_eq!(bound_bucket(f32::NAN), BOUND_BUCKETS - 1);
    }
}
