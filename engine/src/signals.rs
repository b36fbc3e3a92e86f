//! Scoring signals: pure functions over a creator's columns and the brief.
//!
//! Each signal lies in [0, 1] (documented in the README):
//! - `text`: BM25 of the brief's words (keywords, title, description,
//!   niches) over bio, niches, handle and brands, divided by the best BM25
//!   among the candidates; 0 when the brief has no words.
//! - `semantic`: cosine of the brief vector and the creator vector, floored at 0.
//! - `niche`: how well the creator covers the brief's niches, niche by
//!   niche ([`niche_credit`]: what it declares weighed against the share
//!   of its tagged posts in the niche, the posts believed the more there
//!   are); 0.5 when the brief names no niche.
//! - `audience_fit`: mean over the brief's audience targets of: the creator's
//!   audience share in the target countries against the target's share;
//!   the overlap of age distributions; 1 - |female share gap|. Unknown
//!   audience data counts 0.3 (unknown is not good).
//! - `performance`: predicted engagement rate for this campaign (niche rate,
//!   shrunk toward the creator's overall rate, shrunk toward the median of
//!   its platform and size band ([`crate::snapshot::Priors::er_prior`]),
//!   both in log space: [`shrink_rate`]) times audience quality,
//!   relative to the band median: r / (1 + r).
//! - `reliability`: on-time share shrunk toward 0.9 with 3 pseudo-posts.
//! - `price_fit`: market cost per engagement against this creator's:
//!   min(1, 2m / (m + cpe)); 1 at or below the market price.
//! - `lookalike` (briefs with `similar_to`): best cosine to a seed creator.
//!
//! Invariant: no signal ever leaves [0, 1] and none is NaN (proptest'd).

use crate::brief::CampaignBrief;
use crate::snapshot::{bloom_bit, fold_bloom, folded_bit, Snapshot, UNKNOWN_CODE};

/// Pseudo-posts pulling a creator's overall rate toward its size band.
pub const SHRINK_OVERALL: f32 = 3.0;
/// Pseudo-posts pulling a niche rate toward the creator's overall rate.
pub const SHRINK_NICHE: f32 = 2.0;
/// Pseudo-posts of the reliability prior, and the prior itself.
pub const SHRINK_RELIABILITY: f32 = 3.0;
pub const PRIOR_ON_TIME: f32 = 0.9;
/// The share of its value an off-topic creator (relevance 0) keeps.
pub const RELEVANCE_FLOOR: f64 = 0.1;
/// Score of an unknown audience component.
pub const UNKNOWN_AUDIENCE: f32 = 0.3;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Signals {
    pub text: f32,
    pub semantic: f32,
    pub niche: f32,
    pub audience_fit: f32,
    pub performance: f32,
    pub reliability: f32,
    pub price_fit: f32,
    pub lookalike: Option<f32>,
}

/// A signal's name and how to read it from [`Signals`].
pub type SignalField = (&'static str, fn(&Signals) -> f32);

impl Signals {
    /// The signals every creator has (all but `lookalike`), by name, in
    /// [`Signals::named`]'s order.
    pub const CORE: [SignalField; 7] = [
        ("text", |s| s.text),
        ("semantic", |s| s.semantic),
        ("niche", |s| s.niche),
        ("audience_fit", |s| s.audience_fit),
        ("performance", |s| s.performance),
        ("reliability", |s| s.reliability),
        ("price_fit", |s| s.price_fit),
    ];

    /// (name, value) pairs, in a stable order: [`Signals::CORE`], then
    /// `lookalike` when the brief asked for it.
    pub fn named(&self) -> Vec<(&'static str, f32)> {
        let mut v: Vec<(&'static str, f32)> =
            Self::CORE.iter().map(|(n, f)| (*n, f(self))).collect();
        if let Some(l) = self.lookalike {
            v.push(("lookalike", l));
        }
        v
    }
}

/// One scored creator.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub ordinal: u32,
    pub signals: Signals,
    /// Predicted engagements for this campaign (one standard post).
    pub expected_engagements: f64,
    /// Predicted engagement rate for this campaign.
    pub predicted_er: f32,
    /// Topic relevance in [0, 1] (niche, text, semantic, lookalike).
    pub relevance: f32,
    /// Campaign value: expected engagements x geo fit x topic x reliability.
    pub value: f64,
    pub fee_cents: u64,
    /// The headline match score in [0, 1]: a weighted mean of the signals.
    pub score: f32,
    /// The creator's groups for the selection's diversity caps, read
    /// here, in the parallel scoring pass beside the creator's other
    /// columns, so that building the selection's items does not fetch
    /// them again one scattered creator after another: first declared
    /// niche (`UNKNOWN_CODE` if none), country code and size band.
    pub niche: u16,
    pub country: u16,
    pub tier: u8,
}

/// Weights of the headline score.
pub const SCORE_WEIGHTS: [(&str, f32); 8] = [
    ("text", 0.10),
    ("semantic", 0.10),
    ("niche", 0.15),
    ("audience_fit", 0.20),
    ("performance", 0.20),
    ("reliability", 0.10),
    ("price_fit", 0.15),
    ("lookalike", 0.15),
];

/// The geography factor of [`BriefScorer::value_bound`] for a creator
/// whose audience is unknown: its home country is a target, or not.
pub(crate) const TARGETED_HOME: f32 = 0.6;
pub(crate) const UNTARGETED_HOME: f32 = 0.05;

/// [`BriefScorer::value_bound`]'s view of a brief (see
/// [`BriefScorer::bound_params`]).
pub(crate) struct BoundParams<'s> {
    /// The brief's niches' bits in the 64-bit summaries: a creator whose
    /// history's summary holds none takes its overall-rate bound.
    pub niche_bits: u64,
    /// The brief has a geography target, and its shares' divisor.
    pub geo: bool,
    pub geo_div: f32,
    pub geo_folds: &'s [(u8, u16)],
    /// The factor of a creator with an unknown audience, by home country
    /// code (a code past the end: [`UNTARGETED_HOME`]).
    pub unknown_geo: &'s [f32],
    /// The brief names niches; their summary bits and the factor by the
    /// count present.
    pub niche: bool,
    pub niche_folds: &'s [u8],
    pub niche_factor: &'s [f32],
}

