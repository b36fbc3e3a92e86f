//! Quality evaluation on generated worlds, where each creator's true
//! performance is known: the engine's selection against "biggest accounts
//! first", "highest engagement rate first" and an all-knowing oracle, under
//! the same hard rules, budget and count.
//!
//! Invariant: every strategy picks only eligible creators and respects the
//! budget and count, so values are comparable; realized value is the
//! generator's truth model (`cloutdesk_ingest::generate::realized_value`).

use std::collections::HashMap;

use cloutdesk_engine::brief::CampaignBrief;
use cloutdesk_engine::filter::{check_one, eligible};
use cloutdesk_engine::matcher::Matcher;
use cloutdesk_engine::select::{select, Caps, Item};
use cloutdesk_engine::snapshot::Snapshot;
use cloutdesk_ingest::generate::{realized_value, CreatorTruth};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct StrategyTotals {
    pub realized_value: f64,
    pub fee_usd: f64,
    pub creators: usize,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct EvalReport {
    pub briefs: usize,
    pub engine: StrategyTotals,
    pub biggest_first: StrategyTotals,
    pub highest_er_first: StrategyTotals,
    pub oracle: StrategyTotals,
    /// Hard-rule, budget or count violations found in the engine's results.
    pub violations: usize,
}

impl EvalReport {
    pub fn ratio(&self, other: &StrategyTotals) -> f64 {
        self.engine.realized_value / other.realized_value.max(1e-9)
    }
}

/// Greedy fill in a fixed order under budget and count.
fn fill(order: &[u32], s: &Snapshot, budget: u64, wanted: usize) -> Vec<u32> {
    let mut left = budget;
    let mut out = Vec::new();
    for &o in order {
        if out.len() >= wanted {
            break;
        }
        let fee = s.hot.fee_cents[o as usize];
        if fee <= left {
            left -= fee;
            out.push(o);
        }
    }
    out
}

pub fn evaluate(
    s: &Snapshot,
    truth: &[CreatorTruth],
    briefs: &[(Value, CampaignBrief)],
    matcher: &Matcher,
) -> EvalReport {
    let by_id: HashMap<&str, &CreatorTruth> =
        truth.iter().map(|t| (t.creator_id.as_str(), t)).collect();
    let value_of = |o: u32, raw: &Value| -> f64 {
        let i = o as usize;
        by_id
            .get(s.creators.creator_id[i].as_str())
            .map_or(0.0, |t| realized_value(t, s.creators.followers[i], raw))
    };
    let mut rep = EvalReport {
        briefs: briefs.len(),
        ..EvalReport::default()
    };
    let add = |tot: &mut StrategyTotals, picks: &[u32], raw: &Value| {
        tot.creators += picks.len();
        for &o in picks {
            tot.realized_value += value_of(o, raw);
            tot.fee_usd += s.hot.fee_cents[o as usize] as f64 / 100.0;
        }
    };
    for (raw, b) in briefs {
        let r = matcher.select(s, b);
        let picks: Vec<u32> = r.selected.iter().map(|c| c.ordinal).collect();
        let cost: u64 = picks.iter().map(|&o| s.hot.fee_cents[o as usize]).sum();
        if cost > b.budget_cents() || picks.len() > b.creators_wanted as usize {
            rep.violations += 1;
        }
        rep.violations += picks
            .iter()
            .filter(|&&o| !check_one(b, s, o as usize).is_empty())
            .count();
        add(&mut rep.engine, &picks, raw);

        let el = eligible(b, s).bits.to_ordinals();
        let wanted = b.creators_wanted as usize;
        let mut big = el.clone();
        big.sort_by(|&a, &c| {
            s.hot.followers[c as usize]
                .cmp(&s.hot.followers[a as usize])
                .then(a.cmp(&c))
        });
        add(
            &mut rep.biggest_first,
            &fill(&big, s, b.budget_cents(), wanted),
            raw,
        );
        let mut er = el.clone();
        let key = |o: u32| {
            let x = s.hot.er[o as usize];
            if x.is_finite() {
                x
            } else {
                -1.0
            }
        };
        er.sort_by(|&a, &c| key(c).total_cmp(&key(a)).then(a.cmp(&c)));
        add(
            &mut rep.highest_er_first,
            &fill(&er, s, b.budget_cents(), wanted),
            raw,
        );
        // Oracle: the engine's own selector fed with true values.
        let items: Vec<Item> = el
            .iter()
            .map(|&o| Item {
                ordinal: o,
                value: value_of(o, raw),
                cost_cents: s.hot.fee_cents[o as usize],
                cell: o,
                niche: 0,
                country: 0,
                tier: 0,
            })
            .collect();
        let p = select(&items, b.budget_cents(), wanted, &Caps::default());
        let oracle: Vec<u32> = p.chosen.iter().map(|&i| items[i].ordinal).collect();
        add(&mut rep.oracle, &oracle, raw);
    }
    rep
}

pub fn report_table(r: &EvalReport) -> String {
    let row = |name: &str, t: &StrategyTotals| {
        format!(
            "{name:<22} {:>14.0} {:>12.0} {:>9}   {:>5.2}x\n",
            t.realized_value,
            t.fee_usd,
            t.creators,
            r.engine.realized_value / t.realized_value.max(1e-9)
        )
    };
    let mut s = format!(
        "{} briefs; realized engagements (generator truth) under the same rules, budgets and counts\n{:<22} {:>14} {:>12} {:>9}   engine/x\n",
        r.briefs, "strategy", "realized", "fees $", "creators"
    );
    s += &row("engine", &r.engine);
    s += &row("biggest accounts first", &r.biggest_first);
    s += &row("highest ER first", &r.highest_er_first);
    s += &row("oracle (knows truth)", &r.oracle);
    s += &format!(
        "engine reaches {:.1}% of the oracle; rule/budget/count violations: {}\n",
        100.0 * r.engine.realized_value / r.oracle.realized_value.max(1e-9),
        r.violations
    );
    s
}
