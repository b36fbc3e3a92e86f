//! The snapshot's tables as plain column vectors, and their Arrow form.
//!
//! Invariant: row `i` of every per-creator column describes the creator
//! with ordinal `i`; all columns have `len()` rows. `None` means unknown.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema};

use crate::arrow_io::*;
use crate::schema::{creator_niches as cn, creators as c, orgs as o, Platform};
use crate::storage::StorageError;

/// Profiles plus the features derived from history, one row per creator.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreatorTable {
    pub creator_id: Vec<String>,
    pub handle: Vec<String>,
    pub platform: Vec<Platform>,
    pub bio: Vec<Option<String>>,
    pub niches: Vec<Option<Vec<String>>>,
    pub country: Vec<Option<String>>,
    pub languages: Vec<Option<Vec<String>>>,
    pub followers: Vec<u64>,
    pub avg_views: Vec<Option<u64>>,
    pub audience_countries: Vec<Option<Vec<(String, f32)>>>,
    pub audience_ages: Vec<Option<[f32; 5]>>,
    pub audience_female: Vec<Option<f32>>,
    /// 64-bit: the hard rule `min_audience_quality` compares it exactly.
    pub audience_quality: Vec<Option<f64>>,
    pub rate_usd: Vec<Option<f64>>,
    pub min_fee_usd: Vec<Option<f64>>,
    pub accepts_usage_rights: Vec<Option<bool>>,
    pub capacity: Vec<Option<u32>>,
    pub brands_worked_with: Vec<Option<Vec<String>>>,
    // --- derived from performance history
    /// 64-bit: the hard rule `min_engagement_rate` compares it exactly.
    pub engagement_rate: Vec<Option<f64>>,
    pub post_count: Vec<u32>,
    pub cost_per_engagement: Vec<Option<f32>>,
    pub median_fee_usd: Vec<Option<f64>>,
    pub on_time_count: Vec<u32>,
    pub on_time_known: Vec<u32>,
    pub on_time_share: Vec<Option<f32>>,
    pub mean_revisions: Vec<Option<f32>>,
    pub last_posted_days: Vec<Option<f32>>,
    pub history_brands: Vec<Option<Vec<String>>>,
    // --- derived pricing
    pub planned_fee_usd: Vec<f64>,
    pub fee_source: Vec<u8>,
}

/// What a served feed re-checks of a creator against the data as it is
/// now (`rerank::stale_reason`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CreatorTerms {
    pub min_fee_usd: Option<f64>,
    pub capacity: Option<u32>,
    pub accepts_usage_rights: Option<bool>,
}

impl CreatorTable {
    pub fn len(&self) -> usize {
        self.creator_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.creator_id.is_empty()
    }

