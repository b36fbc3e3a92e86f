//! The creator's opportunity feed: the offers the re-rank assigned to a
//! creator, ranked from the creator's side, short and trustworthy.
//!
//! Creator-side signals, each in [0, 1]:
//! - `fee`: the planned fee against what the creator asks — `rate_usd` when
//!   known, else the median fee of their past sponsored posts:
//!   `min(1, fee / ask)`; 0.6 when they have neither (we cannot tell).
//! - `completeness`: share of the five completeness fields the brief states
//!   (deliverables, usage rights, timeline, revision rounds, payment terms);
//!   the item lists the missing ones.
//! - `payment`: 0.6 x the brand's payment record (from payments: timeliness
//!   `1 - max(0, median days to pay - 30) / 60`, times `1 - unpaid share
//!   after 60 days`; for a brand that has paid none of its invoices yet,
//!   `0.5 x (1 - unpaid share after 60 days)`, so one that never paid
//!   ranks no higher than any that did; 0.5 with no record) + 0.4 x its payment terms
//!   (`1 - max(0, terms - 30) / 90`; 0.5 when the brief gives none).
//! - `niche`: the campaign's niche fit for the creator (the matcher's signal).
//! - `usage_rights`: 1 when the brief asks no paid usage, 0.8 when it asks
//!   paid usage the creator accepts, 0.5 when the brief is silent.
//! - `deadline`: 0.5 + 0.5 x `min(1, (days to content_due - lead) / 14)`;
//!   0.5 with no timeline.
//!
//! The item's score is their weighted mean ([`WEIGHTS`]).
//!
//! Invariants: an item is never shown that pays below the creator's
//! `min_fee_usd`, that needs paid usage rights the creator refuses (or has
//! not accepted), whose deadline cannot be met (content due in fewer than
//! `min_lead_days`, or posting window over), or that the creator declined.
//! Fatigue: at most `per_day` items new to the creator per day (items first
//! shown earlier the same day count); the rest wait for a later day.
//! Pure: no I/O, deterministic, independent of the thread count.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::brief::CampaignBrief;
use crate::schema::format_date;
use crate::snapshot::Snapshot;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeedOptions {
    /// New items per creator per day.
    pub per_day: usize,
    /// Items in a feed at most.
    pub max_items: usize,
    /// The day the feed is built for (days since 1970-01-01).
    pub today: i32,
    /// Fewest days before content is due for an offer to be feasible.
    pub min_lead_days: i32,
}

impl Default for FeedOptions {
    fn default() -> Self {
        FeedOptions {
            per_day: 5,
            max_items: 20,
            today: 0,
            min_lead_days: 3,
        }
    }
}

/// Weights of the creator-side score.
pub const WEIGHTS: [(&str, f32); 6] = [
    ("fee", 0.25),
    ("completeness", 0.15),
    ("payment", 0.20),
    ("niche", 0.20),
    ("usage_rights", 0.10),
    ("deadline", 0.10),
];

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FeedSignals {
    pub fee: f32,
    pub completeness: f32,
    pub payment: f32,
    pub niche: f32,
    pub usage_rights: f32,
    pub deadline: f32,
}

impl FeedSignals {
    /// The signals' names, in the order of [`FeedSignals::values`] (and of
    /// [`WEIGHTS`]; tested).
    pub const NAMES: [&'static str; 6] = [
        "fee",
        "completeness",
        "payment",
        "niche",
        "usage_rights",
        "deadline",
    ];

    /// The signals' values, in the order of [`FeedSignals::NAMES`].
    pub fn values(&self) -> [f32; 6] {
        [
            self.fee,
            self.completeness,
            self.payment,
            self.niche,
            self.usage_rights,
            self.deadline,
        ]
    }

    pub fn named(&self) -> [(&'static str, f32); 6] {
        let v = self.values();
        std::array::from_fn(|k| (Self::NAMES[k], v[k]))
    }

    pub fn score(&self) -> f32 {
        let named = self.named();
        let num: f32 = WEIGHTS.iter().zip(named).map(|(w, v)| w.1 * v.1).sum();
        let den: f32 = WEIGHTS.iter().map(|w| w.1).sum();
        (num / den).clamp(0.0, 1.0)
    }
}

/// Why an offer is kept out of a creator's feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exclusion {
    BelowFloor,
    RefusesUsageRights,
    DeadlinePassed,
    Declined,
}

impl Exclusion {
    pub fn as_str(self) -> &'static str {
        match self {
            Exclusion::BelowFloor => "below_min_fee",
            Exclusion::RefusesUsageRights => "usage_rights_refused",
            Exclusion::DeadlinePassed => "deadline_not_feasible",
            Exclusion::Declined => "declined",
        }
    }
}

