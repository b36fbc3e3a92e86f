//! Per-creator, per-niche and per-org features with polars (lazy).
//!
//! polars stays inside this module: inputs are plain column vectors, outputs
//! are plain vectors keyed by creator ordinal / org, converted once into the
//! engine's tables by the pipeline. Invariant: the engagement rate is the
//! contract's — the median over a creator's performance rows of
//! `engagements / followers` (rows of creators with 0 followers are left
//! out: the rate is undefined, not zero).

use polars::prelude::{
    col, lit, DataFrame, DataType, Expr, IntoLazy, NamedFrom, QuantileMethod, Series,
};

use crate::error::IngestError;

/// The median of a column, by group: the middle value, or for an even
/// count the mean of the two middle values as `(a + b) / 2` — the exact
/// mean, rounded once. polars' `median()` interpolates (`a + (b - a) *
/// 0.5`), which can land one ulp off: 0.01 and 0.03 gave
/// 0.019999999999999997, and a creator whose median engagement rate is
/// exactly a brief's `min_engagement_rate` failed the rule.
fn median(name: &str) -> Expr {
    median_of(col(name))
}

fn median_of(e: Expr) -> Expr {
    e.quantile(lit(0.5), QuantileMethod::Midpoint)
}

/// The history columns the transforms read (one row per performance row).
#[derive(Debug, Default)]
pub struct HistoryColumns {
    pub ordinal: Vec<u32>,
    pub followers: Vec<u64>,
    pub niche: Vec<Option<String>>,
    pub posted_day: Vec<i32>,
    pub fee_usd: Vec<f64>,
    pub engagements: Vec<u64>,
    pub on_time: Vec<Option<bool>>,
    pub revisions: Vec<Option<u32>>,
}

/// Features per creator ordinal (index = ordinal, `n` rows).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreatorFeatures {
    /// 64-bit: a hard rule compares it (`min_engagement_rate`).
    pub engagement_rate: Vec<Option<f64>>,
    pub post_count: Vec<u32>,
    pub cost_per_engagement: Vec<Option<f32>>,
    pub median_fee_usd: Vec<Option<f64>>,
    pub on_time_count: Vec<u32>,
    pub on_time_known: Vec<u32>,
    pub on_time_share: Vec<Option<f32>>,
    pub mean_revisions: Vec<Option<f32>>,
    pub last_posted_days: Vec<Option<f32>>,
}

/// (ordinal, niche, engagement rate, posts), sorted by ordinal then niche.
pub type NicheRows = Vec<(u32, String, f32, u32)>;

/// Payment columns (one row per invoice).
#[derive(Debug, Default)]
pub struct PaymentColumns {
    pub org_id: Vec<String>,
    pub invoiced_day: Vec<i32>,
    pub paid_day: Vec<Option<i32>>,
}

/// (org, invoices, median days to pay, share unpaid after 60 days).
pub type OrgRows = Vec<(String, u32, Option<f32>, Option<f32>)>;

fn pe(e: polars::prelude::PolarsError) -> IngestError {
    IngestError::Internal(format!("polars: {e}"))
}

fn history_frame(h: &HistoryColumns) -> Result<DataFrame, IngestError> {
    let n = h.ordinal.len();
    let er: Vec<Option<f64>> = h
        .engagements
        .iter()
        .zip(&h.followers)
        .map(|(&e, &f)| (f > 0).then(|| e as f64 / f as f64))
        .collect();
    DataFrame::new(
        n,
        vec![
            Series::new("ordinal".into(), &h.ordinal).into(),
            Series::new("niche".into(), &h.niche).into(),
            Series::new("posted_day".into(), &h.posted_day).into(),
            Series::new("fee".into(), &h.fee_usd).into(),
            Series::new(
                "eng".into(),
                h.engagements.iter().map(|&e| e as f64).collect::<Vec<_>>(),
            )
            .into(),
            Series::new("er".into(), er).into(),
            Series::new("on_time".into(), &h.on_time).into(),
            Series::new("revisions".into(), &h.revisions).into(),
        ],
    )
    .map_err(pe)
}