    /// The table as one Arrow batch, consuming it column by column: each
    /// column is converted, then its source is freed, and after each
    /// column of strings the freed heap pages go back to the system
    /// ([`crate::mem::release_free_memory`]). At 1M creators the load's
    /// memory peak was both forms side by side; now it is about the larger.
    /// The string columns are converted in parallel (at most one per pool
    /// thread in both forms at once).
    pub fn into_batch(self) -> Result<RecordBatch, StorageError> {
        use arrow_array::ArrayRef;
        use rayon::prelude::*;
        // Converts a column of strings, frees it and returns its pages.
        fn strings<T>(v: T, f: impl FnOnce(&T) -> ArrayRef) -> ArrayRef {
            let a = f(&v);
            drop(v);
            crate::mem::release_free_memory();
            a
        }
        let t = self;
        type Task = Box<dyn FnOnce() -> ArrayRef + Send>;
        // The largest first, so the last to finish is a small one.
        let tasks: Vec<(usize, Task)> = vec![
            (3, Box::new(move || strings(t.bio, |v| opt_str_col(v)))),
            (0, Box::new(move || strings(t.creator_id, |v| str_col(v)))),
            (1, Box::new(move || strings(t.handle, |v| str_col(v)))),
            (
                9,
                Box::new(move || strings(t.audience_countries, |v| share_map_col(v))),
            ),
            (
                17,
                Box::new(move || strings(t.brands_worked_with, |v| list_str_col(v))),
            ),
            (
                27,
                Box::new(move || strings(t.history_brands, |v| list_str_col(v))),
            ),
            (4, Box::new(move || strings(t.niches, |v| list_str_col(v)))),
            (
                6,
                Box::new(move || strings(t.languages, |v| list_str_col(v))),
            ),
            (5, Box::new(move || strings(t.country, |v| opt_str_col(v)))),
        ];
        let converted: Vec<(usize, ArrayRef)> = tasks
            .into_par_iter()
            .with_max_len(1)
            .map(|(k, f)| (k, f()))
            .collect();
        let mut text: Vec<Option<ArrayRef>> = vec![None; 28];
        for (k, a) in converted {
            text[k] = Some(a);
        }
        let mut take = |k: usize| text[k].take().expect("converted above");
        let platform: Vec<u8> = t.platform.iter().map(|p| p.code()).collect();
        let cols: Vec<(&str, ArrayRef)> = vec![
            (c::CREATOR_ID, take(0)),
            (c::HANDLE, take(1)),
            (c::PLATFORM, u8_col(&platform)),
            (c::BIO, take(3)),
            (c::NICHES, take(4)),
            (c::COUNTRY, take(5)),
            (c::LANGUAGES, take(6)),
            (c::FOLLOWERS, u64_col(&t.followers)),
            (c::AVG_VIEWS, opt_u64_col(&t.avg_views)),
            (c::AUDIENCE_COUNTRIES, take(9)),
            (c::AUDIENCE_AGES, fixed_f32_col(&t.audience_ages)),
            (c::AUDIENCE_FEMALE, opt_f32_col(&t.audience_female)),
            (c::AUDIENCE_QUALITY, opt_f64_col(&t.audience_quality)),
            (c::RATE_USD, opt_f64_col(&t.rate_usd)),
            (c::MIN_FEE_USD, opt_f64_col(&t.min_fee_usd)),
            (
                c::ACCEPTS_USAGE_RIGHTS,
                opt_bool_col(&t.accepts_usage_rights),
            ),
            (c::CAPACITY, opt_u32_col(&t.capacity)),
            (c::BRANDS_WORKED_WITH, take(17)),
            (c::ENGAGEMENT_RATE, opt_f64_col(&t.engagement_rate)),
            (c::POST_COUNT, u32_col(&t.post_count)),
            (c::COST_PER_ENGAGEMENT, opt_f32_col(&t.cost_per_engagement)),
            (c::MEDIAN_FEE_USD, opt_f64_col(&t.median_fee_usd)),
            (c::ON_TIME_COUNT, u32_col(&t.on_time_count)),
            (c::ON_TIME_KNOWN, u32_col(&t.on_time_known)),
            (c::ON_TIME_SHARE, opt_f32_col(&t.on_time_share)),
            (c::MEAN_REVISIONS, opt_f32_col(&t.mean_revisions)),
            (c::LAST_POSTED_DAYS, opt_f32_col(&t.last_posted_days)),
            (c::HISTORY_BRANDS, take(27)),
            (c::PLANNED_FEE_USD, f64_col(&t.planned_fee_usd)),
            (c::FEE_SOURCE, u8_col(&t.fee_source)),
        ];
        batch("creators", cols)
    }

    /// A creator's current terms, read from the creators table's batch
    /// without loading the rest of the table; `None`: no such creator.
    pub fn terms_in_batch(
        b: &RecordBatch,
        creator_id: &str,
    ) -> Result<Option<CreatorTerms>, StorageError> {
        use arrow_array::Array;
        let r = Columns {
            table: "creators",
            batch: b,
        };
        // Found in the Arrow column itself: no copy of a million ids.
        let ids: &arrow_array::StringArray = r.typed(c::CREATOR_ID)?;
        let Some(k) = (0..ids.len()).find(|&k| ids.is_valid(k) && ids.value(k) == creator_id)
        else {
            return Ok(None);
        };
        let fees: &arrow_array::Float64Array = r.typed(c::MIN_FEE_USD)?;
        let caps: &arrow_array::UInt32Array = r.typed(c::CAPACITY)?;
        let usage: &arrow_array::BooleanArray = r.typed(c::ACCEPTS_USAGE_RIGHTS)?;
        Ok(Some(CreatorTerms {
            min_fee_usd: fees.is_valid(k).then(|| fees.value(k)),
            capacity: caps.is_valid(k).then(|| caps.value(k)),
            accepts_usage_rights: usage.is_valid(k).then(|| usage.value(k)),
        }))
    }

