//! Seeded generator of a synthetic Cloutdesk world: creators, performance history, invoices, briefs and the hidden truth.
//!
//! Invariant: [`generate_world`] is a pure function of its [`GenConfig`]:
//! the same config gives a bit-identical [`World`] on every platform and for
//! any rayon thread count (creator `i` is drawn from its own stream derived
//! from `(seed, i)`; the random-number code and its `ln`/`exp` are our own),
//! and the timeline is fixed: history lies in the 365 days before
//! [`REFERENCE_DATE`] (2026-11-01), briefs' dates after it. The clock is
//! never read.
//!
//! # Shape of the world
//!
//! - Followers: log10(followers) is a three-part normal mixture (70 %
//!   N(3.55, 0.38), 27 % N(4.55, 0.55), 3 % N(5.9, 0.55)), which gives about
//!   5 % under 1k, 60 % 1k-10k, 26 % 10k-100k, 7 % 100k-1M and 1.4 % above 1M.
//! - Engagement: the observed rate (engagements / followers) has per-band
//!   medians near the published figures [`ER_BY_BAND`] (8 %, 4 %, 2.4 %, 2 %,
//!   1.7 %), with a per-creator log-normal spread (σ = 0.45).
//! - Bought followers: 8 % of accounts have `real_share` 0.3-0.7 and an
//!   `audience_quality` that is usually over-stated; the rest 0.85-0.98.
//! - Audience: 40-85 % in the home country, 2-5 other countries (same language
//!   or region preferred), the rest an unlisted tail; languages follow the
//!   country.
//! - History: 0-12 sponsored posts per creator (≈ 2.5 on average), 70 % in the
//!   primary niche, 22 % in a secondary one, 8 % elsewhere; 75 % of posts have
//!   an invoice from the campaign's org (50 orgs; most pay in 20-45 days, some
//!   in 60-120, a few leave 25-50 % unpaid).
//!
//! # Truth model
//!
//! Each creator has a hidden [`CreatorTruth`]: `true_er` (engagements per
//! *real* follower on a post in their primary niche), `real_share` (share of
//! real followers), true niches (primary first) and the true audience
//! geography. A past post's engagements are
//! `followers × real_share × true_er × niche_mult × LogNormal(0, 0.35)`
//! (and 1 % of posts go viral, ×3-8). What a creator would truly deliver for
//! a brief `b` is
//!
//! `followers × real_share × true_er × niche_mult(b) × geo_mult(b)`
//!
//! where `niche_mult` is 1.0 if the brief's niches include the creator's
//! primary true niche (or the brief names no niche), 0.6 if they include a
//! secondary one, 0.2 otherwise; and `geo_mult` is the creator's *true*
//! audience share in the keys of `target.audience_countries` (else in
//! `target.countries`; 1.0 when the brief has neither). [`realized_value`]
//! computes it.

mod briefs;
mod rng;
mod vocab;
mod world;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::contract::FileFormat;
use crate::records::{CreatorRecord, PaymentRecord, PerformanceRecord};
use crate::IngestError;

pub use briefs::canonical_json;
pub use rng::Rng;
pub use vocab::{
    brand_names, org_id, BRANDS_PER_NICHE, COUNTRIES, NICHES, NICHE_WEIGHTS, NICHE_WORDS, ORG_COUNT,
};

/// The fixed "today" of the synthetic world.
pub const REFERENCE_DATE: &str = "2026-11-01";
/// [`REFERENCE_DATE`] in days since 1970-01-01.
pub const REFERENCE_DAY: i32 = days_from_civil(2026, 11, 1);

/// Published median engagement rates by follower band: (band's upper bound
/// exclusive, rate).
pub const ER_BY_BAND: [(u64, f64); 5] = [
    (1_000, 0.08),
    (10_000, 0.04),
    (100_000, 0.024),
    (1_000_000, 0.020),
    (u64::MAX, 0.017),
];

/// Creators per parallel work item.
const CHUNK: usize = 4096;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    pub creators: usize,
    pub briefs: usize,
    pub seed: u64,
    pub format: FileFormat,
    /// `None`: no embedding column; `Some(d)`: unit vectors of length `d`
    /// clustered by niche.
    pub embedding_dim: Option<usize>,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            creators: 2000,
            briefs: 20,
            seed: 42,
            format: FileFormat::Csv,
            embedding_dim: None,
        }
    }
}

/// The hidden truth about one creator (never shown to the engine).
#[derive(Debug, Clone, PartialEq)]
pub struct CreatorTruth {
    pub creator_id: String,
    /// Engagements per real follower on a post in the primary niche.
    pub true_er: f64,
    /// Share of followers that are real, active people.
    pub real_share: f64,
    /// True niches, primary first.
    pub niches: Vec<String>,
    /// Home country (ISO 3166-1 alpha-2).
    pub home: String,
    /// True audience geography: (country, share), home first; shares sum to
    /// at most 1 (the rest is an unlisted tail).
    pub audience_countries: Vec<(String, f64)>,
}