/// Aggregates the history into per-creator features for `n` creators,
/// measuring recency at `as_of_day`.
pub fn creator_features(
    h: &HistoryColumns,
    n: usize,
    as_of_day: i32,
) -> Result<CreatorFeatures, IngestError> {
    let df = history_frame(h)?;
    let agg = df
        .lazy()
        .group_by([col("ordinal")])
        .agg([
            median("er").alias("er"),
            col("fee").count().alias("posts"),
            col("fee").sum().alias("fee_sum"),
            col("eng").sum().alias("eng_sum"),
            median("fee").alias("fee_median"),
            col("on_time")
                .cast(DataType::UInt32)
                .sum()
                .alias("on_time_count"),
            col("on_time").count().alias("on_time_known"),
            col("revisions")
                .cast(DataType::Float64)
                .mean()
                .alias("revisions_mean"),
            col("posted_day").max().alias("last_day"),
        ])
        .with_column((lit(as_of_day) - col("last_day")).alias("since"))
        .collect()
        .map_err(pe)?;
    let mut f = CreatorFeatures {
        engagement_rate: vec![None; n],
        post_count: vec![0; n],
        cost_per_engagement: vec![None; n],
        median_fee_usd: vec![None; n],
        on_time_count: vec![0; n],
        on_time_known: vec![0; n],
        on_time_share: vec![None; n],
        mean_revisions: vec![None; n],
        last_posted_days: vec![None; n],
    };
    let get = |name: &str| -> Result<Series, IngestError> {
        Ok(agg
            .column(name)
            .map_err(pe)?
            .as_materialized_series()
            .rechunk())
    };
    let ords = get("ordinal")?;
    let ords = ords.u32().map_err(pe)?;
    let as_f64 = |name: &str| -> Result<Vec<Option<f64>>, IngestError> {
        let s = get(name)?.cast(&DataType::Float64).map_err(pe)?;
        let ca = s.f64().map_err(pe)?;
        Ok((0..ca.len()).map(|k| ca.get(k)).collect())
    };
    let er = as_f64("er")?;
    let posts = as_f64("posts")?;
    let fee_sum = as_f64("fee_sum")?;
    let eng_sum = as_f64("eng_sum")?;
    let fee_median = as_f64("fee_median")?;
    let otc = as_f64("on_time_count")?;
    let otk = as_f64("on_time_known")?;
    let rev = as_f64("revisions_mean")?;
    let since = as_f64("since")?;
    for k in 0..ords.len() {
        let o = ords.get(k);
        let Some(o) = o else { continue };
        let o = o as usize;
        if o >= n {
            return Err(IngestError::Internal(format!("ordinal {o} >= {n}")));
        }
        f.engagement_rate[o] = er[k];
        f.post_count[o] = posts[k].unwrap_or(0.0) as u32;
        f.cost_per_engagement[o] = match (fee_sum[k], eng_sum[k]) {
            (Some(fs), Some(es)) if es > 0.0 => Some((fs / es) as f32),
            _ => None,
        };
        f.median_fee_usd[o] = fee_median[k];
        f.on_time_count[o] = otc[k].unwrap_or(0.0) as u32;
        f.on_time_known[o] = otk[k].unwrap_or(0.0) as u32;
        f.on_time_share[o] =
            (f.on_time_known[o] > 0).then(|| f.on_time_count[o] as f32 / f.on_time_known[o] as f32);
        f.mean_revisions[o] = rev[k].map(|x| x as f32);
        f.last_posted_days[o] = since[k].map(|x| x as f32);
    }
    Ok(f)
}

