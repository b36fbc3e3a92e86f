//! The wire format: engine results as the contract's JSON.
//!
//! Invariant: field names and shapes follow shared/spec/CONTRACT.md exactly
//! ("match result"); anything added (signals `niche` and `lookalike`,
//! `totals.estimated_unique_reach`, `totals.budget_usd`, `stats.mode`) is
//! an extension, never a rename.

use cloutdesk_engine::matcher::MatchResult;
use serde_json::{json, Map, Value};

fn round(x: f64, places: i32) -> f64 {
    let p = 10f64.powi(places);
    (x * p).round() / p
}

pub fn match_result(r: &MatchResult) -> Value {
    let selected: Vec<Value> = r
        .selected
        .iter()
        .map(|c| {
            let mut signals = Map::new();
            for (name, v) in c.signals.named() {
                signals.insert(name.to_string(), json!(round(v as f64, 4)));
            }
            json!({
                "rank": c.rank,
                "creator_id": c.creator_id,
                "score": round(c.score as f64, 4),
                "fee_usd": round(c.fee_usd, 2),
                "expected_engagements": round(c.expected_engagements, 1),
                "signals": Value::Object(signals),
                "reasons": c.reasons,
            })
        })
        .collect();
    json!({
        "campaign_id": r.campaign_id,
        "snapshot": r.snapshot,
        "selected": selected,
        "totals": {
            "creators": r.totals.creators,
            "fee_usd": round(r.totals.fee_usd, 2),
            "expected_engagements": round(r.totals.expected_engagements, 1),
            "estimated_unique_reach": round(r.totals.estimated_unique_reach, 0),
            "budget_usd": r.totals.budget_usd,
        },
        "brief_missing": r.brief_missing,
        "stats": {
            "eligible": r.stats.eligible,
            "candidates": r.stats.candidates,
            "took_ms": round(r.stats.took_ms, 3),
            "mode": r.stats.mode.as_str(),
        }
    })
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
