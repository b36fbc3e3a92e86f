//! Request and response bodies of the HTTP API, as typed structs that
//! serialize to the wire and describe themselves to the OpenAPI document.
//!
//! Invariant: the match result is produced by `crate::dto::MatchResultJson`
//! (the contract's shape); [`MatchResultDoc`] only documents that shape,
//! and the API tests check real responses against it.

use std::collections::BTreeMap;

use cloutdesk_engine::schema::{fee_source, AGE_BUCKETS};
use cloutdesk_engine::snapshot::Snapshot;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::campaigns::StoredCampaign;

/// A campaign brief in the contract's shape (docs/API.md and the data
/// contract list every field; unknown fields are rejected with 422).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({
    "campaign_id": "cmp-spring-01", "org_id": "acme", "brand": "Acme Oats",
    "title": "Spring breakfast launch", "budget_usd": 20000, "creators_wanted": 25,
    "niches": ["vegan-food", "fitness"], "platforms": ["instagram", "tiktok"],
    "target": {"countries": ["US", "CA"], "languages": ["en"]}
}))]
pub struct BriefDoc {
    pub campaign_id: String,
    pub org_id: String,
    pub brand: String,
    pub title: String,
    pub budget_usd: f64,
    pub creators_wanted: u32,
    pub description: Option<String>,
    pub niches: Option<Vec<String>>,
    pub keywords: Option<Vec<String>>,
    pub platforms: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub target: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub creator_filters: Option<Value>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub deliverables: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub usage_rights: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub timeline: Option<Value>,
    pub revision_rounds: Option<u32>,
    pub fee_range_usd: Option<Vec<f64>>,
    pub payment_terms_days: Option<u32>,
    pub exclude_brands: Option<Vec<String>>,
    pub exclude_creators: Option<Vec<String>>,
    pub embedding: Option<Vec<f32>>,
    pub similar_to: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub diversity: Option<Value>,
    /// `open` (default), `paused` or `closed`.
    pub status: Option<String>,
}

/// Optional overrides for matching a stored campaign.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchOverrides {
    /// Replaces the brief's `creators_wanted` for this match only.
    pub creators_wanted: Option<u64>,
    /// Replaces the brief's `budget_usd` for this match only.
    pub budget_usd: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SelectedDoc {
    pub rank: u32,
    pub creator_id: String,
    pub score: f64,
    pub fee_usd: f64,
    pub expected_engagements: f64,
    /// Signal name -> value in [0, 1] (`text`, `semantic`, `audience_fit`,
    /// `performance`, `reliability`, `price_fit`, `niche`, `lookalike`).
    pub signals: BTreeMap<String, f64>,
    pub reasons: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotalsDoc {
    pub creators: u64,
    pub fee_usd: f64,
    pub expected_engagements: f64,
    pub estimated_unique_reach: f64,
    pub budget_usd: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsDoc {
    pub eligible: u64,
    pub candidates: u64,
    pub took_ms: f64,
    /// How candidates were gathered (`exact`, `candidates`, ...).
    pub mode: String,
}

/// The contract's match result.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatchResultDoc {
    pub campaign_id: String,
    /// Id of the snapshot ranked against.
    pub snapshot: String,
    pub selected: Vec<SelectedDoc>,
    pub totals: TotalsDoc,
    /// Completeness fields the brief lacks.
    pub brief_missing: Vec<String>,
    pub stats: StatsDoc,
}

/// A stored campaign.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignDoc {
    pub org_id: String,
    pub campaign_id: String,
    /// 1 when created, +1 on each replace.
    pub revision: u64,
    /// Unix seconds of the last create or replace.
    pub updated_at: i64,
    pub status: String,
    #[schema(value_type = Object)]
    pub brief: Value,
}

impl From<StoredCampaign> for CampaignDoc {
    fn from(c: StoredCampaign) -> Self {
        CampaignDoc {
            status: c.status().to_string(),
            org_id: c.org_id,
            campaign_id: c.campaign_id,
            revision: c.revision,
            updated_at: c.updated_at,
            brief: c.brief,
        }
    }
}

/// Answer to a create or replace.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignSaved {
    /// True when the campaign is new (201), false when replaced (200).
    pub created: bool,
    /// Completeness fields the brief lacks.
    pub brief_missing: Vec<String>,
    pub campaign: CampaignDoc,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignSummary {
    pub campaign_id: String,
    pub org_id: String,
    pub title: Option<String>,
    pub brand: Option<String>,
    pub status: String,
    pub revision: u64,
    pub updated_at: i64,
}

