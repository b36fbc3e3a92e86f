//! The raw, validated history kept inside every snapshot (performance and
//! payments), so that an incremental load appends to it without re-reading
//! the source files of earlier loads.
//!
//! Invariant: `from_batch(to_batch(rows)) == rows`.

use arrow_array::RecordBatch;
use cloutdesk_engine::arrow_io::{
    f64_col, i64_col, opt_bool_col, opt_i64_col, opt_str_col_of, opt_u32_col, opt_u64_col,
    str_col_of, u64_col, Columns,
};
use cloutdesk_engine::schema::Deliverable;
use cloutdesk_engine::storage::StorageError;
use cloutdesk_engine::table::batch;

use crate::records::{PaymentRecord, PerformanceRecord};

pub const TABLE_PERFORMANCE: &str = "performance";
pub const TABLE_PAYMENTS: &str = "payments";

pub fn performance_to_batch(rows: &[PerformanceRecord]) -> Result<RecordBatch, StorageError> {
    // Strings go straight from the records into the Arrow buffers (a
    // cloned column first was a third copy at the load's memory peak).
    batch(
        TABLE_PERFORMANCE,
        vec![
            (
                "creator_id",
                str_col_of(rows.iter().map(|r| r.creator_id.as_str())),
            ),
            (
                "campaign_id",
                str_col_of(rows.iter().map(|r| r.campaign_id.as_str())),
            ),
            ("brand", str_col_of(rows.iter().map(|r| r.brand.as_str()))),
            (
                "niche",
                opt_str_col_of(rows.iter().map(|r| r.niche.as_deref())),
            ),
            (
                "posted_at",
                i64_col(&rows.iter().map(|r| r.posted_at).collect::<Vec<_>>()),
            ),
            (
                "deliverable",
                opt_str_col_of(rows.iter().map(|r| r.deliverable.map(|d| d.as_str()))),
            ),
            (
                "fee_usd",
                f64_col(&rows.iter().map(|r| r.fee_usd).collect::<Vec<_>>()),
            ),
            (
                "impressions",
                opt_u64_col(&rows.iter().map(|r| r.impressions).collect::<Vec<_>>()),
            ),
            (
                "engagements",
                u64_col(&rows.iter().map(|r| r.engagements).collect::<Vec<_>>()),
            ),
            (
                "clicks",
                opt_u64_col(&rows.iter().map(|r| r.clicks).collect::<Vec<_>>()),
            ),
            (
                "conversions",
                opt_u64_col(&rows.iter().map(|r| r.conversions).collect::<Vec<_>>()),
            ),
            (
                "on_time",
                opt_bool_col(&rows.iter().map(|r| r.on_time).collect::<Vec<_>>()),
            ),
            (
                "revisions",
                opt_u32_col(&rows.iter().map(|r| r.revisions).collect::<Vec<_>>()),
            ),
        ],
    )
}

pub fn performance_from_batch(b: &RecordBatch) -> Result<Vec<PerformanceRecord>, StorageError> {
    let c = Columns {
        table: TABLE_PERFORMANCE,
        batch: b,
    };
    let creator_id = c.strings("creator_id")?;
    let campaign_id = c.strings("campaign_id")?;
    let brand = c.strings("brand")?;
    let niche = c.opt_strings("niche")?;
    let posted_at = c.i64s("posted_at")?;
    let deliverable = c.opt_strings("deliverable")?;
    let fee = c.f64s("fee_usd")?;
    let impressions = c.opt_u64s("impressions")?;
    let engagements = c.u64s("engagements")?;
    let clicks = c.opt_u64s("clicks")?;
    let conversions = c.opt_u64s("conversions")?;
    let on_time = c.opt_bools("on_time")?;
    let revisions = c.opt_u32s("revisions")?;
    Ok((0..b.num_rows())
        .map(|i| PerformanceRecord {
            creator_id: creator_id[i].clone(),
            campaign_id: campaign_id[i].clone(),
            brand: brand[i].clone(),
            niche: niche[i].clone(),
            posted_at: posted_at[i],
            deliverable: deliverable[i].as_deref().and_then(Deliverable::parse),
            fee_usd: fee[i],
            impressions: impressions[i],
            engagements: engagements[i],
            clicks: clicks[i],
            conversions: conversions[i],
            on_time: on_time[i],
            revisions: revisions[i],
        })
        .collect())
}

pub fn payments_to_batch(rows: &[PaymentRecord]) -> Result<RecordBatch, StorageError> {
    batch(
        TABLE_PAYMENTS,
        vec![
            ("org_id", str_col_of(rows.iter().map(|r| r.org_id.as_str()))),
            (
                "creator_id",
                str_col_of(rows.iter().map(|r| r.creator_id.as_str())),
            ),
            (
                "campaign_id",
                str_col_of(rows.iter().map(|r| r.campaign_id.as_str())),
            ),
            (
                "amount_usd",
                f64_col(&rows.iter().map(|r| r.amount_usd).collect::<Vec<_>>()),
            ),
            (
                "invoiced_at",
                i64_col(
                    &rows
                        .iter()
                        .map(|r| r.invoiced_at as i64)
                        .collect::<Vec<_>>(),
                ),
            ),
            (
                "paid_at",
                opt_i64_col(
                    &rows
                        .iter()
                        .map(|r| r.paid_at.map(i64::from))
                        .collect::<Vec<_>>(),
                ),
            ),
        ],
    )
}

pub fn payments_from_batch(b: &RecordBatch) -> Result<Vec<PaymentRecord>, StorageError> {
    let c = Columns {
        table: TABLE_PAYMENTS,
        batch: b,
    };
    let org = c.strings("org_id")?;
    let creator = c.strings("creator_id")?;
    let campaign = c.strings("campaign_id")?;
    let amount = c.f64s("amount_usd")?;
    let inv = c.i64s("invoiced_at")?;
    let paid = c.opt_i64s("paid_at")?;
    Ok((0..b.num_rows())
        .map(|i| PaymentRecord {
            org_id: org[i].clone(),
            creator_id: creator[i].clone(),
            campaign_id: campaign[i].clone(),
            amount_usd: amount[i],
            invoiced_at: inv[i] as i32,
            paid_at: paid[i].map(|p| p as i32),
        })
        .collect())
}