/// One offer the assignment gave a creator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Offer {
    /// Index into the briefs.
    pub campaign: u32,
    pub ordinal: u32,
    pub fee_cents: u64,
    /// The matcher's niche signal for this pair.
    pub niche_fit: f32,
}

/// One item of a creator's feed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedItem {
    pub ordinal: u32,
    pub campaign: u32,
    pub rank: u32,
    pub score: f32,
    pub signals: FeedSignals,
    pub fee_usd: f64,
    pub reasons: Vec<String>,
    pub missing: Vec<&'static str>,
    /// The day the creator first saw this item.
    pub first_shown_day: i32,
}

/// What the feed remembers between runs: declines and what was shown when.
pub struct FeedHistory<'a> {
    /// (creator_id, org_id, campaign_id) the creator declined.
    pub declined: &'a (dyn Fn(&str, &str, &str) -> bool + Sync),
    /// The day (creator_id, campaign_id) was first shown, if ever.
    /// (creator_id, org_id, campaign_id) -> the day the offer was first shown.
    pub first_shown: &'a (dyn Fn(&str, &str, &str) -> Option<i32> + Sync),
    /// How many items the creator was first shown on the run's day by
    /// earlier runs of that day, whether or not they are still offered
    /// (declined, closed or lost since): they count toward the day's limit.
    pub shown_today: &'a (dyn Fn(&str) -> usize + Sync),
}

/// A creator's feed and what was held back.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CreatorFeed {
    pub ordinal: u32,
    pub items: Vec<FeedItem>,
    /// New items held back by the daily limit.
    pub deferred: usize,
    /// Items first shown on the run's day, by this run or an earlier one of
    /// the same day (what the day's limit counted).
    pub shown_today: usize,
    pub excluded: Vec<(u32, Exclusion)>,
}

/// The brand payment records by org id.
pub fn org_index(s: &Snapshot) -> HashMap<&str, usize> {
    s.orgs
        .org_id
        .iter()
        .enumerate()
        .map(|(i, o)| (o.as_str(), i))
        .collect()
}

fn clamp01(x: f32) -> f32 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

/// Days from `today` until `b`'s content is due, when it says.
fn days_to_content_due(b: &CampaignBrief, today: i32) -> Option<i32> {
    b.timeline
        .as_ref()
        .and_then(|t| t.content_due)
        .map(|d| d - today)
}

/// Whether campaign `b` can still be delivered from day `today`: its
/// content is due at least `min_lead_days` ahead and its posting window
/// is not over (a campaign without those dates always can). An offer of
/// a campaign that cannot is never shown, so the re-rank does not assign
/// its creators at all (they would hold capacity for nothing).
pub fn deadline_feasible(b: &CampaignBrief, today: i32, min_lead_days: i32) -> bool {
    let days_left = days_to_content_due(b, today);
    let window_over = b
        .timeline
        .as_ref()
        .and_then(|t| t.post_until)
        .is_some_and(|d| d < today);
    !(window_over || days_left.is_some_and(|d| d < min_lead_days))
}

