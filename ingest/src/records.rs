//! Validated contract records and the load report types.
//!
//! Invariant: a value of these types has passed every rule of
//! `shared/spec/CONTRACT.md` that can be checked on its own row; an
//! `Option::None` always means "unknown" (empty cell / missing key), never zero.

use cloutdesk_engine::schema::{Deliverable, Platform};
use serde::Serialize;

/// One creator row (contract: creators).
#[derive(Debug, Clone, PartialEq)]
pub struct CreatorRecord {
    pub creator_id: String,
    pub handle: String,
    pub platform: Platform,
    pub bio: Option<String>,
    /// Lower case, trimmed, non-empty items.
    pub niches: Option<Vec<String>>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    /// ISO 639-1, lower case.
    pub languages: Option<Vec<String>>,
    pub followers: u64,
    pub avg_views: Option<u64>,
    /// (country, share) pairs; shares in [0, 1], sum <= 1.01, keys unique.
    pub audience_countries: Option<Vec<(String, f32)>>,
    /// Shares in `AGE_BUCKETS` order; a bucket absent from the map is 0.
    pub audience_ages: Option<[f32; 5]>,
    pub audience_female: Option<f32>,
    /// 64-bit: a hard rule compares it (`min_audience_quality`).
    pub audience_quality: Option<f64>,
    pub rate_usd: Option<f64>,
    pub min_fee_usd: Option<f64>,
    pub accepts_usage_rights: Option<bool>,
    pub capacity: Option<u32>,
    pub brands_worked_with: Option<Vec<String>>,
    pub embedding: Option<Vec<f32>>,
}

/// One delivered sponsored post (contract: performance).
#[derive(Debug, Clone, PartialEq)]
pub struct PerformanceRecord {
    pub creator_id: String,
    pub campaign_id: String,
    pub brand: String,
    /// Lower case.
    pub niche: Option<String>,
    /// Seconds since the Unix epoch (UTC); a plain date is its midnight UTC.
    pub posted_at: i64,
    pub deliverable: Option<Deliverable>,
    pub fee_usd: f64,
    pub impressions: Option<u64>,
    pub engagements: u64,
    pub clicks: Option<u64>,
    pub conversions: Option<u64>,
    pub on_time: Option<bool>,
    pub revisions: Option<u32>,
}

/// One invoice (contract: payments).
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentRecord {
    pub org_id: String,
    pub creator_id: String,
    pub campaign_id: String,
    pub amount_usd: f64,
    /// Days since 1970-01-01.
    pub invoiced_at: i32,
    /// Days since 1970-01-01; `None`: not paid yet.
    pub paid_at: Option<i32>,
}

/// A rejected row: which file, which 1-based row (header excluded), which
/// field, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reject {
    pub file: String,
    pub row: usize,
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} row {}: {}: {}",
            self.file, self.row, self.field, self.reason
        )
    }
}

/// What a reader made of one file: the good rows (with their 1-based row
/// numbers, in file order) and every rejected row.
#[derive(Debug, Clone, Default)]
pub struct LoadedFile<T> {
    pub rows: Vec<(usize, T)>,
    pub rejects: Vec<Reject>,
    /// Rows read in all (good + rejected).
    pub rows_read: usize,
}
