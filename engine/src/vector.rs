//! Creator and brief vectors: derivation by feature hashing, and dot products.
//!
//! When the data carries no `embedding`, every creator gets a derived vector
//! of [`DERIVED_DIM`] floats: signed feature hashing (FNV-1a, stable across
//! platforms and releases) of its niches (weight 3), the content words of its
//! bio and brands (weight 1, sub-linear in term frequency), its audience's
//! top countries (weight 1.5 x share), its age profile, and two performance
//! buckets (size band and engagement band). The brief is hashed by the same
//! function from its niches, keywords, title, description and target, so
//! both land in one space and the dot product of the L2-normalised vectors
//! is their cosine. Invariant: every stored vector has unit norm or is all
//! zero (nothing known), so dot products lie in [-1, 1].

use std::borrow::Cow;

/// Dimension of derived vectors.
pub const DERIVED_DIM: usize = 64;

const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been",
    "but", "by", "can", "do", "for", "from", "get", "has", "have", "how", "i", "in", "into", "is",
    "it", "its", "just", "me", "more", "my", "new", "no", "not", "of", "on", "one", "or", "our",
    "out", "so", "than", "that", "the", "their", "them", "they", "this", "to", "up", "us", "was",
    "we", "what", "when", "which", "who", "will", "with", "you", "your",
];

/// Whether a lower-cased word is a stop word (no meaning for matching).
pub fn is_stopword(w: &str) -> bool {
    STOPWORDS.binary_search(&w).is_ok()
}

/// Lower-cased alphanumeric words of length >= 2 that are not stopwords.
pub fn content_words(text: &str) -> impl Iterator<Item = String> + '_ {
    content_words_cow(text).map(Cow::into_owned)
}

/// [`content_words`] without a copy of the words already in lower case
/// (most of them: the derivation hashes ~40 words a creator).
fn content_words_cow(text: &str) -> impl Iterator<Item = Cow<'_, str>> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2)
        .map(|w| {
            if is_lower(w) {
                Cow::Borrowed(w)
            } else {
                Cow::Owned(w.to_lowercase())
            }
        })
        .filter(|w| STOPWORDS.binary_search(&w.as_ref()).is_err())
}

/// Whether `str::to_lowercase` would return `w` unchanged: every char maps
/// to itself alone.
fn is_lower(w: &str) -> bool {
    if w.is_ascii() {
        return !w.bytes().any(|b| b.is_ascii_uppercase());
    }
    w.chars().all(|c| {
        let mut l = c.to_lowercase();
        l.next() == Some(c) && l.next().is_none()
    })
}

/// FNV-1a 64-bit: stable, dependency-free, good enough for feature hashing.
#[inline]
pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_parts(&[bytes])
}

/// [`fnv1a`] of the concatenation of `parts` (FNV-1a is a byte stream:
/// no buffer needed).
#[inline]
fn fnv1a_parts(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Accumulates hashed features into a vector.
#[derive(Debug, Clone)]
pub struct FeatureHasher {
    v: Vec<f32>,
}

impl Default for FeatureHasher {
    fn default() -> Self {
        FeatureHasher {
            v: vec![0.0; DERIVED_DIM],
        }
    }
}

impl FeatureHasher {
    pub fn add(&mut self, namespace: &str, feature: &str, weight: f32) {
        let h = fnv1a_parts(&[namespace.as_bytes(), b":", feature.as_bytes()]);
        let idx = (h % DERIVED_DIM as u64) as usize;
        let sign = if (h >> 63) & 1 == 0 { 1.0 } else { -1.0 };
        self.v[idx] += sign * weight;
        // A second, independent slot halves collision damage.
        let h2 = h.rotate_left(29).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let idx2 = (h2 % DERIVED_DIM as u64) as usize;
        let sign2 = if (h2 >> 63) & 1 == 0 { 1.0 } else { -1.0 };
        self.v[idx2] += sign2 * weight * 0.5;
    }

    /// Words of free text, each weighted by sqrt(term frequency) x `weight`.
    pub fn add_text(&mut self, text: &str, weight: f32) {
        let mut words: Vec<Cow<'_, str>> = content_words_cow(text).collect();
        words.sort_unstable();
        let mut i = 0;
        while i < words.len() {
            let mut j = i;
            while j < words.len() && words[j] == words[i] {
                j += 1;
            }
            self.add("w", &words[i], weight * ((j - i) as f32).sqrt());
            i = j;
        }
    }

    pub fn finish(mut self) -> Vec<f32> {
        normalize(&mut self.v);
        self.v
    }
}

/// What the derivation reads of a creator.
#[derive(Debug, Clone, Copy, Default)]
pub struct CreatorFeatures<'a> {
    pub niches: &'a [String],
    pub bio: Option<&'a str>,
    pub brands: &'a [String],
    pub audience_countries: &'a [(String, f32)],
    pub audience_ages: Option<&'a [f32; 5]>,
    pub followers: u64,
    pub engagement_rate: Option<f32>,
}