/// Engagement rate per creator and niche (rows with a niche only).
pub fn niche_features(h: &HistoryColumns) -> Result<NicheRows, IngestError> {
    let df = history_frame(h)?;
    let agg = df
        .lazy()
        .filter(col("niche").is_not_null())
        .group_by([col("ordinal"), col("niche")])
        .agg([median("er").alias("er"), col("fee").count().alias("posts")])
        .filter(col("er").is_not_null())
        .sort(["ordinal", "niche"], Default::default())
        .collect()
        .map_err(pe)?;
    let s = |name: &str| -> Result<Series, IngestError> {
        Ok(agg
            .column(name)
            .map_err(pe)?
            .as_materialized_series()
            .rechunk())
    };
    let ords = s("ordinal")?;
    let niches = s("niche")?;
    let er = s("er")?.cast(&DataType::Float64).map_err(pe)?;
    let posts = s("posts")?.cast(&DataType::UInt32).map_err(pe)?;
    let (ords, niches, er, posts) = (
        ords.u32().map_err(pe)?,
        niches.str().map_err(pe)?,
        er.f64().map_err(pe)?,
        posts.u32().map_err(pe)?,
    );
    let mut out = Vec::with_capacity(agg.height());
    for k in 0..agg.height() {
        if let (Some(o), Some(ni), Some(e), Some(p)) =
            (ords.get(k), niches.get(k), er.get(k), posts.get(k))
        {
            out.push((o, ni.to_string(), e as f32, p));
        }
    }
    Ok(out)
}