/// A generated world.
#[derive(Debug, Clone, PartialEq)]
pub struct World {
    pub creators: Vec<CreatorRecord>,
    pub performance: Vec<PerformanceRecord>,
    pub payments: Vec<PaymentRecord>,
    pub briefs: Vec<serde_json::Value>,
    pub truth: Vec<CreatorTruth>,
}

/// Paths of the files [`write_world`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFiles {
    pub creators: PathBuf,
    pub performance: PathBuf,
    pub payments: PathBuf,
    pub briefs: PathBuf,
    pub truth: PathBuf,
}

/// Generates the world `cfg` describes (deterministic; parallel).
pub fn generate_world(cfg: &GenConfig) -> World {
    let ctx = world::Context::new(cfg.seed, cfg.creators, cfg.embedding_dim);
    let n_chunks = cfg.creators.div_ceil(CHUNK);
    let chunks: Vec<world::Chunk> = (0..n_chunks)
        .into_par_iter()
        .map(|c| {
            let start = c * CHUNK;
            world::generate_chunk(&ctx, start, (start + CHUNK).min(cfg.creators))
        })
        .collect();

    let mut w = World {
        creators: Vec::with_capacity(cfg.creators),
        performance: Vec::with_capacity(chunks.iter().map(|c| c.performance.len()).sum()),
        payments: Vec::with_capacity(chunks.iter().map(|c| c.payments.len()).sum()),
        briefs: Vec::with_capacity(cfg.briefs),
        truth: Vec::with_capacity(cfg.creators),
    };
    let mut org_seen = [false; ORG_COUNT];
    for c in chunks {
        w.creators.extend(c.creators);
        w.truth.extend(c.truth);
        w.performance.extend(c.performance);
        for (seen, now) in org_seen.iter_mut().zip(&c.orgs_seen) {
            *seen |= *now;
        }
        w.payments.extend(c.payments);
    }
    // Briefs come from orgs that have a payment record, when there are any.
    let mut orgs: Vec<usize> = (0..ORG_COUNT).filter(|&o| org_seen[o]).collect();
    if orgs.is_empty() {
        orgs = (0..ORG_COUNT).collect();
    }
    w.briefs = (0..cfg.briefs)
        .map(|b| briefs::generate_brief(&ctx, b, &orgs, cfg.creators))
        .collect();
    w
}

/// Writes `creators.<ext>`, `performance.<ext>`, `payments.<ext>` (in
/// `cfg.format`), `briefs.jsonl` and `truth.csv` into `out` (created if
/// missing).
pub fn write_world(
    world: &World,
    cfg: &GenConfig,
    out: &Path,
) -> Result<GeneratedFiles, IngestError> {
    fs::create_dir_all(out).map_err(|e| IngestError::file(out, e.to_string()))?;
    let ext = cfg.format.extension();
    let files = GeneratedFiles {
        creators: out.join(format!("creators.{ext}")),
        performance: out.join(format!("performance.{ext}")),
        payments: out.join(format!("payments.{ext}")),
        briefs: out.join("briefs.jsonl"),
        truth: out.join("truth.csv"),
    };
    crate::contract::write_creators(&files.creators, &world.creators)?;
    crate::contract::write_performance(&files.performance, &world.performance)?;
    crate::contract::write_payments(&files.payments, &world.payments)?;

    let mut text = String::new();
    for b in &world.briefs {
        canonical_json(b, &mut text);
        text.push('\n');
    }
    fs::write(&files.briefs, text).map_err(|e| IngestError::file(&files.briefs, e.to_string()))?;

    write_truth(&files.truth, &world.truth)?;
    Ok(files)
}

/// Writes `truth.csv`: `creator_id,true_er,real_share,niches,home,audience_countries`
/// (lists `|`-separated, the map as `CC:share` pairs).
pub fn write_truth(path: &Path, truth: &[CreatorTruth]) -> Result<(), IngestError> {
    let err = |e: &dyn std::fmt::Display| IngestError::file(path, e.to_string());
    let file = fs::File::create(path).map_err(|e| err(&e))?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(file));
    w.write_record(TRUTH_HEADER).map_err(|e| err(&e))?;
    for t in truth {
        let geo: Vec<String> = t
            .audience_countries
            .iter()
            .map(|(c, s)| format!("{c}:{s}"))
            .collect();
        w.write_record([
            t.creator_id.as_str(),
            &t.true_er.to_string(),
            &t.real_share.to_string(),
            &t.niches.join("|"),
            &t.home,
            &geo.join("|"),
        ])
        .map_err(|e| err(&e))?;
    }
    let mut inner = w.into_inner().map_err(|e| err(&e))?;
    inner.flush().map_err(|e| err(&e))
}

const TRUTH_HEADER: [&str; 6] = [
    "creator_id",
    "true_er",
    "real_share",
    "niches",
    "home",
    "audience_countries",
];

