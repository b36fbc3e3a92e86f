//! Human reasons for a selected creator: one to three short sentences a
//! marketer can check against the profile.
//!
//! Invariant: every reason states a fact from the snapshot (a share, a
//! rate, a count, a fee) — never a bare score.

use crate::signals::{BriefScorer, Scored};
use crate::snapshot::Snapshot;
use crate::vector::size_band;

const BAND_NAMES: [&str; 5] = ["<1k", "1k-10k", "10k-100k", "100k-1M", "1M+"];

fn pct(x: f32) -> String {
    let p = x * 100.0;
    if p >= 10.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// The facts a reason can state, weighed before any is written out.
#[derive(Clone, Copy)]
enum Fact {
    Audience,
    Engagement,
    NoHistory,
    NicheHistory(u32),
    NicheDeclared,
    Price,
    OnTime,
    Lookalike(f32),
}

/// Up to three reasons, strongest first (ties in the order the facts are
/// listed below). Each fact is weighed first and only the three written
/// out are formatted.
pub fn reasons(sc: &BriefScorer<'_>, x: &Scored) -> Vec<String> {
    let s: &Snapshot = sc.s;
    let b = sc.b;
    let i = x.ordinal as usize;
    let mut facts: Vec<(f32, Fact)> = Vec::with_capacity(6);
    // Audience geography.
    if sc.has_geo_target() && s.hot.aud_known[i] {
        facts.push((x.signals.audience_fit, Fact::Audience));
    }
    // Engagement against the size band.
    if s.hot.er[i].is_finite() {
        facts.push((x.signals.performance, Fact::Engagement));
    } else {
        facts.push((x.signals.performance * 0.5, Fact::NoHistory));
    }
    // Niche evidence.
    let (_, niche_posts) = sc.predicted_er(i);
    let declared = |n: &&str| b.niches.iter().any(|bn| bn == n);
    if niche_posts > 0 {
        facts.push((x.signals.niche + 0.1, Fact::NicheHistory(niche_posts)));
    } else if s
        .niches_of(i)
        .iter()
        .any(|&c| declared(&s.dicts.niches[c as usize].as_str()))
    {
        facts.push((x.signals.niche, Fact::NicheDeclared));
    }
    // Price.
    if x.expected_engagements > 0.0 {
        facts.push((x.signals.price_fit * 0.9, Fact::Price));
    }
    // Reliability, when there is evidence.
    if s.creators.on_time_known[i] >= 3 {
        facts.push((x.signals.reliability * 0.8, Fact::OnTime));
    }
    if let Some(l) = x.signals.lookalike {
        facts.push((l, Fact::Lookalike(l)));
    }
    facts.sort_by(|a, b| b.0.total_cmp(&a.0));
    let band = size_band(s.hot.followers[i]);
    facts
        .into_iter()
        .take(3)
        .map(|(_, fact)| match fact {
            Fact::Audience => {
                let targets: Vec<&str> = if !b.target.audience_countries.is_empty() {
                    b.target
                        .audience_countries
                        .iter()
                        .map(|(c, _)| c.as_str())
                        .collect()
                } else {
                    b.target
                        .countries
                        .iter()
                        .flatten()
                        .map(String::as_str)
                        .collect()
                };
                let mut share = 0.0f32;
                for &(code, sh) in s.audience_of(i) {
                    if targets.contains(&s.dicts.countries[code as usize].as_str()) {
                        share += sh;
                    }
                }
                format!("audience {} in {}", pct(share), targets.join("/"))
            }
            Fact::Engagement => format!(
                "engagement rate {} over {} posts (median for {} followers: {})",
                pct(s.hot.er[i]),
                s.creators.post_count[i],
                BAND_NAMES[band],
                pct(s.priors.er_by_band[band])
            ),
            Fact::NoHistory => format!(
                "no sponsored history yet: expected rate {} is the median for {} followers",
                pct(s.priors.er_by_band[band]),
                BAND_NAMES[band]
            ),
            Fact::NicheHistory(posts) => {
                format!("{posts} past sponsored post(s) in {}", b.niches.join("/"))
            }
            Fact::NicheDeclared => {
                let declared: Vec<&str> = s
                    .niches_of(i)
                    .iter()
                    .map(|&c| s.dicts.niches[c as usize].as_str())
                    .filter(declared)
                    .collect();
                format!("creates {} content", declared.join(", "))
            }
            Fact::Price => format!(
                "fee ${:.0} = ${:.2} per expected engagement (market ${:.2})",
                x.fee_cents as f64 / 100.0,
                x.fee_cents as f64 / 100.0 / x.expected_engagements,
                s.priors.market_cpe
            ),
            Fact::OnTime => format!(
                "delivered on time {}/{} times",
                s.creators.on_time_count[i], s.creators.on_time_known[i]
            ),
            Fact::Lookalike(l) => format!("close to the creators you named ({:.2})", l),
        })
        .collect()
}