/// Scores one offer from the creator's side, or says why it never shows.
pub fn assess(
    s: &Snapshot,
    orgs: &HashMap<&str, usize>,
    b: &CampaignBrief,
    o: &Offer,
    opts: &FeedOptions,
) -> Result<(FeedSignals, Vec<String>), Exclusion> {
    let i = o.ordinal as usize;
    let c = &s.creators;
    let fee = o.fee_cents as f64 / 100.0;
    if c.min_fee_usd[i].is_some_and(|m| o.fee_cents < crate::pricing::cents_at_least(m)) {
        return Err(Exclusion::BelowFloor);
    }
    let paid_usage = b.usage_rights.as_ref().map(|u| u.paid_usage);
    if paid_usage == Some(true) && c.accepts_usage_rights[i] != Some(true) {
        return Err(Exclusion::RefusesUsageRights);
    }
    if !deadline_feasible(b, opts.today, opts.min_lead_days) {
        return Err(Exclusion::DeadlinePassed);
    }
    let days_left = days_to_content_due(b, opts.today);
    let mut reasons: Vec<(f32, String)> = Vec::new();
    // Fee against the ask.
    let ask = c.rate_usd[i].or(c.median_fee_usd[i]).filter(|a| *a > 0.0);
    let fee_sig = match ask {
        Some(a) => clamp01((fee / a) as f32),
        None => 0.6,
    };
    let floor = c.min_fee_usd[i]
        .map(|m| format!(", your floor ${m:.0}"))
        .unwrap_or_default();
    let fee_text = match (c.rate_usd[i], c.median_fee_usd[i]) {
        (Some(r), _) => format!("fee ${fee:.0} (your rate ${r:.0}{floor})"),
        (None, Some(m)) => format!("fee ${fee:.0} (your past median ${m:.0}{floor})"),
        _ => format!("fee ${fee:.0}{floor}"),
    };
    reasons.push((0.5 + fee_sig, fee_text));
    // Completeness.
    let missing = b.missing();
    let completeness = 1.0 - missing.len() as f32 / 5.0;
    if missing.is_empty() {
        reasons.push((
            1.2,
            "complete brief: deliverables, rights, timeline, revisions, terms".into(),
        ));
    }
    // Payment record and terms.
    let rec = orgs.get(b.org_id.as_str()).map(|&k| {
        (
            s.orgs.median_days_to_pay[k],
            s.orgs.unpaid_after_60_share[k],
            s.orgs.invoices[k],
        )
    });
    let (record, reason) = match rec {
        Some((days, unpaid, n)) => payment_record(&b.org_id, days, unpaid, n),
        None => (0.5, None),
    };
    reasons.extend(reason);
    let terms = match b.payment_terms_days {
        Some(t) => {
            reasons.push((0.3, format!("payment terms {t} days")));
            clamp01(1.0 - (t as f32 - 30.0).max(0.0) / 90.0)
        }
        None => 0.5,
    };
    let payment = clamp01(0.6 * record + 0.4 * terms);
    // Niche.
    let niche = clamp01(o.niche_fit);
    if niche >= 0.7 && !b.niches.is_empty() {
        reasons.push((
            0.6 + niche,
            format!("in your niches: {}", b.niches.join(", ")),
        ));
    }
    // Usage rights.
    let usage_rights = usage_rights_signal(paid_usage);
    if paid_usage == Some(false) {
        reasons.push((0.5, "no paid usage rights asked".into()));
    }
    // Deadline.
    let deadline = match days_left {
        Some(d) => {
            reasons.push((
                0.2,
                format!("content due {} ({d} days)", format_date(opts.today + d)),
            ));
            0.5 + 0.5 * clamp01((d - opts.min_lead_days) as f32 / 14.0)
        }
        None => 0.5,
    };
    let sig = FeedSignals {
        fee: fee_sig,
        completeness: clamp01(completeness),
        payment,
        niche,
        usage_rights,
        deadline,
    };
    reasons.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok((sig, reasons.into_iter().take(3).map(|r| r.1).collect()))
}

/// Builds every creator's feed from the assignment's offers. Feeds come
/// out in ordinal order; items by rank.
pub fn build_feeds(
    s: &Snapshot,
    briefs: &[CampaignBrief],
    offers: &[Offer],
    history: &FeedHistory<'_>,
    opts: &FeedOptions,
) -> Vec<CreatorFeed> {
    let orgs = org_index(s);
    let mut sorted: Vec<Offer> = offers.to_vec();
    sorted.sort_by_key(|o| (o.ordinal, o.campaign));
    let groups: Vec<&[Offer]> = sorted.chunk_by(|a, b| a.ordinal == b.ordinal).collect();
    groups
        .par_iter()
        .map(|g| feed_of(s, &orgs, briefs, g, history, opts))
        .collect()
}

/// One creator's feed from its offers (all of the same creator).
pub fn feed_of(
    s: &Snapshot,
    orgs: &HashMap<&str, usize>,
    briefs: &[CampaignBrief],
    offers: &[Offer],
    history: &FeedHistory<'_>,
    opts: &FeedOptions,
) -> CreatorFeed {
    let ordinal = offers.first().map_or(0, |o| o.ordinal);
    let creator_id = &s.creators.creator_id[ordinal as usize];
    let mut feed = CreatorFeed {
        ordinal,
        ..CreatorFeed::default()
    };
    let mut cands: Vec<FeedItem> = Vec::new();
    for o in offers {
        debug_assert_eq!(o.ordinal, ordinal);
        let b = &briefs[o.campaign as usize];
        if (history.declined)(creator_id, &b.org_id, &b.campaign_id) {
            feed.excluded.push((o.campaign, Exclusion::Declined));
            continue;
        }
        match assess(s, orgs, b, o, opts) {
            Err(e) => feed.excluded.push((o.campaign, e)),
            Ok((signals, reasons)) => cands.push(FeedItem {
                ordinal,
                campaign: o.campaign,
                rank: 0,
                score: signals.score(),
                signals,
                fee_usd: o.fee_cents as f64 / 100.0,
                reasons,
                missing: b.missing(),
                first_shown_day: (history.first_shown)(creator_id, &b.org_id, &b.campaign_id)
                    .unwrap_or(i32::MAX),
            }),
        }
    }
    cands.sort_by(|a, b2| {
        b2.score.total_cmp(&a.score).then_with(|| {
            briefs[a.campaign as usize]
                .campaign_id
                .cmp(&briefs[b2.campaign as usize].campaign_id)
        })
    });
    let mut new_today = cands
        .iter()
        .filter(|c| c.first_shown_day == opts.today)
        .count()
        .max((history.shown_today)(creator_id));
    for mut c in cands {
        if feed.items.len() >= opts.max_items {
            if c.first_shown_day > opts.today {
                feed.deferred += 1;
            }
            continue;
        }
        if c.first_shown_day > opts.today {
            // Never shown (or only "shown" in the future of this run's day).
            if new_today >= opts.per_day {
                feed.deferred += 1;
                continue;
            }
            new_today += 1;
            c.first_shown_day = opts.today;
        }
        feed.items.push(c);
    }
    for (r, it) in feed.items.iter_mut().enumerate() {
        it.rank = r as u32 + 1;
    }
    feed.shown_today = new_today;
    feed
}