/// A brief compiled against a snapshot for scoring.
#[derive(Debug)]
pub struct BriefScorer<'a> {
    pub s: &'a Snapshot,
    pub b: &'a CampaignBrief,
    niche_codes: Vec<u16>,
    /// `niche_mask[code]`: the brief names niche `code`.
    niche_mask: Vec<bool>,
    /// (country code, target share); shares sum to `geo_total`.
    geo: Vec<(u16, f32)>,
    geo_total: f32,
    /// Dense lookups for the per-creator passes (one pass over each
    /// creator list instead of one per brief entry): `geo_slot[code]` is
    /// 1 + the index of `code` in `geo`, `niche_slot[code]` 1 + its index
    /// in `niche_codes`, 0 when absent. `None` when the brief's entries
    /// cannot be told apart that way (a code twice, or more entries than a
    /// bit word holds): the entry-by-entry forms are used instead.
    geo_slot: Option<Vec<u8>>,
    niche_slot: Option<Vec<u8>>,
    /// The brief's countries and niches as list-summary bits
    /// ([`crate::snapshot::bloom_bit`]).
    geo_bits: u64,
    niche_bits: u64,
    /// The countries' folded to 32 bits, for [`crate::snapshot::BoundWords`].
    geo_bits32: u32,
    /// Each audience target's bit in the folded summaries (`code % 32`)
    /// and its code, in the brief's order.
    geo_folds: Vec<(u8, u16)>,
    /// Each known brief niche's bit in the folded summaries (`code % 32`),
    /// for the niche factor of [`Self::value_bound`] ...
    niche_folds: Vec<u8>,
    /// ... which is `niche_factor[k]` for `k` of them present (no
    /// division per creator).
    niche_factor: Vec<f32>,
    seeds: Vec<u32>,
    /// The value bound's geography factor for a creator whose audience is
    /// unknown, by home country code ([`TARGETED_HOME`] where the brief
    /// targets it; a code past the end, [`UNTARGETED_HOME`]).
    unknown_geo: Vec<f32>,
}

/// What a creator's lists say about a brief's niches: the predicted rate
/// with its niche evidence, and the niche fit (see [`BriefScorer::niche_fit`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NicheEvidence {
    pub er: f32,
    pub posts: u32,
    pub fit: f32,
}

/// A creator's [`NicheEvidence`] and geography fit for one brief
/// ([`BriefScorer::evidence`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    pub niche: NicheEvidence,
    pub geo: Option<f32>,
}

/// `slot[code] = 1 + index` of each code of `codes` (skipping `skip`), or
/// `None` when a code repeats or there are more than [`MAX_SLOTS`] of them.
fn slots(codes: impl Iterator<Item = u16>, dict_len: usize, skip: u16) -> Option<Vec<u8>> {
    let mut slot = vec![0u8; dict_len];
    for (k, code) in codes.enumerate() {
        if k >= MAX_SLOTS {
            return None;
        }
        if code == skip {
            continue;
        }
        let e = slot.get_mut(code as usize)?;
        if *e != 0 {
            return None;
        }
        *e = k as u8 + 1;
    }
    Some(slot)
}