/// The brand payment record per org: invoices, median days from invoice to
/// payment (paid invoices), and the share of invoices old enough to judge
/// (invoiced >= 60 days before `as_of_day`) that were not paid within 60 days.
/// A payment before its invoice (a prepayment) counts as 0 days, so the
/// median is never below 0.
pub fn org_features(p: &PaymentColumns, as_of_day: i32) -> Result<OrgRows, IngestError> {
    let n = p.org_id.len();
    let days: Vec<Option<i32>> = p
        .paid_day
        .iter()
        .zip(&p.invoiced_day)
        .map(|(pd, &inv)| pd.map(|d| (d - inv).max(0)))
        .collect();
    let judged: Vec<bool> = p
        .invoiced_day
        .iter()
        .map(|&d| as_of_day - d >= 60)
        .collect();
    let late: Vec<bool> = days
        .iter()
        .zip(&judged)
        .map(|(d, &j)| j && d.is_none_or(|d| d > 60))
        .collect();
    let df = DataFrame::new(
        n,
        vec![
            Series::new("org".into(), &p.org_id).into(),
            Series::new("days".into(), days).into(),
            Series::new("judged".into(), judged).into(),
            Series::new("late".into(), late).into(),
        ],
    )
    .map_err(pe)?;
    let agg = df
        .lazy()
        .group_by([col("org")])
        .agg([
            col("judged").count().alias("invoices"),
            median_of(col("days").cast(DataType::Float64)).alias("median_days"),
            col("judged").cast(DataType::UInt32).sum().alias("judged_n"),
            col("late").cast(DataType::UInt32).sum().alias("late_n"),
        ])
        .sort(["org"], Default::default())
        .collect()
        .map_err(pe)?;
    let s = |name: &str| -> Result<Series, IngestError> {
        Ok(agg
            .column(name)
            .map_err(pe)?
            .as_materialized_series()
            .rechunk())
    };
    let org = s("org")?;
    let inv = s("invoices")?.cast(&DataType::UInt32).map_err(pe)?;
    let med = s("median_days")?;
    let jn = s("judged_n")?.cast(&DataType::UInt32).map_err(pe)?;
    let ln = s("late_n")?.cast(&DataType::UInt32).map_err(pe)?;
    let (org, inv, med, jn, ln) = (
        org.str().map_err(pe)?,
        inv.u32().map_err(pe)?,
        med.f64().map_err(pe)?,
        jn.u32().map_err(pe)?,
        ln.u32().map_err(pe)?,
    );
    let mut out = Vec::with_capacity(agg.height());
    for k in 0..agg.height() {
        let Some(o) = org.get(k) else { continue };
        let judged = jn.get(k).unwrap_or(0);
        let unpaid = (judged > 0).then(|| ln.get(k).unwrap_or(0) as f32 / judged as f32);
        out.push((
            o.to_string(),
            inv.get(k).unwrap_or(0),
            med.get(k).map(|x| x as f32),
            unpaid,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engagement_rate_is_the_median_of_per_post_rates() {
        let h = HistoryColumns {
            ordinal: vec![0, 0, 0, 1, 2],
            followers: vec![1000, 1000, 1000, 500, 0],
            niche: vec![
                Some("fitness".into()),
                Some("fitness".into()),
                None,
                None,
                None,
            ],
            posted_day: vec![100, 110, 120, 90, 80],
            fee_usd: vec![10.0, 20.0, 30.0, 5.0, 1.0],
            engagements: vec![10, 50, 30, 25, 3],
            on_time: vec![Some(true), Some(false), None, Some(true), None],
            revisions: vec![Some(1), Some(3), None, None, None],
        };
        let f = creator_features(&h, 4, 130).unwrap();
        assert_eq!(f.engagement_rate[0], Some(0.03));
        assert_eq!(f.engagement_rate[1], Some(0.05));
        assert_eq!(f.engagement_rate[2], None, "0 followers: undefined");
        assert_eq!(f.post_count[0], 3);
        assert_eq!(f.post_count[3], 0);
        assert_eq!(f.cost_per_engagement[0], Some(60.0 / 90.0));
        assert_eq!(f.median_fee_usd[0], Some(20.0));
        assert_eq!((f.on_time_count[0], f.on_time_known[0]), (1, 2));
        assert_eq!(f.mean_revisions[0], Some(2.0));
        assert_eq!(f.last_posted_days[0], Some(10.0));
        let ns = niche_features(&h).unwrap();
        assert_eq!(ns, vec![(0, "fitness".to_string(), 0.03, 2)]);
    }

    #[test]
    fn an_even_count_median_is_the_exact_mean_of_the_middle_two() {
        // Rates 0.01 and 0.03 (and 0.01, 0.03 in a niche): the median is
        // 0.02 exactly, so a brief's `min_engagement_rate: 0.02` passes
        // it (interpolating as a + (b - a) / 2 gave 0.019999999999999997).
        let h = HistoryColumns {
            ordinal: vec![0, 0, 1, 1, 1, 1],
            followers: vec![10_000, 10_000, 1000, 1000, 1000, 1000],
            niche: vec![
                Some("food".into()),
                Some("food".into()),
                None,
                None,
                None,
                None,
            ],
            posted_day: vec![100; 6],
            fee_usd: vec![0.1, 0.2, 10.0, 10.0, 10.0, 10.0],
            engagements: vec![100, 300, 10, 76, 1, 1000],
            on_time: vec![None; 6],
            revisions: vec![None; 6],
        };
        let f = creator_features(&h, 2, 130).unwrap();
        assert_eq!(f.engagement_rate[0], Some(0.02));
        assert_eq!(f.engagement_rate[0], Some((0.01 + 0.03) / 2.0));
        assert_eq!(f.engagement_rate[1], Some((0.01 + 0.076) / 2.0));
        assert_eq!(f.median_fee_usd[0], Some((0.1 + 0.2) / 2.0));
        let ns = niche_features(&h).unwrap();
        assert_eq!(ns, vec![(0, "food".to_string(), 0.02, 2)]);
    }

    #[test]
    fn payment_record_per_org() {
        let p = PaymentColumns {
            org_id: vec!["a".into(), "a".into(), "a".into(), "b".into()],
            invoiced_day: vec![0, 10, 95, 0],
            paid_day: vec![Some(30), None, None, Some(90)],
        };
        let o = org_features(&p, 100).unwrap();
        assert_eq!(o[0].0, "a");
        assert_eq!(o[0].1, 3);
        assert_eq!(o[0].2, Some(30.0));
        // a: invoices 0 and 10 are old enough; 10 is unpaid -> 1/2.
        assert_eq!(o[0].3, Some(0.5));
        assert_eq!(o[1], ("b".to_string(), 1, Some(90.0), Some(1.0)));
    }

    #[test]
    fn a_prepayment_counts_as_zero_days() {
        // Paid 30 and 10 days before the invoice, and 4 days after it: the
        // median of the clamped delays (0, 0, 4) is 0, never negative.
        let p = PaymentColumns {
            org_id: vec!["a".into(), "a".into(), "a".into(), "b".into()],
            invoiced_day: vec![100, 100, 100, 100],
            paid_day: vec![Some(70), Some(90), Some(104), Some(50)],
        };
        let o = org_features(&p, 200).unwrap();
        assert_eq!(o[0], ("a".to_string(), 3, Some(0.0), Some(0.0)));
        assert_eq!(o[1], ("b".to_string(), 1, Some(0.0), Some(0.0)));
    }
}
