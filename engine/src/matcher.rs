//! The marketer's request: brief in, explained budget-feasible selection out.
//!
//! `Matcher::select` cannot fail: the brief was validated when it became a
//! `CampaignBrief`. Pipeline: hard rules (bitmap) -> candidates -> signals
//! (parallel) -> portfolio selection -> reasons and totals.
//!
//! Invariant: a result never holds more than `creators_wanted` creators, a
//! creator that breaks a hard rule, or more total fee than `budget_usd`;
//! it does not depend on the number of threads.

use std::time::Instant;

use rayon::prelude::*;

use crate::brief::CampaignBrief;
use crate::candidates::{gather, gather_many, CandidateOptions, Candidates, Known, Mode};
use crate::explain::reasons;
use crate::filter::{eligible, eligible_many};
use crate::select::{select, Caps, Item};
use crate::signals::{BriefScorer, Scored, Signals};
use crate::snapshot::Snapshot;

#[derive(Debug, Clone, PartialEq)]
pub struct SelectedCreator {
    pub rank: u32,
    pub ordinal: u32,
    pub creator_id: String,
    pub score: f32,
    pub fee_usd: f64,
    pub expected_engagements: f64,
    /// Estimated real, reachable followers (followers x audience quality).
    pub reach: f64,
    pub value: f64,
    pub signals: Signals,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Totals {
    pub creators: usize,
    pub fee_usd: f64,
    pub expected_engagements: f64,
    /// Sum of reach discounted for audience overlap within (niche, country).
    pub estimated_unique_reach: f64,
    pub budget_usd: f64,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MatchStats {
    pub eligible: usize,
    pub candidates: usize,
    pub took_ms: f64,
    pub mode: Mode,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MatchResult {
    pub campaign_id: String,
    pub snapshot: String,
    pub selected: Vec<SelectedCreator>,
    pub totals: Totals,
    pub brief_missing: Vec<&'static str>,
    pub stats: MatchStats,
}

#[derive(Debug, Clone, Default)]
pub struct MatchOptions {
    pub candidates: CandidateOptions,
    /// Score every eligible creator whatever the count (measures the
    /// candidate stage's loss).
    pub force_exact: bool,
}

/// Briefs whose candidate scans share one pass over the creators in
/// [`Matcher::map_batches`] (and so hold an eligible bitset at once).
pub const BATCH_BRIEFS: usize = 48;

/// One creator's signals for a brief, given its text score (BM25 over the
/// pool's best, in [0, 1]): the cosine is taken here. A pure function of
/// the brief, the snapshot, the creator and `text`; since the text score
/// is clamped to [0, 1] before use, `score_creator(sc, o, x.signals.text)`
/// gives back exactly the `Scored` `x` it came from (the re-rank relies on
/// this to recompute only its chosen creators).
pub fn score_creator(sc: &BriefScorer<'_>, ordinal: u32, text: f32) -> Scored {
    score_known(sc, ordinal, text, &Known::NOTHING)
}

/// [`score_creator`] taking what a retriever already computed of the
/// score (`known`, [`Known`]: the same functions on the same inputs)
/// instead of computing it again: the same result, bit for bit.
pub fn score_known(sc: &BriefScorer<'_>, ordinal: u32, text: f32, known: &Known) -> Scored {
    let o = ordinal as usize;
    let cos = if let Some(c) = known.cosine {
        c
    } else {
        let row = sc.s.vectors.row(o);
        // A brief with no vector in the creators' space (see
        // `Snapshot::user_space_vector`) has no semantic signal.
        let q = &sc.b.query_vector;
        if q.len() == row.len() {
            crate::vector::dot(q, row)
        } else {
            0.0
        }
    };
    match &known.evidence {
        Some(e) => sc.score_with(o, text, cos, e),
        None => sc.score(o, text, cos),
    }
}

/// Signals of every candidate (in parallel, in the candidates' order).
pub fn score_candidates(sc: &BriefScorer<'_>, cands: &Candidates) -> Vec<Scored> {
    let s = sc.s;
    let max_bm25 = cands.bm25.iter().copied().fold(0.0f32, f32::max);
    let score_one = |k: usize| {
        let text = if max_bm25 > 0.0 {
            cands.bm25[k] / max_bm25
        } else {
            0.0
        };
        let known = cands.known.get(k).unwrap_or(&Known::NOTHING);
        score_known(sc, cands.ordinals[k], text, known)
    };
    // Candidates are scattered rows: each step asks for the vector row
    // (four cache lines) of the candidate a few places ahead of the one it
    // scores, so their loads overlap instead of queueing. An indexed
    // parallel map collects straight into the result (a chunked flat map
    // collected piecewise and then copied the whole pool into a second,
    // freshly faulted buffer: 12% of a 10,000-campaign re-rank's scoring).
    // The per-creator words and list offsets are asked for further ahead
    // (`FAR`), so that by the time the candidate is `AHEAD` places away
    // its offsets are in cache and the heads of its three lists can be
    // asked for too.
    const CHUNK: usize = 256;
    const AHEAD: usize = 8;
    const FAR: usize = 16;
    let h = &s.hot;
    let asks_female = sc.b.target.audience_female.is_some();
    let asks_ages = sc.b.target.audience_ages.is_some();
    let fetch_far = |k: usize| {
        use crate::mem::prefetch;
        if let Some(&o) = cands.ordinals.get(k) {
            let o = o as usize;
            prefetch(h.aud_off.as_ptr().wrapping_add(o));
            prefetch(h.hist_off.as_ptr().wrapping_add(o));
            prefetch(h.niche_off.as_ptr().wrapping_add(o));
            prefetch(h.followers.as_ptr().wrapping_add(o));
            prefetch(h.quality.as_ptr().wrapping_add(o));
            prefetch(h.overall_er.as_ptr().wrapping_add(o));
            prefetch(h.fee_cents.as_ptr().wrapping_add(o));
            prefetch(h.aud_bloom.as_ptr().wrapping_add(o));
            prefetch(h.niche_bloom.as_ptr().wrapping_add(o));
            prefetch(h.hist_bloom.as_ptr().wrapping_add(o));
            // Read by the score itself (size band, reliability, audience,
            // the overlap cell): each its own cache line per creator.
            prefetch(h.band.as_ptr().wrapping_add(o));
            prefetch(h.country.as_ptr().wrapping_add(o));
            prefetch(h.aud_known.as_ptr().wrapping_add(o));
            prefetch(h.tagged_posts.as_ptr().wrapping_add(o));
            prefetch(s.creators.on_time_known.as_ptr().wrapping_add(o));
            prefetch(s.creators.on_time_count.as_ptr().wrapping_add(o));
            if asks_female {
                prefetch(h.female.as_ptr().wrapping_add(o));
            }
            if asks_ages {
                prefetch(h.ages_known.as_ptr().wrapping_add(o));
                prefetch(h.ages.as_ptr().wrapping_add(o));
            }
        }
    };
    // A candidate whose cosine or evidence a retriever computed is not
    // read for them again: neither is asked for.
    let fetch = |k: usize| {
        if let Some(&o) = cands.ordinals.get(k) {
            let o = o as usize;
            let known = cands.known.get(k).unwrap_or(&Known::NOTHING);
            if known.cosine.is_none() {
                crate::mem::prefetch_slice(s.vectors.row(o));
            }
            if known.evidence.is_none() {
                h.prefetch_lists(o);
            } else {
                h.prefetch_niche_list(o);
            }
        }
    };
    (0..cands.ordinals.len())
        .into_par_iter()
        .with_min_len(CHUNK)
        .map(|k| {
            fetch_far(k + FAR);
            fetch(k + AHEAD);
            score_one(k)
        })
        .collect()
}

/// The contract's selected creators of a portfolio given in rank order
/// as (scored creator, overlap cell), with the portfolio's estimated
/// unique reach (each creator's reach after the overlap discount for the
/// creators of its cell ranked before). The reasons, most of the work,
/// are written in parallel.
pub fn present(sc: &BriefScorer<'_>, ranked: &[(&Scored, u32)]) -> (Vec<SelectedCreator>, f64) {
    let s = sc.s;
    let selected: Vec<SelectedCreator> = ranked
        .par_iter()
        .enumerate()
        .map(|(rank, &(x, _))| {
            let i = x.ordinal as usize;
            debug_assert!(crate::filter::check_one(sc.b, s, i).is_empty());
            let q = s.audience_quality(i);
            SelectedCreator {
                rank: rank as u32 + 1,
                ordinal: x.ordinal,
                creator_id: s.creators.creator_id[i].clone(),
                score: x.score,
                fee_usd: x.fee_cents as f64 / 100.0,
                expected_engagements: x.expected_engagements,
                reach: s.hot.followers[i] as f64 * q as f64,
                value: x.value,
                signals: x.signals,
                reasons: reasons(sc, x),
            }
        })
        .collect();
    let mut unique_reach = 0.0;
    let mut cell_seen: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
    for (c, &(_, cell)) in selected.iter().zip(ranked) {
        let occ = cell_seen.entry(cell).or_default();
        unique_reach += crate::select::discounted(c.reach, *occ);
        *occ += 1;
    }
    (selected, unique_reach)
}

#[derive(Debug, Clone, Default)]
pub struct Matcher {
    pub opts: MatchOptions,
}

/// Everything scored for a brief, before selection (the re-rank reuses it).
#[derive(Debug, Clone)]
pub struct ScoredPool {
    pub scored: Vec<Scored>,
    pub eligible: usize,
    pub mode: Mode,
}

impl Matcher {
    pub fn new(opts: MatchOptions) -> Matcher {
        Matcher { opts }
    }

    /// Hard rules, candidates and signals for one brief.
    pub fn score_pool(&self, s: &Snapshot, b: &CampaignBrief) -> ScoredPool {
        self.score_pool_with(&BriefScorer::new(b, s))
    }

    /// [`Matcher::score_pool`] with the brief's scorer already built (the
    /// matcher reuses it for the reasons).
    pub fn score_pool_with(&self, sc: &BriefScorer<'_>) -> ScoredPool {
        let el = eligible(sc.b, sc.s);
        let cands = gather(sc, &el.bits, el.count, &self.candidate_options());
        ScoredPool {
            scored: score_candidates(sc, &cands),
            eligible: el.count,
            mode: cands.mode,
        }
    }

    /// [`Matcher::score_pool_with`] for several briefs at once, equal
    /// brief by brief (tested): the hard rules of all of them
    /// ([`eligible_many`]) share passes over the creators, and so do their
    /// candidate scans ([`gather_many`]) on a CPU without the one-brief
    /// AVX-512 pass (with it, each brief's scan runs on its own, faster);
    /// the signals run per brief in
    /// parallel. The scorers must share one snapshot; each holds an
    /// eligible bitset until the call returns, so callers batch (see
    /// [`Matcher::map_batches`]).
    pub fn score_pools_with(&self, scorers: &[BriefScorer<'_>]) -> Vec<ScoredPool> {
        let Some(first) = scorers.first() else {
            return Vec::new();
        };
        assert!(
            scorers.iter().all(|sc| std::ptr::eq(sc.s, first.s)),
            "a batch of briefs is scored against one snapshot"
        );
        let briefs: Vec<&CampaignBrief> = scorers.iter().map(|sc| sc.b).collect();
        let els = eligible_many(&briefs, first.s);
        let cands = gather_many(scorers, &els, &self.candidate_options());
        scorers
            .par_iter()
            .zip(els.par_iter())
            .zip(cands.par_iter())
            .map(|((sc, el), c)| ScoredPool {
                scored: score_candidates(sc, c),
                eligible: el.count,
                mode: c.mode,
            })
            .collect()
    }

    /// Scores `briefs` [`BATCH_BRIEFS`] at a time
    /// ([`Matcher::score_pools_with`]) and turns each brief's pool into a
    /// `T` with `f` (in parallel) before the next batch is scored, so
    /// memory stays bounded by one batch's pools. In the briefs' order.
    pub fn map_batches<T, F>(&self, s: &Snapshot, briefs: &[CampaignBrief], f: F) -> Vec<T>
    where
        T: Send,
        F: Fn(&BriefScorer<'_>, ScoredPool) -> T + Sync,
    {
        let mut out = Vec::with_capacity(briefs.len());
        for batch in briefs.chunks(BATCH_BRIEFS) {
            let scorers: Vec<BriefScorer<'_>> =
                batch.par_iter().map(|b| BriefScorer::new(b, s)).collect();
            let pools = self.score_pools_with(&scorers);
            out.par_extend(scorers.par_iter().zip(pools).map(|(sc, pool)| f(sc, pool)));
        }
        out
    }

    /// The candidate options in force (`force_exact`: no candidate stage).
    fn candidate_options(&self) -> CandidateOptions {
        let mut copts = self.opts.candidates;
        if self.opts.force_exact {
            copts.exact_limit = usize::MAX;
        }
        copts
    }

    /// Selection items of a pool: value, cost and groups per creator.
    pub fn items(pool: &[Scored]) -> Vec<Item> {
        pool.iter()
            .map(|x| Item {
                ordinal: x.ordinal,
                value: x.value,
                cost_cents: x.fee_cents,
                cell: ((x.niche as u32) << 16) | x.country as u32,
                niche: x.niche,
                country: x.country,
                tier: x.tier,
            })
            .collect()
    }

    /// Diversity caps as counts: at most the share of `creators_wanted`
    /// (rounded down, so 30% of 45 is 13, never 14), and at least 1. The
    /// slack absorbs the binary error of `share x wanted` (0.3 x 50 is
    /// 15.000000000000002 or 14.999999999999998, never 16 or 14).
    pub fn caps(b: &CampaignBrief) -> Caps {
        let k = b.creators_wanted as f64;
        let cap = |x: Option<f64>| x.map(|s| (((s * k) * (1.0 + 1e-12)).floor() as usize).max(1));
        Caps {
            per_niche: cap(b.diversity.max_share_per_niche),
            per_country: cap(b.diversity.max_share_per_country),
            per_tier: cap(b.diversity.max_share_per_tier),
        }
    }

    /// Matches one brief.
    pub fn select(&self, s: &Snapshot, b: &CampaignBrief) -> MatchResult {
        let t0 = Instant::now();
        let sc = BriefScorer::new(b, s);
        let pool = self.score_pool_with(&sc);
        let mut r = Matcher::finish(&sc, &pool);
        r.stats.took_ms = t0.elapsed().as_secs_f64() * 1000.0;
        r
    }

    /// Selection, reasons and totals of a scored pool (`took_ms` left 0
    /// for the caller to set).
    fn finish(sc: &BriefScorer<'_>, pool: &ScoredPool) -> MatchResult {
        let (s, b) = (sc.s, sc.b);
        let items = Matcher::items(&pool.scored);
        let p = select(
            &items,
            b.budget_cents(),
            b.creators_wanted as usize,
            &Matcher::caps(b),
        );
        // Present best first by marginal value per dollar as chosen.
        let mut order: Vec<(usize, f64)> = p
            .chosen
            .iter()
            .copied()
            .zip(p.gains.iter().copied())
            .collect();
        order.sort_by(|a, b2| {
            let ra = pool.scored[a.0].score;
            let rb = pool.scored[b2.0].score;
            rb.total_cmp(&ra)
                .then(pool.scored[a.0].ordinal.cmp(&pool.scored[b2.0].ordinal))
        });
        let ranked: Vec<(&Scored, u32)> = order
            .iter()
            .map(|&(idx, _)| (&pool.scored[idx], items[idx].cell))
            .collect();
        let (selected, unique_reach) = present(sc, &ranked);
        let fee_cents: u64 = selected
            .iter()
            .map(|c| (c.fee_usd * 100.0).round() as u64)
            .sum();
        let totals = Totals {
            creators: selected.len(),
            fee_usd: fee_cents as f64 / 100.0,
            // + 0.0: an empty sum is -0.0, which prints as "-0".
            expected_engagements: selected.iter().map(|c| c.expected_engagements).sum::<f64>()
                + 0.0,
            estimated_unique_reach: unique_reach,
            budget_usd: b.budget_usd,
            value: p.total_value,
        };
        MatchResult {
            campaign_id: b.campaign_id.clone(),
            snapshot: s.id.clone(),
            selected,
            totals,
            brief_missing: b.missing(),
            stats: MatchStats {
                eligible: pool.eligible,
                candidates: pool.scored.len(),
                took_ms: 0.0,
                mode: pool.mode,
            },
        }
    }

    /// Matches many briefs in parallel; identical to one at a time (but
    /// for `took_ms`, which is the batch's wall time shared out evenly:
    /// the briefs' candidate scans run together, see
    /// [`Matcher::score_pools_with`]).
    pub fn select_many(&self, s: &Snapshot, briefs: &[CampaignBrief]) -> Vec<MatchResult> {
        let t0 = Instant::now();
        let mut out = self.map_batches(s, briefs, |sc, pool| Matcher::finish(sc, &pool));
        let each = t0.elapsed().as_secs_f64() * 1000.0 / briefs.len().max(1) as f64;
        for r in &mut out {
            r.stats.took_ms = each;
        }
        out
    }
}
