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

/// Up to three reasons, strongest first.
pub fn reasons(sc: &BriefScorer<'_>, x: &Scored) -> Vec<String> {
    let s: &Snapshot = sc.s;
    let b = sc.b;
    let i = x.ordinal as usize;
    let mut out: Vec<(f32, String)> = Vec::new();
    // Audience geography.
    if sc.has_geo_target() && s.hot.aud_known[i] {
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
        out.push((
            x.signals.audience_fit,
            format!("audience {} in {}", pct(share), targets.join("/")),
        ));
    }
    // Engagement against the size band.
    let band = size_band(s.hot.followers[i]);
    let er = s.hot.er[i];
    if er.is_finite() {
        out.push((
            x.signals.performance,
            format!(
                "engagement rate {} over {} posts (median for {} followers: {})",
                pct(er),
                s.creators.post_count[i],
                BAND_NAMES[band],
                pct(s.priors.er_by_band[band])
            ),
        ));
    } else {
        out.push((
            x.signals.performance * 0.5,
            format!(
                "no sponsored history yet: expected rate {} is the median for {} followers",
                pct(s.priors.er_by_band[band]),
                BAND_NAMES[band]
            ),
        ));
    }
    // Niche evidence.
    let (_, niche_posts) = sc.predicted_er(i);
    let declared: Vec<&str> = s
        .niches_of(i)
        .iter()
        .map(|&c| s.dicts.niches[c as usize].as_str())
        .filter(|n| b.niches.iter().any(|bn| bn == n))
        .collect();
    if niche_posts > 0 {
        out.push((
            x.signals.niche + 0.1,
            format!(
                "{niche_posts} past sponsored post(s) in {}",
                b.niches.join("/")
            ),
        ));
    } else if !declared.is_empty() {
        out.push((
            x.signals.niche,
            format!("creates {} content", declared.join(", ")),
        ));
    }
    // Price.
    if x.expected_engagements > 0.0 {
        let cpe = x.fee_cents as f64 / 100.0 / x.expected_engagements;
        out.push((
            x.signals.price_fit * 0.9,
            format!(
                "fee ${:.0} = ${:.2} per expected engagement (market ${:.2})",
                x.fee_cents as f64 / 100.0,
                cpe,
                s.priors.market_cpe
            ),
        ));
    }
    // Reliability, when there is evidence.
    let known = s.creators.on_time_known[i];
    if known >= 3 {
        out.push((
            x.signals.reliability * 0.8,
            format!(
                "delivered on time {}/{} times",
                s.creators.on_time_count[i], known
            ),
        ));
    }
    if let Some(l) = x.signals.lookalike {
        out.push((l, format!("close to the creators you named ({:.2})", l)));
    }
    out.sort_by(|a, b| b.0.total_cmp(&a.0));
    out.into_iter().take(3).map(|r| r.1).collect()
}
