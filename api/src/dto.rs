//! The wire format: engine results as the contract's JSON.
//!
//! Invariant: field names and shapes follow shared/spec/CONTRACT.md exactly
//! ("match result"); anything added (signals `niche` and `lookalike`,
//! `totals.estimated_unique_reach`, `totals.budget_usd`, `stats.mode`) is
//! an extension, never a rename.

use cloutdesk_engine::matcher::MatchResult;
use serde::Serialize;

/// `x` to `places` decimals; never -0 (an empty selection's sum of
/// expected engagements is -0.0, which JSON would print as `-0.0`).
fn round(x: f64, places: i32) -> f64 {
    let p = 10f64.powi(places);
    (x * p).round() / p + 0.0
}

/// The contract's match result, serialised straight from the engine's
/// result (no `Value` tree: the re-rank writes ~800,000 selected creators
/// a night, and building a map per creator was most of its write stage).
///
/// Fields are declared in alphabetical order, the order a `Value` map
/// (a `BTreeMap`) has always written them: the bytes are the same either
/// way (a test compares them). Numbers are rounded for the wire as the
/// contract shows them (scores and signals to 4 places, fees to cents,
/// engagements to 0.1, reach to units, `took_ms` to microseconds).
#[derive(Debug, Serialize)]
pub struct MatchResultJson<'a> {
    brief_missing: &'a [&'static str],
    campaign_id: &'a str,
    /// Re-rank output only: the generation that wrote the line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<&'a str>,
    /// Re-rank output only: two orgs may share a campaign id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<&'a str>,
    selected: Vec<SelectedJson<'a>>,
    snapshot: &'a str,
    pub stats: StatsJson,
    totals: TotalsJson,
}

#[derive(Debug, Serialize)]
struct SelectedJson<'a> {
    creator_id: &'a str,
    expected_engagements: f64,
    fee_usd: f64,
    rank: u32,
    reasons: &'a [String],
    score: f64,
    signals: SignalsJson,
}

/// `Signals::named`, rounded, keys in alphabetical order.
#[derive(Debug, Serialize)]
struct SignalsJson {
    audience_fit: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    lookalike: Option<f64>,
    niche: f64,
    performance: f64,
    price_fit: f64,
    reliability: f64,
    semantic: f64,
    text: f64,
}

#[derive(Debug, Serialize)]
pub struct StatsJson {
    candidates: usize,
    eligible: usize,
    mode: &'static str,
    pub took_ms: f64,
}

#[derive(Debug, Serialize)]
struct TotalsJson {
    budget_usd: f64,
    creators: usize,
    estimated_unique_reach: f64,
    expected_engagements: f64,
    fee_usd: f64,
}

impl<'a> MatchResultJson<'a> {
    pub fn of(r: &'a MatchResult) -> MatchResultJson<'a> {
        let sig = |v: f32| round(v as f64, 4);
        MatchResultJson {
            brief_missing: &r.brief_missing,
            campaign_id: &r.campaign_id,
            generation: None,
            org_id: None,
            selected: r
                .selected
                .iter()
                .map(|c| {
                    let s = &c.signals;
                    SelectedJson {
                        creator_id: &c.creator_id,
                        expected_engagements: round(c.expected_engagements, 1),
                        fee_usd: round(c.fee_usd, 2),
                        rank: c.rank,
                        reasons: &c.reasons,
                        score: round(c.score as f64, 4),
                        signals: SignalsJson {
                            audience_fit: sig(s.audience_fit),
                            lookalike: s.lookalike.map(sig),
                            niche: sig(s.niche),
                            performance: sig(s.performance),
                            price_fit: sig(s.price_fit),
                            reliability: sig(s.reliability),
                            semantic: sig(s.semantic),
                            text: sig(s.text),
                        },
                    }
                })
                .collect(),
            snapshot: &r.snapshot,
            stats: StatsJson {
                candidates: r.stats.candidates,
                eligible: r.stats.eligible,
                mode: r.stats.mode.as_str(),
                took_ms: round(r.stats.took_ms, 3),
            },
            totals: TotalsJson {
                budget_usd: r.totals.budget_usd,
                creators: r.totals.creators,
                estimated_unique_reach: round(r.totals.estimated_unique_reach, 0),
                expected_engagements: round(r.totals.expected_engagements, 1),
                fee_usd: round(r.totals.fee_usd, 2),
            },
        }
    }
}

/// A readable table of a match result for the terminal.
pub fn match_table(r: &MatchResult, limit: usize) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "campaign {}  snapshot {}  eligible {}  candidates {}  {:.1} ms ({})",
        r.campaign_id,
        r.snapshot,
        r.stats.eligible,
        r.stats.candidates,
        r.stats.took_ms,
        r.stats.mode.as_str()
    );
    let _ = writeln!(
        s,
        "selected {} creators  fees ${:.2} of ${:.2}  expected engagements {:.0}  unique reach ~{:.0}",
        r.totals.creators,
        r.totals.fee_usd,
        r.totals.budget_usd,
        r.totals.expected_engagements,
        r.totals.estimated_unique_reach
    );
    if !r.brief_missing.is_empty() {
        let _ = writeln!(s, "brief is missing: {}", r.brief_missing.join(", "));
    }
    let _ = writeln!(
        s,
        "{:>4}  {:<14} {:>6} {:>9} {:>10}  reasons",
        "rank", "creator", "score", "fee $", "exp. eng."
    );
    for c in r.selected.iter().take(limit) {
        let _ = writeln!(
            s,
            "{:>4}  {:<14} {:>6.3} {:>9.2} {:>10.0}  {}",
            c.rank,
            c.creator_id,
            c.score,
            c.fee_usd,
            c.expected_engagements,
            c.reasons.join("; ")
        );
    }
    if r.selected.len() > limit {
        let _ = writeln!(s, "  ... {} more", r.selected.len() - limit);
    }
    s
}
