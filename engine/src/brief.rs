//! Campaign briefs: one validating constructor from the contract's JSON to a
//! [`CampaignBrief`] that matching can no longer fail on.
//!
//! Every problem is reported at once, each with its field path
//! (`target.audience_countries.XX: unknown country`). Unknown fields are
//! errors at every level: a typo must not silently drop a constraint.
//! This is the one place the engine reads JSON; the hot path never does.
//!
//! Contract extensions (documented in the README):
//! - `similar_to: [creator_id, ...]` ranks by closeness to those creators too;
//! - `diversity: {max_share_per_niche, max_share_per_country, max_share_per_tier}`
//!   caps the share of the selection any one niche / country / size tier takes;
//! - `status: "open" | "paused" | "closed"` (default "open"): the nightly
//!   re-rank only takes open campaigns.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::codes::{is_country, is_language};
use crate::schema::{age_bucket_index, is_valid_id, parse_date, Deliverable, Platform};
use crate::text::TextQuery;
use crate::vector::{derive_brief_vector, normalize, BriefFeatures};

/// One problem with a brief: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldProblem {
    pub path: String,
    pub problem: String,
}

impl std::fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

/// All the problems of an invalid brief.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid brief: {}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
pub struct BriefErrors(pub Vec<FieldProblem>);

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub countries: Option<Vec<String>>,
    pub languages: Option<Vec<String>>,
    pub audience_countries: Vec<(String, f32)>,
    pub audience_ages: Option<[f32; 5]>,
    pub audience_female: Option<f32>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreatorFilters {
    pub followers_min: Option<u64>,
    pub followers_max: Option<u64>,
    /// 64-bit, compared with the creators' 64-bit values (exact bounds).
    pub min_engagement_rate: Option<f64>,
    pub min_audience_quality: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliverableSpec {
    pub kind: Deliverable,
    pub count: u32,
    pub specs: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UsageRights {
    pub days: Option<u32>,
    pub paid_usage: bool,
    pub channels: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    pub content_due: Option<i32>,
    pub post_from: Option<i32>,
    pub post_until: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diversity {
    /// 64-bit, as written: the caps they make must not round past them.
    pub max_share_per_niche: Option<f64>,
    pub max_share_per_country: Option<f64>,
    pub max_share_per_tier: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignStatus {
    Open,
    Paused,
    Closed,
}

/// A validated brief. Built only by [`CampaignBrief::from_json`].
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignBrief {
    pub campaign_id: String,
    pub org_id: String,
    pub brand: String,
    pub title: String,
    pub description: Option<String>,
    pub niches: Vec<String>,
    pub keywords: Vec<String>,
    pub platforms: Option<Vec<Platform>>,
    pub target: Target,
    pub filters: CreatorFilters,
    pub deliverables: Option<Vec<DeliverableSpec>>,
    pub usage_rights: Option<UsageRights>,
    pub timeline: Option<Timeline>,
    pub revision_rounds: Option<u32>,
    pub budget_usd: f64,
    pub fee_range_usd: Option<(f64, f64)>,
    pub creators_wanted: u32,
    pub payment_terms_days: Option<u32>,
    /// Lower-cased.
    pub exclude_brands: Vec<String>,
    pub exclude_creators: Vec<String>,
    pub embedding: Option<Vec<f32>>,
    pub similar_to: Vec<String>,
    pub diversity: Diversity,
    pub status: CampaignStatus,
    /// Derived: the unit vector the brief is searched with.
    pub query_vector: Vec<f32>,
    /// Derived: the words the brief is searched with.
    pub text_query: TextQuery,
}

/// What validation needs to know about the snapshot.
#[derive(Debug, Clone, Copy)]
pub struct BriefContext<'a> {
    /// Dimension of creator vectors.
    pub vector_dim: usize,
    /// Whether creator vectors came from the user's model (`embedding`).
    pub user_vectors: bool,
    /// Known creator ids (for `similar_to`); `None` skips the check.
    pub creators: Option<&'a HashMap<String, u32>>,
    /// With user vectors: the snapshot a brief without `embedding` takes
    /// its vector from ([`crate::snapshot::Snapshot::user_space_vector`]);
    /// `None` there leaves such a brief with no vector (no semantic
    /// signal).
    pub user_space: Option<&'a crate::snapshot::Snapshot>,
}

/// Most creators one brief may ask for: the contract sets no limit, so
/// this is only the width of the field.
pub const MAX_CREATORS_WANTED: u64 = u32::MAX as u64;

const TOP_FIELDS: &[&str] = &[
    "campaign_id",
    "org_id",
    "brand",
    "title",
    "description",
    "niches",
    "keywords",
    "platforms",
    "target",
    "creator_filters",
    "deliverables",
    "usage_rights",
    "timeline",
    "revision_rounds",
    "budget_usd",
    "fee_range_usd",
    "creators_wanted",
    "payment_terms_days",
    "exclude_brands",
    "exclude_creators",
    "embedding",
    "similar_to",
    "diversity",
    "status",
];

/// The brief fields whose absence makes a brief *incomplete*, in contract order.
pub const COMPLETENESS_FIELDS: [&str; 5] = [
    "deliverables",
    "usage_rights",
    "timeline",
    "revision_rounds",
    "payment_terms_days",
];

struct V<'a> {
    problems: Vec<FieldProblem>,
    _m: std::marker::PhantomData<&'a ()>,
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(57).collect::<String>())
    } else {
        s
    }
}