/// Most codes a slot table ([`slots`]) numbers; slot 0 is every other code.
const MAX_SLOTS: usize = 32;

/// The predicted rate from `m` posts in the brief's niches whose rates
/// sum (weighted by posts) to `sum`: their mean, shrunk toward the
/// creator's `overall` rate with [`SHRINK_NICHE`] pseudo-posts
/// ([`shrink_rate`]); `overall` without such posts.
#[inline]
fn shrink_niche_rate(m: u32, sum: f32, overall: f32) -> f32 {
    if m == 0 {
        return overall;
    }
    let mf = m as f32;
    shrink_rate(mf, sum / mf, SHRINK_NICHE, overall)
}

/// Smallest rate the log-space shrinkage reads (a rate of 0 would pull
/// any prior to 0).
const RATE_FLOOR: f32 = 1e-5;

/// A rate `observed` over `n` posts shrunk toward `prior` with `k`
/// pseudo-posts, in log space: the posts-weighted geometric mean
/// `exp((n ln observed + k ln prior) / (n + k))`. Engagement rates vary by
/// factors, not by amounts: one viral post at 30x the usual rate moved a
/// linear mean with 3 pseudo-posts to 8x the prior, the geometric one to
/// 2.3x, while a long history keeps its own rate either way. Never above
/// the larger of `observed` and `prior` (the value retriever's per-creator
/// bounds rely on it).
#[inline]
pub fn shrink_rate(n: f32, observed: f32, k: f32, prior: f32) -> f32 {
    let ln = |r: f32| r.max(RATE_FLOOR).ln();
    let l = (n * ln(observed) + k * ln(prior)) / (n + k);
    l.exp().min(observed.max(prior))
}

/// Declared niches past which a creator is taken for listing every niche
/// it might be searched by (each declared niche then counts 0.6).
pub const STUFFED_NICHES: usize = 3;

/// Credit (in [0, 1]) for one brief niche: what the creator declares
/// weighed against what its tagged posts show, the posts believed the more
/// there are (`tagged / (tagged + 2)`). A declared niche counts 1 (0.6 for
/// a creator declaring more than [`STUFFED_NICHES`]); the posts count by
/// their share in the niche (half or more of them: 1), and a declared
/// niche they touch at all keeps 0.7. So a niche declared but never
/// posted in by a creator with ten tagged posts counts 0.17, one declared
/// and posted in 1.0, one only posted in by its share (one stray post of
/// twenty: 0.09, instead of a flat 0.7 before). What creators post and
/// are paid for is revealed; what they declare costs nothing.
#[inline]
pub fn niche_credit(declared: bool, stuffed: bool, posts: u32, tagged: u32) -> f32 {
    let decl = match (declared, stuffed) {
        (false, _) => 0.0,
        (true, false) => 1.0,
        (true, true) => 0.6,
    };
    if tagged == 0 {
        return decl;
    }
    let t = tagged as f32;
    let w = t / (t + 2.0);
    let revealed = if posts > 0 {
        (2.0 * posts as f32 / t).min(1.0).max(0.7 * decl)
    } else {
        0.0
    };
    (1.0 - w) * decl + w * revealed
}

#[inline]
fn clamp01(x: f32) -> f32 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