    /// Creator `o`'s current terms.
    pub fn terms(&self, o: usize) -> CreatorTerms {
        CreatorTerms {
            min_fee_usd: self.min_fee_usd[o],
            capacity: self.capacity[o],
            accepts_usage_rights: self.accepts_usage_rights[o],
        }
    }

    pub fn from_batch(b: &RecordBatch) -> Result<CreatorTable, StorageError> {
        let r = Columns {
            table: "creators",
            batch: b,
        };
        let platform = r
            .u8s(c::PLATFORM)?
            .into_iter()
            .map(|code| {
                Platform::from_code(code).ok_or_else(|| StorageError::Schema {
                    table: "creators".into(),
                    message: format!("unknown platform code {code}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CreatorTable {
            creator_id: r.strings(c::CREATOR_ID)?,
            handle: r.strings(c::HANDLE)?,
            platform,
            bio: r.opt_strings(c::BIO)?,
            niches: r.list_strs(c::NICHES)?,
            country: r.opt_strings(c::COUNTRY)?,
            languages: r.list_strs(c::LANGUAGES)?,
            followers: r.u64s(c::FOLLOWERS)?,
            avg_views: r.opt_u64s(c::AVG_VIEWS)?,
            audience_countries: r.share_maps(c::AUDIENCE_COUNTRIES)?,
            audience_ages: r.fixed_f32::<5>(c::AUDIENCE_AGES)?,
            audience_female: r.opt_f32s(c::AUDIENCE_FEMALE)?,
            audience_quality: r.opt_f64s_or_f32s(c::AUDIENCE_QUALITY)?,
            rate_usd: r.opt_f64s(c::RATE_USD)?,
            min_fee_usd: r.opt_f64s(c::MIN_FEE_USD)?,
            accepts_usage_rights: r.opt_bools(c::ACCEPTS_USAGE_RIGHTS)?,
            capacity: r.opt_u32s(c::CAPACITY)?,
            brands_worked_with: r.list_strs(c::BRANDS_WORKED_WITH)?,
            engagement_rate: r.opt_f64s_or_f32s(c::ENGAGEMENT_RATE)?,
            post_count: r.u32s(c::POST_COUNT)?,
            cost_per_engagement: r.opt_f32s(c::COST_PER_ENGAGEMENT)?,
            median_fee_usd: r.opt_f64s(c::MEDIAN_FEE_USD)?,
            on_time_count: r.u32s(c::ON_TIME_COUNT)?,
            on_time_known: r.u32s(c::ON_TIME_KNOWN)?,
            on_time_share: r.opt_f32s(c::ON_TIME_SHARE)?,
            mean_revisions: r.opt_f32s(c::MEAN_REVISIONS)?,
            last_posted_days: r.opt_f32s(c::LAST_POSTED_DAYS)?,
            history_brands: r.list_strs(c::HISTORY_BRANDS)?,
            planned_fee_usd: r.f64s(c::PLANNED_FEE_USD)?,
            fee_source: r.u8s(c::FEE_SOURCE)?,
        })
    }
}

/// Engagement rate per creator and niche (only niches with history).
/// Sorted by (ordinal, niche).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NicheStats {
    pub ordinal: Vec<u32>,
    pub niche: Vec<String>,
    pub engagement_rate: Vec<f32>,
    pub posts: Vec<u32>,
}

impl NicheStats {
    pub fn to_batch(&self) -> Result<RecordBatch, StorageError> {
        batch(
            "creator_niches",
            vec![
                (cn::ORDINAL, u32_col(&self.ordinal)),
                (cn::NICHE, str_col(&self.niche)),
                (cn::ENGAGEMENT_RATE, f32_col(&self.engagement_rate)),
                (cn::POSTS, u32_col(&self.posts)),
            ],
        )
    }

    pub fn from_batch(b: &RecordBatch) -> Result<NicheStats, StorageError> {
        let r = Columns {
            table: "creator_niches",
            batch: b,
        };
        Ok(NicheStats {
            ordinal: r.u32s(cn::ORDINAL)?,
            niche: r.strings(cn::NICHE)?,
            engagement_rate: r.f32s(cn::ENGAGEMENT_RATE)?,
            posts: r.u32s(cn::POSTS)?,
        })
    }
}

/// Payment record per paying org.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgTable {
    pub org_id: Vec<String>,
    pub invoices: Vec<u32>,
    pub median_days_to_pay: Vec<Option<f32>>,
    pub unpaid_after_60_share: Vec<Option<f32>>,
}

impl OrgTable {
    pub fn to_batch(&self) -> Result<RecordBatch, StorageError> {
        batch(
            "orgs",
            vec![
                (o::ORG_ID, str_col(&self.org_id)),
                (o::INVOICES, u32_col(&self.invoices)),
                (o::MEDIAN_DAYS_TO_PAY, opt_f32_col(&self.median_days_to_pay)),
                (
                    o::UNPAID_AFTER_60_SHARE,
                    opt_f32_col(&self.unpaid_after_60_share),
                ),
            ],
        )
    }