/// The `usage_rights` signal of a brief that asks paid usage (`Some(true)`)
/// of a creator who accepts it, asks none (`Some(false)`) or is silent.
pub fn usage_rights_signal(paid_usage: Option<bool>) -> f32 {
    match paid_usage {
        Some(false) => 1.0,
        Some(true) => 0.8,
        None => 0.5,
    }
}

/// What [`usage_rights_signal`] was computed from (for feeds written
/// before they recorded `paid_usage`): `None` for the silent brief's 0.5
/// or any other value.
pub fn paid_usage_of_signal(x: f32) -> Option<bool> {
    [Some(true), Some(false)]
        .into_iter()
        .find(|&p| usage_rights_signal(p) == x)
        .flatten()
}

/// The brand's payment record in [0, 1] and its reason, from its
/// invoices (`n`), median days to pay (over paid invoices) and share
/// unpaid after 60 days (over invoices at least 60 days old): timeliness
/// `1 - max(0, days - 30) / 60` times `1 - unpaid`; a brand that has paid
/// none of its invoices yet has no timeliness to weigh, only what is
/// overdue: `0.5 x (1 - unpaid)` (all overdue: 0, no higher than any brand
/// that ever paid; none overdue yet: 0.5, as no record).
pub fn payment_record(
    org: &str,
    days: Option<f32>,
    unpaid: Option<f32>,
    n: u32,
) -> (f32, Option<(f32, String)>) {
    match (days, unpaid) {
        (Some(days), unpaid) => {
            let unpaid = unpaid.unwrap_or(0.0);
            let timely = clamp01(1.0 - (days - 30.0).max(0.0) / 60.0);
            let reason = format!(
                "{org} pays in {days:.0} days (median of {n} invoices), {:.0}% unpaid after 60 days",
                unpaid * 100.0
            );
            (
                clamp01(timely * (1.0 - unpaid)),
                Some((0.4 + timely * (1.0 - unpaid), reason)),
            )
        }
        (None, Some(unpaid)) if n > 0 => (
            clamp01(0.5 * (1.0 - unpaid)),
            Some((
                0.4,
                format!(
                    "{org} has paid none of its {n} invoices yet, {:.0}% unpaid after 60 days",
                    unpaid * 100.0
                ),
            )),
        ),
        _ => (0.5, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_rights_signal_says_what_the_brief_asked() {
        for p in [Some(true), Some(false), None] {
            assert_eq!(paid_usage_of_signal(usage_rights_signal(p)), p);
        }
        assert_eq!(paid_usage_of_signal(0.3), None);
    }

    #[test]
    fn a_brand_that_never_paid_has_the_lowest_record() {
        let never = payment_record("o", None, Some(1.0), 10).0;
        let late_once = payment_record("o", Some(200.0), Some(0.9), 10).0;
        let prompt = payment_record("o", Some(20.0), Some(0.0), 10).0;
        let unknown = payment_record("o", None, None, 0).0;
        let recent = payment_record("o", None, Some(0.0), 3).0;
        assert_eq!(never, 0.0);
        assert!(never <= late_once && late_once < unknown && unknown < prompt);
        assert_eq!((unknown, recent), (0.5, 0.5));
        let (_, reason) = payment_record("acme", None, Some(1.0), 10);
        assert!(reason
            .unwrap()
            .1
            .contains("acme has paid none of its 10 invoices"));
    }

    #[test]
    fn weights_and_values_follow_the_signal_names() {
        let names: Vec<&str> = WEIGHTS.iter().map(|w| w.0).collect();
        assert_eq!(names, FeedSignals::NAMES);
        let s = FeedSignals {
            fee: 0.1,
            completeness: 0.2,
            payment: 0.3,
            niche: 0.4,
            usage_rights: 0.5,
            deadline: 0.6,
        };
        assert_eq!(
            s.named(),
            [
                ("fee", 0.1),
                ("completeness", 0.2),
                ("payment", 0.3),
                ("niche", 0.4),
                ("usage_rights", 0.5),
                ("deadline", 0.6),
            ]
        );
    }
}