impl<'a> BriefScorer<'a> {
    pub fn new(b: &'a CampaignBrief, s: &'a Snapshot) -> BriefScorer<'a> {
        let niche_codes: Vec<u16> = b
            .niches
            .iter()
            .filter_map(|n| s.dicts.niche_index.get(n).copied())
            .collect();
        let mut niche_mask = vec![false; s.dicts.niches.len()];
        for &c in &niche_codes {
            niche_mask[c as usize] = true;
        }
        let mut geo: Vec<(u16, f32)> = Vec::new();
        if !b.target.audience_countries.is_empty() {
            for (c, share) in &b.target.audience_countries {
                let code = s
                    .dicts
                    .country_index
                    .get(c)
                    .copied()
                    .unwrap_or(UNKNOWN_CODE);
                geo.push((code, *share));
            }
        } else if let Some(cs) = &b.target.countries {
            let w = 1.0 / cs.len().max(1) as f32;
            for c in cs {
                let code = s
                    .dicts
                    .country_index
                    .get(c)
                    .copied()
                    .unwrap_or(UNKNOWN_CODE);
                geo.push((code, w));
            }
        }
        let geo_total = geo.iter().map(|g| g.1).sum();
        let seeds = b.similar_to.iter().filter_map(|id| s.ordinal(id)).collect();
        // UNKNOWN_CODE (a target country the snapshot has never seen) is
        // in no creator's list: it takes no slot.
        let geo_slot = slots(
            geo.iter().map(|g| g.0),
            s.dicts.countries.len(),
            UNKNOWN_CODE,
        );
        let niche_slot = slots(
            niche_codes.iter().copied(),
            s.dicts.niches.len(),
            UNKNOWN_CODE,
        );
        let geo_bits = geo.iter().fold(0, |m, g| m | bloom_bit(g.0));
        let niche_bits = niche_codes.iter().fold(0, |m, &c| m | bloom_bit(c));
        let niche_folds = niche_codes.iter().map(|&c| folded_bit(c)).collect();
        let geo_folds = geo.iter().map(|g| (folded_bit(g.0), g.0)).collect();
        // A country the snapshot has never seen (UNKNOWN_CODE) is past the
        // table's end: no creator's home is a target through it.
        let unknown_geo = (0..s.dicts.countries.len().min(UNKNOWN_CODE as usize))
            .map(|c| {
                let targeted = match &geo_slot {
                    Some(slot) => slot.get(c).is_some_and(|&k| k != 0),
                    None => geo.iter().any(|g| g.0 as usize == c),
                };
                if targeted {
                    TARGETED_HOME
                } else {
                    UNTARGETED_HOME
                }
            })
            .collect();
        let niche_factor = (0..=niche_codes.len())
            .map(|k| 0.3 + 0.7 * (k as f32 / b.niches.len().max(1) as f32).min(1.0))
            .collect();
        BriefScorer {
            s,
            b,
            niche_codes,
            niche_mask,
            geo,
            geo_total,
            geo_slot,
            niche_slot,
            geo_bits,
            niche_bits,
            geo_bits32: fold_bloom(geo_bits),
            geo_folds,
            niche_folds,
            niche_factor,
            seeds,
            unknown_geo,
        }
    }

    pub fn has_geo_target(&self) -> bool {
        !self.geo.is_empty()
    }

    /// The creator's audience share in the brief's target countries,
    /// relative to what the brief asks (1 = as much as targeted or more).
    /// `None` when the brief sets no geography; unknown audience data falls
    /// back to the creator's home country (0.6 if targeted, else 0.05).
    pub fn geo_fit(&self, i: usize) -> Option<f32> {
        if self.geo.is_empty() {
            return None;
        }
        let s = self.s;
        let Some(slot) = &self.geo_slot else {
            return Some(self.geo_fit_by_entry(i));
        };
        let at = |code: u16| slot.get(code as usize).copied().unwrap_or(0);
        if !s.hot.aud_known[i] {
            let home = s.hot.country[i];
            let targeted = home != UNKNOWN_CODE && at(home) != 0;
            return Some(if targeted { 0.6 } else { 0.05 });
        }
        if s.hot.aud_bloom[i] & self.geo_bits == 0 {
            // No targeted country in the audience: nothing inside.
            return Some(clamp01(0.0 / self.geo_total.max(0.05)));
        }
        // One pass over the creator's audience; each target takes the
        // first share listed for its country, summed in the brief's order
        // (the same sum, to the bit, as `geo_fit_by_entry`: adding 0 to a
        // sum of shares changes nothing). Branch-free in the list: slot 0
        // collects the countries the brief does not target.
        let mut found = [0.0f32; 33];
        let mut seen = 0u64;
        for &(code, share) in s.audience_of(i) {
            let k = at(code) as usize;
            let bit = 1u64 << k;
            found[k] = if seen & bit == 0 { share } else { found[k] };
            seen |= bit;
        }
        let mut inside = 0.0f32;
        for (k, &share) in found.iter().enumerate().take(self.geo.len() + 1).skip(1) {
            inside += if (seen >> k) & 1 != 0 { share } else { 0.0 };
        }
        // Asked for 80% in US/CA: a creator with 80% there fits fully.
        Some(clamp01(inside / self.geo_total.max(0.05)))
    }

    /// `geo_fit`, target by target (any brief; the reference the dense
    /// pass is tested against).
    pub fn geo_fit_by_entry(&self, i: usize) -> f32 {
        let s = self.s;
        if !s.hot.aud_known[i] {
            let home = s.hot.country[i];
            let targeted = home != UNKNOWN_CODE && self.geo.iter().any(|g| g.0 == home);
            return if targeted { 0.6 } else { 0.05 };
        }
        let aud = s.audience_of(i);
        let mut inside = 0.0f32;
        for &(code, _) in &self.geo {
            if let Some(&(_, share)) = aud.iter().find(|a| a.0 == code) {
                inside += share;
            }
        }
        clamp01(inside / self.geo_total.max(0.05))
    }

    /// `geo` is `self.geo_fit(i)` (computed once by the caller).
    fn audience_fit(&self, i: usize, geo: Option<f32>) -> f32 {
        let s = self.s;
        let t = &self.b.target;
        // Mean of the parts the brief asks about (no allocation: hot path).
        let mut sum = 0.0f32;
        let mut parts = 0u32;
        let mut part = |v: f32| {
            sum += v;
            parts += 1;
        };
        if let Some(g) = geo {
            part(if s.hot.aud_known[i] {
                g
            } else {
                g.min(UNKNOWN_AUDIENCE)
            });
        }
        if let Some(want) = &t.audience_ages {
            if s.hot.ages_known[i] {
                let have = &s.hot.ages[i];
                let total: f32 = want.iter().sum();
                let overlap: f32 = want.iter().zip(have).map(|(w, h)| w.min(*h)).sum();
                part(clamp01(overlap / total.max(1e-6)));
            } else {
                part(UNKNOWN_AUDIENCE);
            }
        }
        if let Some(want) = t.audience_female {
            let have = s.hot.female[i];
            part(if have.is_nan() {
                UNKNOWN_AUDIENCE
            } else {
                clamp01(1.0 - (have - want).abs())
            });
        }
        if parts == 0 {
            0.5
        } else {
            clamp01(sum / parts as f32)
        }
    }

    /// How well creator `i` covers the brief's niches, niche by niche
    /// ([`niche_credit`]: what it declares, weighed against what its
    /// tagged posts show), averaged over the brief's niches (the reference
    /// for [`Self::niche_evidence`]).
    pub fn niche_fit(&self, i: usize) -> f32 {
        if self.b.niches.is_empty() {
            return 0.5;
        }
        let declared = self.s.niches_of(i);
        let stuffed = declared.len() > STUFFED_NICHES;
        let hist = self.s.history_of(i);
        let tagged = self.s.hot.tagged_posts[i];
        let mut got = 0.0f32;
        for &code in &self.niche_codes {
            let posts = hist.iter().filter(|h| h.0 == code).map(|h| h.2).sum();
            got += niche_credit(declared.contains(&code), stuffed, posts, tagged);
        }
        clamp01(got / self.b.niches.len() as f32)
    }

    /// Predicted engagement rate for this campaign (before quality), with
    /// the niche evidence it used (posts in the brief's niches).
    pub fn predicted_er(&self, i: usize) -> (f32, u32) {
        let s = self.s;
        // The median rate shrunk toward the platform-and-band prior with
        // SHRINK_OVERALL pseudo-posts (`shrink_rate`), or that prior
        // without history: derived once per snapshot.
        let overall = s.hot.overall_er[i];
        let mut m = 0u32;
        let mut sum = 0.0f32;
        for &(code, ner, posts) in s.history_of(i) {
            if self.in_brief_niches(code) && ner.is_finite() {
                m += posts;
                sum += ner * posts as f32;
            }
        }
        (shrink_niche_rate(m, sum, overall), m)
    }

    /// [`Self::predicted_er`] and [`Self::niche_fit`] from one pass over
    /// the creator's declared niches and one over its history, with the
    /// same arithmetic in the same order (so the same bits).
    pub fn niche_evidence(&self, i: usize) -> NicheEvidence {
        let Some(slot) = &self.niche_slot else {
            let (er, posts) = self.predicted_er(i);
            return NicheEvidence {
                er,
                posts,
                fit: self.niche_fit(i),
            };
        };
        let s = self.s;
        let at = |code: u16| slot.get(code as usize).copied().unwrap_or(0);
        // A list whose summary shares no bit with the brief's niches holds
        // none of them: skipped (it would add nothing).
        let in_declared = s.hot.niche_bloom[i] & self.niche_bits != 0;
        let in_history = s.hot.hist_bloom[i] & self.niche_bits != 0;
        // Branch-free in the lists: slot 0 collects the niches the brief
        // does not name, and skipped terms add 0 (exact: sums of rates
        // and posts are never -0).
        let mut declared = 0u64;
        let declared_list: &[u16] = if in_declared { s.niches_of(i) } else { &[] };
        for &code in declared_list {
            declared |= 1u64 << at(code);
        }
        // Posts per brief niche (by slot; slot 0: the others).
        let mut posts_in = [0u32; MAX_SLOTS + 1];
        let mut m = 0u32;
        let mut sum = 0.0f32;
        let history: &[(u16, f32, u32)] = if in_history { s.history_of(i) } else { &[] };
        for &(code, ner, posts) in history {
            let k = at(code);
            posts_in[k as usize] += posts;
            let take = k != 0 && ner.is_finite();
            m += if take { posts } else { 0 };
            sum += if take { ner * posts as f32 } else { 0.0 };
        }
        let er = shrink_niche_rate(m, sum, s.hot.overall_er[i]);
        let brief_posts = &posts_in[1..=self.niche_codes.len()];
        let fit = if self.b.niches.is_empty() {
            0.5
        } else if declared >> 1 == 0 && brief_posts.iter().all(|&p| p == 0) {
            // Neither declared nor posted in: every credit is 0 (and the
            // creator's other columns need not be read).
            0.0
        } else {
            // The declared list is read (in cache) when any is declared.
            let stuffed = declared >> 1 != 0 && declared_list.len() > STUFFED_NICHES;
            let tagged = s.hot.tagged_posts[i];
            let mut got = 0.0f32;
            for (k, &posts) in brief_posts.iter().enumerate() {
                got += niche_credit((declared >> (k + 1)) & 1 != 0, stuffed, posts, tagged);
            }
            clamp01(got / self.b.niches.len() as f32)
        };
        NicheEvidence { er, posts: m, fit }
    }

    fn reliability(&self, i: usize) -> f32 {
        let c = &self.s.creators;
        let known = c.on_time_known[i] as f32;
        let on = c.on_time_count[i] as f32;
        clamp01((on + SHRINK_RELIABILITY * PRIOR_ON_TIME) / (known + SHRINK_RELIABILITY))
    }

    fn lookalike(&self, i: usize) -> Option<f32> {
        if self.seeds.is_empty() {
            return None;
        }
        let v = &self.s.vectors;
        let row = v.row(i);
        let best = self
            .seeds
            .iter()
            .filter(|&&o| o as usize != i)
            .map(|&o| crate::vector::dot(row, v.row(o as usize)))
            .fold(0.0f32, f32::max);
        Some(clamp01(best))
    }

    /// What the value retriever's estimate
    /// ([`Self::quick_value_per_dollar`]) and the full score both start
    /// from, the two walks of the creator's lists: its niche evidence and
    /// its geography fit. Computed once for a creator the value retriever
    /// keeps, then handed to [`Self::score_with`].
    #[inline]
    pub fn evidence(&self, i: usize) -> Evidence {
        Evidence {
            niche: self.niche_evidence(i),
            geo: self.geo_fit(i),
        }
    }

    /// Scores creator `i`; `text` is already normalised to [0, 1] and
    /// `cosine` is the brief-creator cosine.
    pub fn score(&self, i: usize, text: f32, cosine: f32) -> Scored {
        self.score_with(i, text, cosine, &self.evidence(i))
    }

    /// [`Self::score`] from the creator's [`Evidence`] (`e` must be
    /// `self.evidence(i)`; the same bits either way).
    pub fn score_with(&self, i: usize, text: f32, cosine: f32, e: &Evidence) -> Scored {
        let s = self.s;
        let followers = s.hot.followers[i] as f64;
        let q = s.audience_quality(i);
        let ev = e.niche;
        let er = ev.er;
        let expected = er as f64 * followers * q as f64;
        let band = s.hot.band[i];
        let band_prior = s.priors.er_by_band[band as usize];
        let r = er * q / band_prior.max(1e-6);
        let performance = clamp01(r / (1.0 + r));
        let reliability = self.reliability(i);
        let fee_cents = s.hot.fee_cents[i];
        let fee = fee_cents as f64 / 100.0;
        let cpe = if expected > 0.0 {
            fee / expected
        } else {
            f64::INFINITY
        };
        let m = s.priors.market_cpe;
        let price_fit = clamp01((2.0 * m / (m + cpe)) as f32);
        let niche = ev.fit;
        let semantic = clamp01(cosine);
        let text = clamp01(text);
        let geo_fit = e.geo;
        let audience_fit = self.audience_fit(i, geo_fit);
        let lookalike = self.lookalike(i);
        let signals = Signals {
            text,
            semantic,
            niche,
            audience_fit,
            performance,
            reliability,
            price_fit,
            lookalike,
        };
        // Topic relevance: what the brief is about, from every angle we have.
        let mut rel_num = 0.0f32;
        let mut rel_den = 0.0f32;
        let mut part = |v: f32, w: f32| {
            rel_num += v * w;
            rel_den += w;
        };
        part(niche, if self.b.niches.is_empty() { 0.0 } else { 0.45 });
        part(semantic, 0.25);
        if !self.b.text_query.is_empty() {
            part(text, 0.30);
        }
        if let Some(l) = lookalike {
            part(l, 0.5);
        }
        let relevance = clamp01(rel_num / rel_den.max(1e-6));
        let geo = geo_fit.unwrap_or(1.0) as f64;
        // An off-topic creator keeps a tenth of its engagements: sponsored
        // posts off the creator's subject reach an audience that did not
        // come for it (0.2 before; 0.1 raised the realized value against
        // the oracle both on the generator's worlds and on a held-out
        // generator's, BENCHMARKS.md "Nineteenth session").
        let value = expected
            * geo
            * (RELEVANCE_FLOOR + (1.0 - RELEVANCE_FLOOR) * relevance as f64)
            * (0.7 + 0.3 * reliability as f64)
            * (0.8 + 0.2 * audience_fit as f64);
        // Same order as SCORE_WEIGHTS; no allocation on the hot path.
        let values = [
            Some(text).filter(|_| !self.b.text_query.is_empty()),
            Some(semantic),
            Some(niche).filter(|_| !self.b.niches.is_empty()),
            Some(audience_fit),
            Some(performance),
            Some(reliability),
            Some(price_fit),
            lookalike,
        ];
        let (num, den) = values
            .iter()
            .zip(SCORE_WEIGHTS.iter())
            .filter_map(|(v, &(_, w))| v.map(|v| (w * v, w)))
            .fold((0.0f32, 0.0f32), |a, b| (a.0 + b.0, a.1 + b.1));
        Scored {
            ordinal: i as u32,
            signals,
            expected_engagements: expected,
            predicted_er: er,
            relevance,
            value: if value.is_finite() { value } else { 0.0 },
            fee_cents,
            score: clamp01(num / den.max(1e-6)),
            niche: s.niches_of(i).first().copied().unwrap_or(UNKNOWN_CODE),
            country: s.hot.country[i],
            tier: band,
        }
    }

    /// A cheap upper-bound-ish value per dollar without text or vectors,
    /// used to pick the "best predicted performers" candidates.
    /// Predicted engagements (before geography) per dollar, x geo fit x
    /// niche fit; reads the snapshot's derived per-creator columns.
    pub fn quick_value_per_dollar(&self, i: usize) -> f32 {
        self.value_per_dollar_of(i, &self.evidence(i))
    }

    /// [`Self::quick_value_per_dollar`] from the creator's [`Evidence`]
    /// (`e` must be `self.evidence(i)`).
    #[inline]
    pub fn value_per_dollar_of(&self, i: usize, e: &Evidence) -> f32 {
        let s = self.s;
        let ev = e.niche;
        let geo = e.geo.unwrap_or(1.0);
        let niche = if self.b.niches.is_empty() {
            1.0
        } else {
            0.3 + 0.7 * ev.fit
        };
        ev.er * s.hot.reach_per_dollar[i] * geo * niche
    }

    /// An upper bound of [`Self::quick_value_per_dollar`] of creator `i`
    /// (when that is finite) read from one 32-byte record, no list
    /// walked ([`crate::snapshot::BoundWords`]): the snapshot's
    /// [`crate::snapshot::BoundWords::value_bound`] (its `overall_bound`
    /// when the history's summary holds none of the brief's niches: the
    /// predicted rate is then the overall rate) times the geography factor
    /// where the list summaries already decide it (0 when the audience is
    /// known and holds no targeted country; the home-country fallback
    /// when it is unknown) and times the niche factor of a creator whose
    /// lists name at most the brief niches whose bits their summary holds
    /// (0.3 + 0.7 x their share; 0.3 when none). The product is formed in
    /// the estimate's order, and rounding is monotone, so the bound holds
    /// to the bit (tested over random briefs).
    #[inline(always)]
    pub fn value_bound(&self, i: usize) -> f32 {
        let w = self.s.hot.bound_words[i];
        // No brief niche in the history: the predicted rate is the overall
        // rate (and without brief niches, always).
        let mut ub = if w.hist_bloom & self.niche_bits == 0 {
            w.overall_bound
        } else {
            w.value_bound
        };
        if !self.geo.is_empty() {
            let geo = if !w.aud_known() {
                self.unknown_geo
                    .get(w.country as usize)
                    .copied()
                    .unwrap_or(UNTARGETED_HOME)
            } else if w.aud_bloom & self.geo_bits32 == 0 {
                0.0
            } else {
                // Each target the summary may hold takes at most the
                // creator's home share (its own country) or largest other
                // share, summed in the brief's order as `geo_fit` sums.
                let (home, other) = (w.home_bound(), w.other_bound());
                let mut inside = 0.0f32;
                for &(fold, code) in &self.geo_folds {
                    if (w.aud_bloom >> fold) & 1 != 0 {
                        inside += if code == w.country { home } else { other };
                    }
                }
                clamp01(inside / self.geo_total.max(0.05))
            };
            ub *= geo;
        }
        if !self.b.niches.is_empty() {
            // The niche fit is the mean of the brief niches' credits, each
            // at most 1 and 0 for a niche in neither of the creator's
            // lists: at most the share of brief niches whose bit the
            // summaries hold.
            let present: u32 = self
                .niche_folds
                .iter()
                .map(|&f| (w.niche_bloom >> f) & 1)
                .sum();
            ub *= self.niche_factor[present as usize];
        }
        ub
    }

    /// What [`Self::value_bound`] reads of the brief, for the vectorised
    /// pass (`crate::pass512`), which computes the same bounds from it.
    pub(crate) fn bound_params(&self) -> BoundParams<'_> {
        BoundParams {
            niche_bits: self.niche_bits,
            geo: !self.geo.is_empty(),
            geo_div: self.geo_total.max(0.05),
            geo_folds: &self.geo_folds,
            unknown_geo: &self.unknown_geo,
            niche: !self.b.niches.is_empty(),
            niche_folds: &self.niche_folds,
            niche_factor: &self.niche_factor,
        }
    }

    /// Whether niche `code` is one of the brief's (a table lookup).
    #[inline]
    fn in_brief_niches(&self, code: u16) -> bool {
        self.niche_mask.get(code as usize).copied().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_viral_post_is_not_believed_but_a_long_history_is() {
        let prior = 0.04;
        // One post at 1.34 (a viral outlier): linear shrinkage with three
        // pseudo-posts said 0.365 (9x the prior); in log space it is
        // about 2.4x the prior.
        let one = shrink_rate(1.0, 1.34, SHRINK_OVERALL, prior);
        assert!(one > prior && one < 2.6 * prior, "{one}");
        // Forty posts at 0.08 keep nearly their own rate.
        let many = shrink_rate(40.0, 0.08, SHRINK_OVERALL, prior);
        assert!(many > 0.075 && many <= 0.08, "{many}");
        // Below the prior it pulls up, and a rate of 0 does not drag the
        // estimate to 0 after one post.
        let low = shrink_rate(1.0, 0.0, SHRINK_OVERALL, prior);
        assert!(low > 0.0 && low < prior, "{low}");
    }

    #[test]
    fn posts_outweigh_what_a_creator_declares_the_more_there_are() {
        // No tagged posts: the declaration is all there is.
        assert_eq!(niche_credit(true, false, 0, 0), 1.0);
        assert_eq!(niche_credit(true, true, 0, 0), 0.6);
        assert_eq!(niche_credit(false, false, 0, 0), 0.0);
        // Declared and posted in (half the posts or more): full credit.
        assert!((niche_credit(true, false, 5, 10) - 1.0).abs() < 1e-6);
        // Declared, never posted in, ten tagged posts: 2/12.
        let never = niche_credit(true, false, 0, 10);
        assert!((never - 1.0 / 6.0).abs() < 1e-6, "{never}");
        // Only in the posts: by share, not a flat 0.7.
        let stray = niche_credit(false, false, 1, 20);
        assert!(stray > 0.08 && stray < 0.1, "{stray}");
        let half = niche_credit(false, false, 10, 20);
        assert!(half > 0.9 && half < 1.0, "{half}");
        // Declared and touched once keeps at least 0.7 of what the posts
        // weigh; more posts in it never lower the credit.
        let once = niche_credit(true, false, 1, 20);
        assert!(once > 0.7 && once < 1.0, "{once}");
        for tagged in 1..40u32 {
            for posts in 0..tagged {
                for (d, st) in [(false, false), (true, false), (true, true)] {
                    let a = niche_credit(d, st, posts, tagged);
                    let b = niche_credit(d, st, posts + 1, tagged);
                    assert!(
                        (0.0..=1.0).contains(&a) && b >= a,
                        "{d} {st} {posts}/{tagged}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_shrunk_rate_lies_between_the_observed_rate_and_the_prior() {
        let rates = [0.0f32, 1e-6, 0.003, 0.02, 0.04, 0.31, 1.7, 25.0];
        for &obs in &rates {
            for &prior in &rates[1..] {
                for n in [1.0f32, 2.0, 7.0, 300.0] {
                    let r = shrink_rate(n, obs, SHRINK_NICHE, prior);
                    assert!(r.is_finite(), "{n} {obs} {prior}");
                    // Never above the larger (the value bounds rely on
                    // it), never below the smaller but for the floor.
                    assert!(r <= obs.max(prior), "{n} {obs} {prior}: {r}");
                    let lo = obs.min(prior).max(RATE_FLOOR).min(obs.max(prior));
                    assert!(r >= lo * 0.9999, "{n} {obs} {prior}: {r}");
                    // More posts at a rate move the estimate toward it.
                    let more = shrink_rate(n * 2.0, obs, SHRINK_NICHE, prior);
                    assert!(
                        (more - obs.max(RATE_FLOOR)).abs()
                            <= (r - obs.max(RATE_FLOOR)).abs() * 1.0001 + 1e-9,
                        "{n} {obs} {prior}"
                    );
                }
            }
        }
    }
}
