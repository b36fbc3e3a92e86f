//! The contract's enumerations and the snapshot's column names.
//!
//! Invariant: every name a table column is written or read under is a
//! constant here, so `ingest` (the writer) and `engine` (the reader) cannot
//! drift apart.

use std::fmt;

/// A creator's platform (contract: `platform`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Platform {
    Instagram,
    Tiktok,
    Youtube,
    Twitch,
    X,
    Other,
}

impl Platform {
    pub const ALL: [Platform; 6] = [
        Platform::Instagram,
        Platform::Tiktok,
        Platform::Youtube,
        Platform::Twitch,
        Platform::X,
        Platform::Other,
    ];

    /// Parses the contract spelling (lower case, exact).
    pub fn parse(s: &str) -> Option<Platform> {
        Some(match s {
            "instagram" => Platform::Instagram,
            "tiktok" => Platform::Tiktok,
            "youtube" => Platform::Youtube,
            "twitch" => Platform::Twitch,
            "x" => Platform::X,
            "other" => Platform::Other,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Instagram => "instagram",
            Platform::Tiktok => "tiktok",
            Platform::Youtube => "youtube",
            Platform::Twitch => "twitch",
            Platform::X => "x",
            Platform::Other => "other",
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Platform> {
        Platform::ALL.get(code as usize).copied()
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A deliverable type (contract: performance `deliverable`, brief `deliverables[].type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Deliverable {
    Post,
    Reel,
    Story,
    Video,
    Short,
    Stream,
}

impl Deliverable {
    pub const ALL: [Deliverable; 6] = [
        Deliverable::Post,
        Deliverable::Reel,
        Deliverable::Story,
        Deliverable::Video,
        Deliverable::Short,
        Deliverable::Stream,
    ];

    pub fn parse(s: &str) -> Option<Deliverable> {
        Some(match s {
            "post" => Deliverable::Post,
            "reel" => Deliverable::Reel,
            "story" => Deliverable::Story,
            "video" => Deliverable::Video,
            "short" => Deliverable::Short,
            "stream" => Deliverable::Stream,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Deliverable::Post => "post",
            Deliverable::Reel => "reel",
            Deliverable::Story => "story",
            Deliverable::Video => "video",
            Deliverable::Short => "short",
            Deliverable::Stream => "stream",
        }
    }
}

impl fmt::Display for Deliverable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The contract's audience age buckets, in order.
pub const AGE_BUCKETS: [&str; 5] = ["13-17", "18-24", "25-34", "35-44", "45+"];

/// Index of an age bucket label, if it is one of the contract's.
pub fn age_bucket_index(label: &str) -> Option<usize> {
    AGE_BUCKETS.iter().position(|b| *b == label)
}

/// Tolerance on share-map sums (contract: "sum to at most 1.0 (+0.01)").
pub const SHARE_SUM_TOLERANCE: f64 = 0.01;

/// A 32-bit float as the decimal it was written as: the shortest decimal
/// that reads back as `v` (ryu, on the stack), read as f64. A float32
/// column (a Parquet file from pandas, a snapshot written before a column
/// became 64-bit) holds 0.7 as 0.699999988; `f64::from` would keep that
/// error and fail "at least 0.7", this gives 0.7. Non-finite values pass
/// through.
pub fn f32_as_written(v: f32) -> f64 {
    if !v.is_finite() {
        return f64::from(v);
    }
    let mut b = ryu::Buffer::new();
    b.format_finite(v).parse().unwrap_or(f64::from(v))
}

/// Checks the contract's id rule: 1-64 characters of `[A-Za-z0-9._-]`.
pub fn is_valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// Column names of the snapshot's `creators` table (one row per creator,
/// row index = creator ordinal).
pub mod creators {
    pub const CREATOR_ID: &str = "creator_id";
    pub const HANDLE: &str = "handle";
    pub const PLATFORM: &str = "platform";
    pub const BIO: &str = "bio";
    pub const NICHES: &str = "niches";
    pub const COUNTRY: &str = "country";
    pub const LANGUAGES: &str = "languages";
    pub const FOLLOWERS: &str = "followers";
    pub const AVG_VIEWS: &str = "avg_views";
    /// `list<struct<key, share>>`
    pub const AUDIENCE_COUNTRIES: &str = "audience_countries";
    /// `fixed_size_list<f32, 5>` in `AGE_BUCKETS` order; null when unknown.
    pub const AUDIENCE_AGES: &str = "audience_ages";
    pub const AUDIENCE_FEMALE: &str = "audience_female";
    pub const AUDIENCE_QUALITY: &str = "audience_quality";
    pub const RATE_USD: &str = "rate_usd";
    pub const MIN_FEE_USD: &str = "min_fee_usd";
    pub const ACCEPTS_USAGE_RIGHTS: &str = "accepts_usage_rights";
    pub const CAPACITY: &str = "capacity";
    pub const BRANDS_WORKED_WITH: &str = "brands_worked_with";
    // Derived features (from performance history).
    /// Median of engagements / followers over the creator's performance rows.
    pub const ENGAGEMENT_RATE: &str = "engagement_rate";
    pub const POST_COUNT: &str = "post_count";
    /// Sum of fees / sum of engagements over the history.
    pub const COST_PER_ENGAGEMENT: &str = "cost_per_engagement";
    pub const MEDIAN_FEE_USD: &str = "median_fee_usd";
    pub const ON_TIME_SHARE: &str = "on_time_share";
    pub const ON_TIME_COUNT: &str = "on_time_count";
    pub const ON_TIME_KNOWN: &str = "on_time_known";
    pub const MEAN_REVISIONS: &str = "mean_revisions";
    pub const LAST_POSTED_DAYS: &str = "last_posted_days";
    /// Lower-cased brands of the creator's performance rows.
    pub const HISTORY_BRANDS: &str = "history_brands";
    /// The fee the engine plans to pay: rate_usd, else an estimate.
    pub const PLANNED_FEE_USD: &str = "planned_fee_usd";
    /// 0 = rate card, 1 = history median fee, 2 = size-band estimate.
    pub const FEE_SOURCE: &str = "fee_source";
}

/// Column names of the `creator_niches` table (one row per creator x niche
/// with history).
pub mod creator_niches {
    pub const ORDINAL: &str = "ordinal";
    pub const NICHE: &str = "niche";
    pub const ENGAGEMENT_RATE: &str = "engagement_rate";
    pub const POSTS: &str = "posts";
}

/// Column names of the `orgs` table (brand payment record per org).
pub mod orgs {
    pub const ORG_ID: &str = "org_id";
    pub const INVOICES: &str = "invoices";
    pub const MEDIAN_DAYS_TO_PAY: &str = "median_days_to_pay";
    pub const UNPAID_AFTER_60_SHARE: &str = "unpaid_after_60_share";
}

/// Fee sources (column `fee_source`).
pub mod fee_source {
    pub const RATE_CARD: u8 = 0;
    pub const HISTORY: u8 = 1;
    pub const SIZE_BAND: u8 = 2;
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub const fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses a strict `YYYY-MM-DD` date into days since 1970-01-01.
pub fn parse_date(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = &s[r];
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())
            .flatten()
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let dim = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if d > dim[m as usize - 1] {
        return None;
    }
    Some(days_from_civil(y as i64, m, d) as i32)
}

/// Formats a day number as `YYYY-MM-DD`.
pub fn format_date(days: i32) -> String {
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod date_tests {
    use super::*;

    #[test]
    fn a_float32_reads_as_the_decimal_it_was_written_as() {
        assert_eq!(f64::from(0.7f32), 0.699999988079071);
        assert_eq!(f32_as_written(0.7), 0.7);
        assert_eq!(f32_as_written(150.1), 150.1);
        assert_eq!(f32_as_written(1e-7), 1e-7);
        assert_eq!(f32_as_written(3.4e38), 3.4e38);
        assert!(f32_as_written(f32::NAN).is_nan());
        assert_eq!(f32_as_written(f32::INFINITY), f64::INFINITY);
        // Never further from the f32 than half its ulp: it reads back.
        for v in [0.1f32, 0.25, 1.0 / 3.0, 12345.678, -2.5e-12] {
            assert_eq!(f32_as_written(v) as f32, v);
        }
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(
            parse_date("2026-12-10").map(format_date).as_deref(),
            Some("2026-12-10")
        );
        assert_eq!(
            parse_date("2024-02-29").map(format_date).as_deref(),
            Some("2024-02-29")
        );
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026-1-01",
            "26-01-01",
            "2026-01-00",
            "2026/01/01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        for z in [-1000, 0, 1, 20_000, 20_423] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }
}