    pub fn from_batch(b: &RecordBatch) -> Result<OrgTable, StorageError> {
        let r = Columns {
            table: "orgs",
            batch: b,
        };
        Ok(OrgTable {
            org_id: r.strings(o::ORG_ID)?,
            invoices: r.u32s(o::INVOICES)?,
            median_days_to_pay: r.opt_f32s(o::MEDIAN_DAYS_TO_PAY)?,
            unpaid_after_60_share: r.opt_f32s(o::UNPAID_AFTER_60_SHARE)?,
        })
    }

    pub fn find(&self, org_id: &str) -> Option<usize> {
        self.org_id.iter().position(|o| o == org_id)
    }
}

/// Creator vectors: a flat row-major `len x dim` matrix of unit vectors
/// (or zero rows when nothing is known), and where they came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VectorTable {
    pub dim: usize,
    pub data: Vec<f32>,
    /// true: the contract's `embedding` column; false: derived (see `vector`).
    pub user_supplied: bool,
}

impl VectorTable {
    #[inline]
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn to_batch(&self) -> Result<RecordBatch, StorageError> {
        self.clone().into_batch()
    }

    /// [`VectorTable::to_batch`], moving the matrix into the batch.
    pub fn into_batch(self) -> Result<RecordBatch, StorageError> {
        batch("vectors", vec![("vector", matrix_col(self.data, self.dim))])
    }

    pub fn from_batch(b: &RecordBatch, user_supplied: bool) -> Result<VectorTable, StorageError> {
        let r = Columns {
            table: "vectors",
            batch: b,
        };
        let (data, dim) = r.matrix("vector")?;
        Ok(VectorTable {
            dim,
            data,
            user_supplied,
        })
    }
}

/// A record batch of named columns (all nullable); a schema error names
/// `table`.
pub fn batch(
    table: &str,
    cols: Vec<(&str, arrow_array::ArrayRef)>,
) -> Result<RecordBatch, StorageError> {
    let fields: Vec<Field> = cols
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    RecordBatch::try_new(schema, cols.into_iter().map(|(_, a)| a).collect()).map_err(|e| {
        StorageError::Schema {
            table: table.to_string(),
            message: e.to_string(),
        }
    })
}

/// The Arrow type of a share-map column (for manifests and docs).
pub fn share_map_data_type() -> DataType {
    share_map_type()
}