/// What the derivation reads of a brief.
#[derive(Debug, Clone, Copy, Default)]
pub struct BriefFeatures<'a> {
    pub niches: &'a [String],
    pub keywords: &'a [String],
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub audience_countries: &'a [(String, f32)],
    pub countries: &'a [String],
    pub audience_ages: Option<&'a [f32; 5]>,
}

pub fn derive_creator_vector(f: &CreatorFeatures<'_>) -> Vec<f32> {
    let mut h = FeatureHasher::default();
    for n in f.niches {
        h.add("n", n, 3.0);
        h.add_text(n, 0.5);
    }
    if let Some(bio) = f.bio {
        h.add_text(bio, 1.0);
    }
    for b in f.brands {
        h.add_text(b, 0.3);
    }
    let mut countries: Vec<&(String, f32)> = f.audience_countries.iter().collect();
    countries.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    for (c, s) in countries.into_iter().take(3) {
        h.add("c", c, 1.5 * s);
    }
    if let Some(ages) = f.audience_ages {
        for (b, s) in crate::schema::AGE_BUCKETS.iter().zip(ages) {
            h.add("a", b, *s);
        }
    }
    if f.followers > 0 {
        h.add("size", &size_band(f.followers).to_string(), 0.3);
    }
    if let Some(er) = f.engagement_rate {
        let band = (er.max(1e-4).log2().floor() as i32).to_string();
        h.add("er", &band, 0.2);
    }
    h.finish()
}

pub fn derive_brief_vector(f: &BriefFeatures<'_>) -> Vec<f32> {
    let mut h = FeatureHasher::default();
    for n in f.niches {
        h.add("n", n, 3.0);
        h.add_text(n, 0.5);
    }
    for k in f.keywords {
        h.add_text(k, 1.2);
    }
    h.add_text(f.title, 0.6);
    if let Some(d) = f.description {
        h.add_text(d, 0.8);
    }
    if !f.audience_countries.is_empty() {
        for (c, s) in f.audience_countries {
            h.add("c", c, 1.5 * s);
        }
    } else {
        let w = 1.5 / f.countries.len().max(1) as f32;
        for c in f.countries {
            h.add("c", c, w);
        }
    }
    if let Some(ages) = f.audience_ages {
        for (b, s) in crate::schema::AGE_BUCKETS.iter().zip(ages) {
            h.add("a", b, *s);
        }
    }
    h.finish()
}

/// Size bands used across the engine (priors, tiers, vectors):
/// 0: < 1k, 1: 1k-10k, 2: 10k-100k, 3: 100k-1M, 4: >= 1M followers.
pub const SIZE_BANDS: usize = 5;

#[inline]
pub fn size_band(followers: u64) -> usize {
    match followers {
        0..=999 => 0,
        1_000..=9_999 => 1,
        10_000..=99_999 => 2,
        100_000..=999_999 => 3,
        _ => 4,
    }
}

/// Scales `v` to unit L2 norm (a cosine ignores scale); all zeros when it
/// has no direction (all zeros, or a non-finite component).
///
/// The norm is summed in f32 when that is exact enough (a sum of squares
/// between 1e-30 and f32's largest: any embedding a model gives, so those
/// vectors keep their bytes), else in f64: components of 1e19 and more
/// overflowed f32's sum of squares, and of 1e-23 and less underflowed it,
/// and such a vector became all zeros (or lost its direction) instead of
/// the unit vector it points along.
pub fn normalize(v: &mut [f32]) {
    if v.iter().any(|x| !x.is_finite()) {
        v.iter_mut().for_each(|x| *x = 0.0);
        return;
    }
    let s = v.iter().map(|x| x * x).sum::<f32>();
    if s.is_finite() && s >= 1e-30 {
        let n = s.sqrt();
        v.iter_mut().for_each(|x| *x /= n);
        return;
    }
    let n = v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    if n > 0.0 && n.is_finite() {
        v.iter_mut().for_each(|x| *x = (*x as f64 / n) as f32);
    } else {
        v.iter_mut().for_each(|x| *x = 0.0);
    }
}