/// Reads a `truth.csv` written by [`write_truth`].
pub fn read_truth(path: &Path) -> Result<Vec<CreatorTruth>, IngestError> {
    let mut r = csv::Reader::from_path(path).map_err(|e| IngestError::file(path, e.to_string()))?;
    let header = r
        .headers()
        .map_err(|e| IngestError::file(path, e.to_string()))?
        .clone();
    if header.iter().ne(TRUTH_HEADER) {
        return Err(IngestError::file(path, "not a truth.csv header"));
    }
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let bad = |what: &str| IngestError::file(path, format!("row {}: bad {what}", i + 1));
        let rec = rec.map_err(|e| IngestError::file(path, e.to_string()))?;
        let list = |s: &str| -> Vec<String> {
            s.split('|')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        };
        let mut geo = Vec::new();
        for pair in rec[5].split('|').filter(|x| !x.is_empty()) {
            let (c, s) = pair
                .split_once(':')
                .ok_or_else(|| bad("audience_countries"))?;
            geo.push((
                c.to_string(),
                s.parse().map_err(|_| bad("audience_countries"))?,
            ));
        }
        out.push(CreatorTruth {
            creator_id: rec[0].to_string(),
            true_er: rec[1].parse().map_err(|_| bad("true_er"))?,
            real_share: rec[2].parse().map_err(|_| bad("real_share"))?,
            niches: list(&rec[3]),
            home: rec[4].to_string(),
            audience_countries: geo,
        });
    }
    Ok(out)
}

/// The engagements `truth`'s creator would truly deliver for `brief` (see
/// the module's truth model).
pub fn realized_value(truth: &CreatorTruth, followers: u64, brief: &serde_json::Value) -> f64 {
    let base = followers as f64 * truth.real_share * truth.true_er;
    base * niche_mult(truth, brief) * geo_mult(truth, brief)
}

/// 1.0 (primary niche asked for, or no niches), 0.6 (a secondary one), 0.2.
pub fn niche_mult(truth: &CreatorTruth, brief: &serde_json::Value) -> f64 {
    let asked: Vec<&str> = brief
        .get("niches")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|n| n.as_str()).collect())
        .unwrap_or_default();
    if asked.is_empty() {
        return 1.0;
    }
    let has = |n: &String| asked.iter().any(|a| a.eq_ignore_ascii_case(n));
    match truth.niches.split_first() {
        Some((p, _)) if has(p) => 1.0,
        Some((_, rest)) if rest.iter().any(has) => 0.6,
        _ => 0.2,
    }
}

/// The creator's true audience share in the brief's target countries.
pub fn geo_mult(truth: &CreatorTruth, brief: &serde_json::Value) -> f64 {
    let target = brief.get("target");
    let keys: Vec<&str> = match target.and_then(|t| t.get("audience_countries")) {
        Some(serde_json::Value::Object(m)) if !m.is_empty() => {
            m.keys().map(String::as_str).collect()
        }
        _ => match target
            .and_then(|t| t.get("countries"))
            .and_then(|c| c.as_array())
        {
            Some(a) if !a.is_empty() => a.iter().filter_map(|c| c.as_str()).collect(),
            _ => return 1.0,
        },
    };
    truth
        .audience_countries
        .iter()
        .filter(|(c, _)| keys.iter().any(|k| k.eq_ignore_ascii_case(c)))
        .map(|(_, s)| s)
        .sum()
}

/// Days since 1970-01-01 of a civil date (the engine's calendar).
pub const fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    cloutdesk_engine::schema::days_from_civil(y as i64, m, d) as i32
}

pub use cloutdesk_engine::schema::format_date;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(REFERENCE_DAY, 20_758);
        assert_eq!(format_date(REFERENCE_DAY), REFERENCE_DATE);
        assert_eq!(format_date(days_from_civil(2028, 2, 29)), "2028-02-29");
        assert_eq!(format_date(days_from_civil(2026, 12, 31)), "2026-12-31");
    }

    #[test]
    fn realized_value_follows_the_model() {
        let t = CreatorTruth {
            creator_id: "c-1".into(),
            true_er: 0.05,
            real_share: 0.8,
            niches: vec!["fitness".into(), "wellness".into()],
            home: "US".into(),
            audience_countries: vec![("US".into(), 0.6), ("CA".into(), 0.2)],
        };
        let v = |b: serde_json::Value| realized_value(&t, 10_000, &b);
        let base = 10_000.0 * 0.8 * 0.05;
        assert!((v(serde_json::json!({})) - base).abs() < 1e-9);
        assert!((v(serde_json::json!({"niches": ["fitness"]})) - base).abs() < 1e-9);
        assert!((v(serde_json::json!({"niches": ["wellness"]})) - 0.6 * base).abs() < 1e-9);
        assert!((v(serde_json::json!({"niches": ["crypto"]})) - 0.2 * base).abs() < 1e-9);
        let geo = serde_json::json!({"target": {"countries": ["CA", "GB"]}});
        assert!((v(geo) - 0.2 * base).abs() < 1e-9);
        let both = serde_json::json!({"target": {"countries": ["GB"], "audience_countries": {"US": 0.5, "CA": 0.3}}});
        assert!((v(both) - 0.8 * base).abs() < 1e-9);
    }
}