impl From<&StoredCampaign> for CampaignSummary {
    fn from(c: &StoredCampaign) -> Self {
        let s = |k: &str| c.brief.get(k).and_then(Value::as_str).map(String::from);
        CampaignSummary {
            campaign_id: c.campaign_id.clone(),
            org_id: c.org_id.clone(),
            title: s("title"),
            brand: s("brand"),
            status: c.status().to_string(),
            revision: c.revision,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignList {
    pub campaigns: Vec<CampaignSummary>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrgQuery {
    /// The org to act for: admin keys must give it; marketer keys may omit
    /// it (their own org).
    pub org: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeclineQuery {
    /// The org whose campaign is declined (a campaign is org + id). When
    /// omitted: the org of the creator's feed item with this campaign id;
    /// when the feed has none, every org's campaign of that id; when it has
    /// several, the request is refused and must name one.
    pub org: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// See [`OrgQuery`].
    pub org: Option<String>,
    /// Page size (default and cap in the config).
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Derived features of a creator, computed by the ingest from their history.
#[derive(Debug, Serialize, ToSchema)]
pub struct DerivedFeatures {
    /// Median over performance rows of engagements / followers.
    pub engagement_rate: Option<f64>,
    pub post_count: u32,
    pub cost_per_engagement: Option<f32>,
    pub median_fee_usd: Option<f64>,
    pub on_time_share: Option<f32>,
    pub mean_revisions: Option<f32>,
    pub last_posted_days: Option<f32>,
    pub history_brands: Vec<String>,
    /// The fee the engine plans to offer.
    pub planned_fee_usd: f64,
    /// Where the planned fee comes from: `rate_card`, `history` or `size_band`.
    pub fee_source: String,
}

/// A creator's profile (the contract's fields) and derived features.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatorProfile {
    pub snapshot: String,
    pub creator_id: String,
    pub handle: String,
    pub platform: String,
    pub bio: Option<String>,
    pub niches: Vec<String>,
    pub country: Option<String>,
    pub languages: Vec<String>,
    pub followers: u64,
    pub avg_views: Option<u64>,
    pub audience_countries: Option<BTreeMap<String, f32>>,
    pub audience_ages: Option<BTreeMap<String, f32>>,
    pub audience_female: Option<f32>,
    pub audience_quality: Option<f64>,
    pub rate_usd: Option<f64>,
    pub min_fee_usd: Option<f64>,
    pub accepts_usage_rights: Option<bool>,
    pub capacity: Option<u32>,
    pub brands_worked_with: Vec<String>,
    pub derived: DerivedFeatures,
}

impl CreatorProfile {
    pub fn of(s: &Snapshot, i: usize) -> CreatorProfile {
        let c = &s.creators;
        CreatorProfile {
            snapshot: s.id.clone(),
            creator_id: c.creator_id[i].clone(),
            handle: c.handle[i].clone(),
            platform: c.platform[i].as_str().to_string(),
            bio: c.bio[i].clone(),
            niches: c.niches[i].clone().unwrap_or_default(),
            country: c.country[i].clone(),
            languages: c.languages[i].clone().unwrap_or_default(),
            followers: c.followers[i],
            avg_views: c.avg_views[i],
            audience_countries: c.audience_countries[i]
                .as_ref()
                .map(|m| m.iter().cloned().collect()),
            audience_ages: c.audience_ages[i].map(|a| {
                AGE_BUCKETS
                    .iter()
                    .zip(a)
                    .map(|(k, v)| (k.to_string(), v))
                    .collect()
            }),
            audience_female: c.audience_female[i],
            audience_quality: c.audience_quality[i],
            rate_usd: c.rate_usd[i],
            min_fee_usd: c.min_fee_usd[i],
            accepts_usage_rights: c.accepts_usage_rights[i],
            capacity: c.capacity[i],
            brands_worked_with: c.brands_worked_with[i].clone().unwrap_or_default(),
            derived: DerivedFeatures {
                engagement_rate: c.engagement_rate[i],
                post_count: c.post_count[i],
                cost_per_engagement: c.cost_per_engagement[i],
                median_fee_usd: c.median_fee_usd[i],
                on_time_share: c.on_time_share[i],
                mean_revisions: c.mean_revisions[i],
                last_posted_days: c.last_posted_days[i],
                history_brands: c.history_brands[i].clone().unwrap_or_default(),
                planned_fee_usd: c.planned_fee_usd[i],
                fee_source: match c.fee_source[i] {
                    fee_source::RATE_CARD => "rate_card",
                    fee_source::HISTORY => "history",
                    _ => "size_band",
                }
                .to_string(),
            },
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Free-text query (BM25 over bios and niches).
    pub q: Option<String>,
    /// Lookalikes: rank by closeness to this creator's vector.
    pub similar_to: Option<String>,
    /// Comma-separated platforms (`instagram,tiktok`).
    pub platform: Option<String>,
    /// Comma-separated ISO 3166-1 alpha-2 codes: the creator's country.
    pub country: Option<String>,
    /// Comma-separated ISO 639-1 codes: posts in at least one.
    pub language: Option<String>,
    /// Comma-separated niches: declares at least one.
    pub niche: Option<String>,
    pub followers_min: Option<u64>,
    pub followers_max: Option<u64>,
    pub min_engagement_rate: Option<f64>,
    pub min_audience_quality: Option<f64>,
    /// Page size (default and cap in the config).
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatorHit {
    pub creator_id: String,
    pub handle: String,
    pub platform: String,
    pub country: Option<String>,
    pub niches: Vec<String>,
    pub followers: u64,
    pub engagement_rate: Option<f64>,
    pub audience_quality: Option<f64>,
    pub planned_fee_usd: f64,
    /// BM25 score (`q`) or cosine similarity (`similar_to`); null when browsing.
    pub score: Option<f32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchPage {
    pub snapshot: String,
    /// `text`, `lookalike` or `browse` (largest audiences first).
    pub mode: String,
    /// Creators that pass the filters and match the query.
    pub total: u64,
    pub creators: Vec<CreatorHit>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VectorIndexDoc {
    pub kind: String,
    pub points: u64,
    pub recall_at_10: Option<f64>,
}

/// The served snapshot.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotInfo {
    pub id: String,
    pub version: u64,
    pub parent: Option<String>,
    pub created_at_unix: i64,
    /// Day recency and payment delays were measured at (YYYY-MM-DD).
    pub as_of: String,
    pub creators: u64,
    /// Rows per table.
    pub tables: BTreeMap<String, u64>,
    pub text_index: bool,
    pub vector_index: Option<VectorIndexDoc>,
    pub vector_dim: u64,
    pub vectors_user_supplied: bool,
    pub rejected_rows: u64,
}

impl SnapshotInfo {
    pub fn of(s: &Snapshot) -> SnapshotInfo {
        let m = &s.manifest;
        SnapshotInfo {
            id: s.id.clone(),
            version: m.version,
            parent: m.parent.clone(),
            created_at_unix: m.created_at_unix,
            as_of: cloutdesk_engine::schema::format_date(m.as_of_day),
            creators: s.len() as u64,
            tables: m.tables.iter().map(|(k, t)| (k.clone(), t.rows)).collect(),
            text_index: m.text_index.is_some(),
            vector_index: m.vector_index.as_ref().map(|v| VectorIndexDoc {
                kind: v.kind.clone(),
                points: v.points,
                recall_at_10: v.recall_at_10,
            }),
            vector_dim: m.vector_dim as u64,
            vectors_user_supplied: m.vectors_user_supplied,
            rejected_rows: m.rejected_rows,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IngestQuery {
    /// Publish nothing if any row is rejected.
    pub strict: Option<bool>,
    /// Day to measure recency and payment delays at (YYYY-MM-DD; default today).
    pub as_of: Option<String>,
}

/// `POST /v1/ingest` body: multipart/form-data with up to three file parts
/// named `creators`, `performance`, `payments`; each part's file name ends
/// in `.csv`, `.jsonl`/`.ndjson` or `.parquet`, which picks the format.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct IngestForm {
    #[schema(value_type = Option<String>, format = Binary)]
    pub creators: Option<Vec<u8>>,
    #[schema(value_type = Option<String>, format = Binary)]
    pub performance: Option<Vec<u8>>,
    #[schema(value_type = Option<String>, format = Binary)]
    pub payments: Option<Vec<u8>>,
}

/// Per-file figures of a load.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileReportDoc {
    pub path: String,
    pub format: String,
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_rejected: u64,
    pub duplicates: u64,
    pub added: u64,
    pub updated: u64,
}

/// The load report of an ingest (as `cloutdesk ingest --json` prints it).
#[derive(Debug, Serialize, ToSchema)]
pub struct LoadReportDoc {
    /// Id of the published (and now served) snapshot.
    pub snapshot: String,
    pub parent: Option<String>,
    pub creators_total: u64,
    pub performance_total: u64,
    pub payments_total: u64,
    pub creators: Option<FileReportDoc>,
    pub performance: Option<FileReportDoc>,
    pub payments: Option<FileReportDoc>,
    pub rejected_rows: u64,
    /// The first rejected rows (file, row, field, problem).
    pub rejects: Vec<Value>,
    pub rejects_file: Option<String>,
    pub vector_dim: u64,
    pub vectors_user_supplied: bool,
    pub vector_index: Option<Value>,
    pub vector_index_deferred: bool,
    /// `[stage, seconds]` pairs.
    pub timings: Vec<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    pub status: String,
    /// Id of the served snapshot.
    pub snapshot: String,
}
