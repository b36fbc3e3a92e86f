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
}

impl TopK {
    pub fn new(k: usize) -> TopK {
        TopK {
            k,
            buf: Vec::with_capacity(k.saturating_mul(2).min(1 << 20)),
            threshold: None,
        }
    }

    #[inline]
    pub fn push(&mut self, score: f32, ordinal: u32) {
        if self.k == 0 {
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
        self.threshold.map(|t| t.0)
    }

    /// Merges another collector's fruits (map per chunk, then merge).
    pub fn merge(mut self, other: TopK) -> TopK {
        for (s, o) in other.buf {
            self.push(s, o);
        }
        self
    }

    /// The best k, best first.
    pub fn into_sorted(mut self) -> Vec<(f32, u32)> {
        self.compact();
        self.buf.sort_unstable_by(cmp_best_first);
        self.buf
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
            prop_assert_eq!(t.into_sorted(), expected.clone());
            prop_assert_eq!(top_k_of_scores(&scores, k), expected);
        }
    }
}