impl<'a> V<'a> {
    fn err(&mut self, path: impl Into<String>, problem: impl Into<String>) {
        self.problems.push(FieldProblem {
            path: path.into(),
            problem: problem.into(),
        });
    }

    fn unknown_fields(&mut self, obj: &Map<String, Value>, allowed: &[&str], prefix: &str) {
        for k in obj.keys() {
            if !allowed.contains(&k.as_str()) {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                self.err(
                    path,
                    format!("unknown field (allowed here: {})", allowed.join(", ")),
                );
            }
        }
    }

    fn object<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            other => {
                self.err(path, format!("must be an object, got {}", show(other)));
                None
            }
        }
    }

    fn string(&mut self, v: &Value, path: &str) -> Option<String> {
        match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::String(_) => {
                self.err(path, "must not be empty");
                None
            }
            other => {
                self.err(path, format!("must be a string, got {}", show(other)));
                None
            }
        }
    }

    fn id(&mut self, v: &Value, path: &str) -> Option<String> {
        let s = self.string(v, path)?;
        if is_valid_id(&s) {
            Some(s)
        } else {
            self.err(
                path,
                format!("{s:?} is not an id (1-64 characters of A-Z a-z 0-9 . _ -)"),
            );
            None
        }
    }

    fn number(&mut self, v: &Value, path: &str) -> Option<f64> {
        match v.as_f64() {
            Some(x) if x.is_finite() => Some(x),
            _ => {
                self.err(path, format!("must be a number, got {}", show(v)));
                None
            }
        }
    }

    /// A number >= 0 (an amount of money, a rate).
    fn non_negative(&mut self, v: &Value, path: &str) -> Option<f64> {
        let x = self.number(v, path)?;
        if x < 0.0 {
            self.err(path, format!("must be >= 0, got {x}"));
            return None;
        }
        Some(x)
    }

    fn share(&mut self, v: &Value, path: &str) -> Option<f32> {
        self.share64(v, path).map(|x| x as f32)
    }

    /// A share kept at 64 bits (a hard-rule bound).
    fn share64(&mut self, v: &Value, path: &str) -> Option<f64> {
        let x = self.number(v, path)?;
        if !(0.0..=1.0).contains(&x) {
            self.err(path, format!("must be a share in [0, 1], got {x}"));
            return None;
        }
        Some(x)
    }

    fn uint(&mut self, v: &Value, path: &str, max: u64) -> Option<u64> {
        let ok = match v {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            }),
            _ => None,
        };
        match ok {
            Some(x) if x <= max => Some(x),
            Some(_) => {
                // The number as written: a float past u64 saturated above.
                self.err(path, format!("must be at most {max}, got {}", show(v)));
                None
            }
            None => {
                self.err(
                    path,
                    format!("must be a non-negative integer, got {}", show(v)),
                );
                None
            }
        }
    }

    fn bool(&mut self, v: &Value, path: &str) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            other => {
                self.err(path, format!("must be true or false, got {}", show(other)));
                None
            }
        }
    }

    fn array<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v Vec<Value>> {
        match v {
            Value::Array(a) => Some(a),
            other => {
                self.err(path, format!("must be an array, got {}", show(other)));
                None
            }
        }
    }

    fn strings(&mut self, v: &Value, path: &str) -> Option<Vec<String>> {
        let a = self.array(v, path)?;
        let mut out = Vec::with_capacity(a.len());
        let mut ok = true;
        for (i, x) in a.iter().enumerate() {
            match self.string(x, &format!("{path}[{i}]")) {
                Some(s) => out.push(s),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn date(&mut self, v: &Value, path: &str) -> Option<i32> {
        let s = self.string(v, path)?;
        let d = parse_date(&s);
        if d.is_none() {
            self.err(path, format!("{s:?} is not a date (YYYY-MM-DD)"));
        }
        d
    }

    fn share_map(
        &mut self,
        v: &Value,
        path: &str,
        key_ok: &dyn Fn(&str) -> Result<(), String>,
    ) -> Option<Vec<(String, f32)>> {
        let m = self.object(v, path)?;
        let mut out = Vec::new();
        let mut ok = true;
        let mut sum = 0.0f64;
        for (k, x) in m {
            let p = format!("{path}.{k}");
            if let Err(e) = key_ok(k) {
                self.err(&p, e);
                ok = false;
                continue;
            }
            match self.share64(x, &p) {
                Some(s) => {
                    // The sum of the values as written (f64), not of their
                    // f32 roundings: 0.6 + 0.41 is 1.01, within the
                    // contract's allowance, while 0.6f32 + 0.41f32 is not.
                    sum += s;
                    out.push((k.clone(), s as f32));
                }
                None => ok = false,
            }
        }
        if sum > 1.0 + crate::schema::SHARE_SUM_TOLERANCE + 1e-9 {
            self.err(path, format!("shares sum to {sum:.3}, more than 1"));
            ok = false;
        }
        ok.then_some(out)
    }
}

fn country_key(k: &str) -> Result<(), String> {
    if is_country(k) {
        Ok(())
    } else {
        Err("unknown country (ISO 3166-1 alpha-2, upper case)".to_string())
    }
}

fn age_key(k: &str) -> Result<(), String> {
    age_bucket_index(k).map(|_| ()).ok_or_else(|| {
        format!(
            "unknown age bucket (one of {})",
            crate::schema::AGE_BUCKETS.join(", ")
        )
    })
}

impl CampaignBrief {
    /// Validates a brief given as the contract's JSON object.
    pub fn from_json(v: &Value, ctx: &BriefContext<'_>) -> Result<CampaignBrief, BriefErrors> {
        let mut c = V {
            problems: Vec::new(),
            _m: std::marker::PhantomData,
        };
        let Some(obj) = c.object(v, "$") else {
            return Err(BriefErrors(c.problems));
        };
        c.unknown_fields(obj, TOP_FIELDS, "");
        let get = |k: &str| obj.get(k).filter(|x| !x.is_null());
        let required = |c: &mut V, k: &str| {
            let x = get(k);
            if x.is_none() {
                c.err(k, "is required");
            }
            x
        };
        let campaign_id = required(&mut c, "campaign_id").and_then(|x| c.id(x, "campaign_id"));
        let org_id = required(&mut c, "org_id").and_then(|x| c.id(x, "org_id"));
        let brand = required(&mut c, "brand").and_then(|x| c.string(x, "brand"));
        let title = required(&mut c, "title").and_then(|x| c.string(x, "title"));
        let budget = required(&mut c, "budget_usd").and_then(|x| c.non_negative(x, "budget_usd"));
        let wanted = required(&mut c, "creators_wanted")
            .and_then(|x| c.uint(x, "creators_wanted", MAX_CREATORS_WANTED));
        if wanted == Some(0) {
            c.err("creators_wanted", "must be at least 1");
        }
        let description = get("description").and_then(|x| c.string(x, "description"));
        let niches = get("niches")
            .and_then(|x| c.strings(x, "niches"))
            .map(|v| v.into_iter().map(|s| s.to_lowercase()).collect::<Vec<_>>())
            .unwrap_or_default();
        let keywords = get("keywords")
            .and_then(|x| c.strings(x, "keywords"))
            .unwrap_or_default();
        let platforms = get("platforms").and_then(|x| {
            let a = c.array(x, "platforms")?;
            if a.is_empty() {
                c.err("platforms", "must not be empty (omit it for no constraint)");
                return None;
            }
            let mut out = Vec::new();
            for (i, p) in a.iter().enumerate() {
                let path = format!("platforms[{i}]");
                if let Some(s) = c.string(p, &path) {
                    match Platform::parse(&s) {
                        Some(pl) => out.push(pl),
                        None => c.err(
                            path,
                            format!(
                                "{s:?} is not a platform (instagram, tiktok, youtube, twitch, x, other)"
                            ),
                        ),
                    }
                }
            }
            Some(out)
        });
        // target
        let mut target = Target {
            countries: None,
            languages: None,
            audience_countries: Vec::new(),
            audience_ages: None,
            audience_female: None,
        };
        if let Some(t) = get("target").and_then(|x| c.object(x, "target")) {
            c.unknown_fields(
                t,
                &[
                    "countries",
                    "languages",
                    "audience_countries",
                    "audience_ages",
                    "audience_female",
                ],
                "target",
            );
            let tget = |k: &str| t.get(k).filter(|x| !x.is_null());
            target.countries = tget("countries").and_then(|x| {
                let list = c.strings(x, "target.countries")?;
                if list.is_empty() {
                    c.err(
                        "target.countries",
                        "must not be empty (omit it for no constraint)",
                    );
                }
                for (i, s) in list.iter().enumerate() {
                    if !is_country(s) {
                        c.err(
                            format!("target.countries[{i}]"),
                            format!("{s:?}: unknown country (ISO 3166-1 alpha-2, upper case)"),
                        );
                    }
                }
                Some(list)
            });
            target.languages = tget("languages").and_then(|x| {
                let list = c.strings(x, "target.languages")?;
                if list.is_empty() {
                    c.err(
                        "target.languages",
                        "must not be empty (omit it for no constraint)",
                    );
                }
                for (i, s) in list.iter().enumerate() {
                    if !is_language(s) {
                        c.err(
                            format!("target.languages[{i}]"),
                            format!("{s:?}: unknown language (ISO 639-1, lower case)"),
                        );
                    }
                }
                Some(list)
            });
            if let Some(x) = tget("audience_countries") {
                if let Some(m) = c.share_map(x, "target.audience_countries", &country_key) {
                    target.audience_countries = m;
                }
            }
            if let Some(x) = tget("audience_ages") {
                if let Some(m) = c.share_map(x, "target.audience_ages", &age_key) {
                    let mut ages = [0.0f32; 5];
                    for (k, s) in m {
                        if let Some(i) = age_bucket_index(&k) {
                            ages[i] = s;
                        }
                    }
                    target.audience_ages = Some(ages);
                }
            }
            target.audience_female =
                tget("audience_female").and_then(|x| c.share(x, "target.audience_female"));
        }
        // creator filters
        let mut filters = CreatorFilters::default();
        if let Some(f) = get("creator_filters").and_then(|x| c.object(x, "creator_filters")) {
            c.unknown_fields(
                f,
                &[
                    "followers_min",
                    "followers_max",
                    "min_engagement_rate",
                    "min_audience_quality",
                ],
                "creator_filters",
            );
            let fget = |k: &str| f.get(k).filter(|x| !x.is_null());
            filters.followers_min = fget("followers_min")
                .and_then(|x| c.uint(x, "creator_filters.followers_min", u64::MAX));
            filters.followers_max = fget("followers_max")
                .and_then(|x| c.uint(x, "creator_filters.followers_max", u64::MAX));
            if let (Some(a), Some(b)) = (filters.followers_min, filters.followers_max) {
                if a > b {
                    c.err(
                        "creator_filters.followers_min",
                        format!("{a} is more than followers_max {b}"),
                    );
                }
            }
            filters.min_engagement_rate = fget("min_engagement_rate")
                // A rate, not a share: engagements can exceed followers.
                .and_then(|x| c.non_negative(x, "creator_filters.min_engagement_rate"));
            filters.min_audience_quality = fget("min_audience_quality")
                .and_then(|x| c.share64(x, "creator_filters.min_audience_quality"));
        }
        // deliverables
        let deliverables = get("deliverables").and_then(|x| {
            let a = c.array(x, "deliverables")?;
            let mut out = Vec::new();
            for (i, d) in a.iter().enumerate() {
                let p = format!("deliverables[{i}]");
                let Some(o) = c.object(d, &p) else { continue };
                c.unknown_fields(o, &["type", "count", "specs"], &p);
                let kind = match o.get("type") {
                    None | Some(Value::Null) => {
                        c.err(format!("{p}.type"), "is required");
                        None
                    }
                    Some(t) => c.string(t, &format!("{p}.type")).and_then(|s| {
                        let k = Deliverable::parse(&s);
                        if k.is_none() {
                            c.err(
                                format!("{p}.type"),
                                format!("{s:?} is not a deliverable (post, reel, story, video, short, stream)"),
                            );
                        }
                        k
                    }),
                };
                let count = match o.get("count") {
                    None | Some(Value::Null) => Some(1),
                    Some(n) => c.uint(n, &format!("{p}.count"), u32::MAX as u64).map(|n| n as u32),
                };
                if count == Some(0) {
                    c.err(format!("{p}.count"), "must be at least 1");
                }
                let specs = o
                    .get("specs")
                    .filter(|x| !x.is_null())
                    .and_then(|s| c.string(s, &format!("{p}.specs")));
                if let (Some(kind), Some(count)) = (kind, count) {
                    out.push(DeliverableSpec { kind, count, specs });
                }
            }
            Some(out)
        });
        let usage_rights = get("usage_rights").and_then(|x| {
            let o = c.object(x, "usage_rights")?;
            c.unknown_fields(o, &["days", "paid_usage", "channels"], "usage_rights");
            let days = o
                .get("days")
                .filter(|x| !x.is_null())
                .and_then(|d| c.uint(d, "usage_rights.days", u32::MAX as u64))
                .map(|d| d as u32);
            let paid_usage = o
                .get("paid_usage")
                .filter(|x| !x.is_null())
                .and_then(|b| c.bool(b, "usage_rights.paid_usage"))
                .unwrap_or(false);
            let channels = o
                .get("channels")
                .filter(|x| !x.is_null())
                .and_then(|a| c.strings(a, "usage_rights.channels"))
                .unwrap_or_default();
            Some(UsageRights {
                days,
                paid_usage,
                channels,
            })
        });
        let timeline = get("timeline").and_then(|x| {
            let o = c.object(x, "timeline")?;
            c.unknown_fields(o, &["content_due", "post_from", "post_until"], "timeline");
            let mut d = |k: &str| {
                o.get(k)
                    .filter(|x| !x.is_null())
                    .and_then(|v| c.date(v, &format!("timeline.{k}")))
            };
            let t = Timeline {
                content_due: d("content_due"),
                post_from: d("post_from"),
                post_until: d("post_until"),
            };
            if let (Some(a), Some(b)) = (t.post_from, t.post_until) {
                if a > b {
                    c.err("timeline.post_from", "is after timeline.post_until");
                }
            }
            if let (Some(a), Some(b)) = (t.content_due, t.post_until) {
                if a > b {
                    c.err("timeline.content_due", "is after timeline.post_until");
                }
            }
            Some(t)
        });
        let revision_rounds = get("revision_rounds")
            .and_then(|x| c.uint(x, "revision_rounds", u32::MAX as u64))
            .map(|x| x as u32);
        let fee_range_usd = get("fee_range_usd").and_then(|x| {
            let a = c.array(x, "fee_range_usd")?;
            if a.len() != 2 {
                c.err(
                    "fee_range_usd",
                    format!("must be [min, max], got {} values", a.len()),
                );
                return None;
            }
            let lo = c.non_negative(&a[0], "fee_range_usd[0]");
            let hi = c.non_negative(&a[1], "fee_range_usd[1]");
            let (lo, hi) = (lo?, hi?);
            if lo > hi {
                c.err("fee_range_usd", format!("min {lo} is more than max {hi}"));
                return None;
            }
            Some((lo, hi))
        });
        let payment_terms_days = get("payment_terms_days")
            .and_then(|x| c.uint(x, "payment_terms_days", u32::MAX as u64))
            .map(|x| x as u32);
        let exclude_brands = get("exclude_brands")
            .and_then(|x| c.strings(x, "exclude_brands"))
            .map(|v| v.into_iter().map(|s| s.to_lowercase()).collect())
            .unwrap_or_default();
        let exclude_creators = get("exclude_creators")
            .and_then(|x| {
                let a = c.array(x, "exclude_creators")?;
                let mut out = Vec::new();
                for (i, s) in a.iter().enumerate() {
                    if let Some(id) = c.id(s, &format!("exclude_creators[{i}]")) {
                        out.push(id);
                    }
                }
                Some(out)
            })
            .unwrap_or_default();
        let embedding = get("embedding").and_then(|x| {
            let a = c.array(x, "embedding")?;
            if !ctx.user_vectors {
                c.err(
                    "embedding",
                    "the creators of this snapshot carry no embedding, so a brief embedding cannot be compared: omit it and the engine derives the brief's vector",
                );
                return None;
            }
            if a.len() != ctx.vector_dim {
                c.err(
                    "embedding",
                    format!(
                        "has {} values but the creators' embeddings have {}",
                        a.len(),
                        ctx.vector_dim
                    ),
                );
                return None;
            }
            let mut out = Vec::with_capacity(a.len());
            for (i, n) in a.iter().enumerate() {
                out.push(c.number(n, &format!("embedding[{i}]"))? as f32);
            }
            Some(out)
        });
        let similar_to = get("similar_to")
            .and_then(|x| {
                let a = c.array(x, "similar_to")?;
                let mut out = Vec::new();
                for (i, s) in a.iter().enumerate() {
                    let p = format!("similar_to[{i}]");
                    if let Some(id) = c.id(s, &p) {
                        if ctx.creators.is_some_and(|m| !m.contains_key(&id)) {
                            c.err(p, format!("{id:?}: no such creator in the snapshot"));
                        } else {
                            out.push(id);
                        }
                    }
                }
                Some(out)
            })
            .unwrap_or_default();
        let mut diversity = Diversity::default();
        if let Some(d) = get("diversity").and_then(|x| c.object(x, "diversity")) {
            c.unknown_fields(
                d,
                &[
                    "max_share_per_niche",
                    "max_share_per_country",
                    "max_share_per_tier",
                ],
                "diversity",
            );
            let mut s = |k: &str| {
                d.get(k)
                    .filter(|x| !x.is_null())
                    .and_then(|v| c.share64(v, &format!("diversity.{k}")))
            };
            diversity.max_share_per_niche = s("max_share_per_niche");
            diversity.max_share_per_country = s("max_share_per_country");
            diversity.max_share_per_tier = s("max_share_per_tier");
        }
        let status = match get("status") {
            None => Some(CampaignStatus::Open),
            Some(x) => match c.string(x, "status").as_deref() {
                Some("open") => Some(CampaignStatus::Open),
                Some("paused") => Some(CampaignStatus::Paused),
                Some("closed") => Some(CampaignStatus::Closed),
                Some(other) => {
                    c.err("status", format!("{other:?} is not open, paused or closed"));
                    None
                }
                None => None,
            },
        };
        if !c.problems.is_empty() {
            return Err(BriefErrors(c.problems));
        }
        let (
            Some(campaign_id),
            Some(org_id),
            Some(brand),
            Some(title),
            Some(budget_usd),
            Some(wanted),
            Some(status),
        ) = (campaign_id, org_id, brand, title, budget, wanted, status)
        else {
            return Err(BriefErrors(vec![FieldProblem {
                path: "$".into(),
                problem: "incomplete brief".into(),
            }]));
        };
        let query_vector = match &embedding {
            Some(e) => {
                let mut q = e.clone();
                normalize(&mut q);
                q
            }
            // The engine's derived vectors live in their own space: with
            // the user's embeddings, the brief's niches place it instead.
            None if ctx.user_vectors => ctx
                .user_space
                .map(|s| s.user_space_vector(&niches))
                .unwrap_or_default(),
            None => derive_brief_vector(&BriefFeatures {
                niches: &niches,
                keywords: &keywords,
                title: &title,
                description: description.as_deref(),
                audience_countries: &target.audience_countries,
                countries: target.countries.as_deref().unwrap_or(&[]),
                audience_ages: target.audience_ages.as_ref(),
            }),
        };
        let mut phrases: Vec<(String, f32)> = keywords.iter().map(|k| (k.clone(), 1.5)).collect();
        phrases.push((title.clone(), 0.7));
        if let Some(d) = &description {
            phrases.push((d.clone(), 1.0));
        }
        let text_query = TextQuery {
            phrases,
            niches: niches.clone(),
        };
        Ok(CampaignBrief {
            campaign_id,
            org_id,
            brand,
            title,
            description,
            niches,
            keywords,
            platforms,
            target,
            filters,
            deliverables,
            usage_rights,
            timeline,
            revision_rounds,
            budget_usd,
            fee_range_usd,
            creators_wanted: wanted as u32,
            payment_terms_days,
            exclude_brands,
            exclude_creators,
            embedding,
            similar_to,
            diversity,
            status,
            query_vector,
            text_query,
        })
    }

    /// The completeness fields this brief lacks, in contract order.
    pub fn missing(&self) -> Vec<&'static str> {
        let present = [
            self.deliverables.as_ref().is_some_and(|d| !d.is_empty()),
            self.usage_rights.is_some(),
            self.timeline.is_some(),
            self.revision_rounds.is_some(),
            self.payment_terms_days.is_some(),
        ];
        COMPLETENESS_FIELDS
            .iter()
            .zip(present)
            .filter(|(_, p)| !p)
            .map(|(f, _)| *f)
            .collect()
    }

    /// Budget in cents, rounded down (never more than the marketer gave).
    pub fn budget_cents(&self) -> u64 {
        crate::pricing::cents_at_most(self.budget_usd)
    }

    /// The niches the brief targets, as a set.
    pub fn niche_set(&self) -> BTreeSet<&str> {
        self.niches.iter().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> BriefContext<'static> {
        BriefContext {
            vector_dim: 64,
            user_vectors: false,
            creators: None,
            user_space: None,
        }
    }

    #[test]
    fn contract_example_is_valid_and_complete() {
        let v = json!({
          "campaign_id": "cmp-2026-spring-01", "org_id": "acme-agency", "brand": "Acme Oats",
          "title": "Spring breakfast launch", "description": "Short-form recipes featuring our new oat milk",
          "niches": ["vegan-food", "fitness"], "keywords": ["oat milk", "breakfast", "plant based"],
          "platforms": ["instagram", "tiktok"],
          "target": {"countries": ["US", "CA"], "languages": ["en"],
                     "audience_countries": {"US": 0.6, "CA": 0.2},
                     "audience_ages": {"18-24": 0.4, "25-34": 0.4}, "audience_female": 0.6},
          "creator_filters": {"followers_min": 2000, "followers_max": 100000,
                              "min_engagement_rate": 0.02, "min_audience_quality": 0.8},
          "deliverables": [{"type": "reel", "count": 1, "specs": "30-60 s, vertical, recipe"}],
          "usage_rights": {"days": 90, "paid_usage": true, "channels": ["organic", "paid_social"]},
          "timeline": {"content_due": "2026-12-10", "post_from": "2026-12-15", "post_until": "2026-12-31"},
          "revision_rounds": 2, "budget_usd": 60000, "fee_range_usd": [150, 1500],
          "creators_wanted": 300, "payment_terms_days": 30,
          "exclude_brands": ["Rival Oats"], "exclude_creators": []
        });
        let b = CampaignBrief::from_json(&v, &ctx()).unwrap();
        assert_eq!(b.creators_wanted, 300);
        assert_eq!(b.exclude_brands, vec!["rival oats"]);
        assert!(b.missing().is_empty());
        assert_eq!(b.budget_cents(), 6_000_000);
        assert_eq!(b.query_vector.len(), 64);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let v = json!({
          "campaign_id": "bad id!", "brand": "", "title": "t", "budget_usd": -5,
          "creators_wanted": 0, "platfroms": ["tiktok"],
          "target": {"countries": ["us"], "audience_countries": {"XX": 0.5, "US": 0.7, "CA": 0.6}},
          "creator_filters": {"followers_min": 10, "followers_max": 5},
          "fee_range_usd": [500, 100], "timeline": {"post_from": "2026-13-01"},
          "embedding": [0.1, 0.2]
        });
        let errs = CampaignBrief::from_json(&v, &ctx()).unwrap_err().0;
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        for p in [
            "campaign_id",
            "org_id",
            "brand",
            "budget_usd",
            "creators_wanted",
            "platfroms",
            "target.countries[0]",
            "target.audience_countries.XX",
            "target.audience_countries",
            "creator_filters.followers_min",
            "fee_range_usd",
            "timeline.post_from",
            "embedding",
        ] {
            assert!(paths.contains(&p), "missing {p} in {errs:?}");
        }
    }

    #[test]
    fn a_number_past_the_limit_is_quoted_as_sent() {
        for (sent, shown) in [
            (json!(4_294_967_296u64), "4294967296"),
            (
                serde_json::from_str("99999999999999999999").unwrap(),
                "1e+20",
            ),
        ] {
            let v = json!({
              "campaign_id": "c", "org_id": "o", "brand": "b", "title": "t",
              "budget_usd": 5, "creators_wanted": sent,
            });
            let errs = CampaignBrief::from_json(&v, &ctx()).unwrap_err().0;
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert_eq!(errs[0].path, "creators_wanted");
            assert_eq!(
                errs[0].problem,
                format!("must be at most 4294967295, got {shown}")
            );
        }
    }

    #[test]
    fn what_the_contract_allows_is_accepted() {
        // No upper limits the contract does not set; a budget of 0; an
        // engagement-rate floor above 1 (engagements can exceed
        // followers); shares summing to exactly 1.01 (0.6 + 0.41, whose
        // f32 roundings sum to a hair more).
        let v = json!({
          "campaign_id": "c", "org_id": "o", "brand": "b", "title": "t",
          "budget_usd": 0, "creators_wanted": 50_000,
          "revision_rounds": 500, "payment_terms_days": 5000,
          "usage_rights": {"days": 50_000, "paid_usage": false},
          "deliverables": [{"type": "post", "count": 2000}],
          "creator_filters": {"min_engagement_rate": 1.5},
          "target": {"audience_countries": {"US": 0.6, "CA": 0.41},
                     "audience_ages": {"18-24": 0.61, "25-34": 0.4}}
        });
        let b = CampaignBrief::from_json(&v, &ctx()).unwrap();
        assert_eq!((b.budget_cents(), b.creators_wanted), (0, 50_000));
        assert_eq!(b.filters.min_engagement_rate, Some(1.5));
        // Beyond the allowance, still an error naming the map.
        let mut v = v;
        v["target"]["audience_countries"] = json!({"US": 0.6, "CA": 0.42});
        let errs = CampaignBrief::from_json(&v, &ctx()).unwrap_err().0;
        assert_eq!(errs[0].path, "target.audience_countries");
        v["target"]["audience_countries"] = json!({});
        v["creator_filters"]["min_engagement_rate"] = json!(-0.1);
        let errs = CampaignBrief::from_json(&v, &ctx()).unwrap_err().0;
        assert_eq!(errs[0].path, "creator_filters.min_engagement_rate");
    }

    #[test]
    fn incomplete_brief_lists_what_is_missing() {
        let v = json!({"campaign_id": "c1", "org_id": "o1", "brand": "B", "title": "T",
                       "budget_usd": 1000, "creators_wanted": 5, "revision_rounds": 1});
        let b = CampaignBrief::from_json(&v, &ctx()).unwrap();
        assert_eq!(
            b.missing(),
            vec![
                "deliverables",
                "usage_rights",
                "timeline",
                "payment_terms_days"
            ]
        );
    }

    #[test]
    fn nested_unknown_fields_are_errors() {
        let v = json!({"campaign_id": "c1", "org_id": "o1", "brand": "B", "title": "T",
                       "budget_usd": 1000, "creators_wanted": 5,
                       "creator_filters": {"min_followers": 1000}});
        let errs = CampaignBrief::from_json(&v, &ctx()).unwrap_err().0;
        assert_eq!(errs[0].path, "creator_filters.min_followers");
    }
}