/// Dot product; the compiler auto-vectorises the 8-lane accumulation.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Over the common length: never out of bounds (callers compare
    // vectors of one space, so the lengths are equal in practice).
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        let (x, y) = (&a[c * 8..c * 8 + 8], &b[c * 8..c * 8 + 8]);
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks * 8..n {
        s += a[i] * b[i];
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vector_keeps_its_direction_at_any_scale() {
        let dir = [3.0f32, -4.0, 12.0, 0.0];
        let mut unit = dir;
        normalize(&mut unit);
        assert_eq!(unit, [3.0 / 13.0, -4.0 / 13.0, 12.0 / 13.0, 0.0]);
        for scale in [1e37f32, 1e19, 1e-23, 1e-36, 1.0] {
            let mut v = dir.map(|x| x * scale);
            normalize(&mut v);
            let cos = dot(&v, &unit);
            assert!((cos - 1.0).abs() < 1e-6, "scale {scale}: {v:?}");
        }
        for bad in [
            [0.0f32; 4],
            [1.0, f32::NAN, 0.0, 0.0],
            [f32::INFINITY, 0.0, 0.0, 0.0],
        ] {
            let mut v = bad;
            normalize(&mut v);
            assert_eq!(v, [0.0; 4]);
        }
    }

    /// The derivation as first written (a key buffer per feature, a
    /// lower-cased copy per word), to check the faster one bit for bit.
    fn add_text_reference(h: &mut [f32], text: &str, weight: f32) {
        // Words counted in a sorted map: the same order as a sorted list.
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        for w in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 2)
            .map(|w| w.to_lowercase())
            .filter(|w| STOPWORDS.binary_search(&w.as_str()).is_err())
        {
            *counts.entry(w).or_default() += 1;
        }
        for (word, n) in counts {
            let mut key = b"w:".to_vec();
            key.extend_from_slice(word.as_bytes());
            let hsh = fnv1a(&key);
            let w = weight * (n as f32).sqrt();
            let sign = if (hsh >> 63) & 1 == 0 { 1.0 } else { -1.0 };
            h[(hsh % DERIVED_DIM as u64) as usize] += sign * w;
            let h2 = hsh.rotate_left(29).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let sign2 = if (h2 >> 63) & 1 == 0 { 1.0 } else { -1.0 };
            h[(h2 % DERIVED_DIM as u64) as usize] += sign2 * w * 0.5;
        }
    }

    #[test]
    fn text_hashing_equals_its_first_definition_bit_for_bit() {
        for text in [
            "Daily workouts, gym routines and protein breakfast",
            "ÉTÉ à Paris: CAFÉ, café et Croissants! ΣΟΦΙΑ σοφία ǅemal İstanbul straße STRASSE",
            "a I x yy ZZ 12 3 the The THE über ÜBER",
            "",
        ] {
            let mut fast = FeatureHasher::default();
            fast.add_text(text, 0.7);
            let mut slow = vec![0.0f32; DERIVED_DIM];
            add_text_reference(&mut slow, text, 0.7);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast.v), bits(&slow), "{text}");
            let words: Vec<String> = content_words(text).collect();
            let low: Vec<String> = text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.chars().count() >= 2)
                .map(|w| w.to_lowercase())
                .filter(|w| !is_stopword(w))
                .collect();
            assert_eq!(words, low);
        }
        assert_eq!(fnv1a_parts(&[b"ab", b":", b"c"]), fnv1a(b"ab:c"));
    }

    #[test]
    fn stopwords_are_sorted() {
        assert!(STOPWORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn related_creator_is_closer_than_unrelated() {
        let fit = vec!["fitness".to_string()];
        let cook = vec!["cooking".to_string()];
        let a = derive_creator_vector(&CreatorFeatures {
            niches: &fit,
            bio: Some("daily workouts, gym routines and protein breakfast"),
            ..Default::default()
        });
        let b = derive_creator_vector(&CreatorFeatures {
            niches: &cook,
            bio: Some("slow cooking, pasta and family dinners"),
            ..Default::default()
        });
        let q = derive_brief_vector(&BriefFeatures {
            niches: &fit,
            keywords: &["gym".to_string(), "workouts".to_string()],
            title: "Protein launch",
            ..Default::default()
        });
        assert!(dot(&q, &a) > dot(&q, &b) + 0.2);
        let n: f32 = a.iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-4);
    }
}
