//! The three contract tables (creators, performance, payments): their
//! fields, and the one row builder per table that every format shares.
//!
//! Invariant: `Table::build` is the only place a contract record is made
//! from cells; it checks every field of the row (one `Reject` per bad
//! field) and returns a record only when the whole row is valid.

use cloutdesk_engine::schema::{Deliverable, Platform, AGE_BUCKETS};

use super::value::{self, Cell};
use crate::records::{CreatorRecord, LoadedFile, PaymentRecord, PerformanceRecord, Reject};

/// How a field's values are written (CSV text, JSON value, Parquet type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    U64,
    U32,
    F64,
    F32,
    Bool,
    StrList,
    F32List,
    /// `key -> f32 share`
    ShareMap,
    /// Days since the epoch, written `YYYY-MM-DD`.
    Date,
    /// Seconds since the epoch, written RFC 3339 UTC.
    Timestamp,
}

/// One field of a contract table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldSpec {
    pub name: &'static str,
    pub required: bool,
    pub kind: Kind,
}

const fn req(name: &'static str, kind: Kind) -> FieldSpec {
    FieldSpec {
        name,
        required: true,
        kind,
    }
}

const fn opt(name: &'static str, kind: Kind) -> FieldSpec {
    FieldSpec {
        name,
        required: false,
        kind,
    }
}

/// One value of a record, as the writers see it (`Null`: unknown). Its
/// variant always matches the field's [`Kind`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Out<'r> {
    Null,
    Str(&'r str),
    U64(u64),
    U32(u32),
    F64(f64),
    F32(f32),
    Bool(bool),
    StrList(&'r [String]),
    F32List(&'r [f32]),
    ShareMap(Vec<(&'r str, f32)>),
    Date(i32),
    Timestamp(i64),
}

fn out_opt<'r, T>(v: &'r Option<T>, f: impl FnOnce(&'r T) -> Out<'r>) -> Out<'r> {
    v.as_ref().map_or(Out::Null, f)
}

/// A contract table: its fields in contract order, the row builder (read
/// side) and the record's values (write side).
pub(crate) trait Table {
    type Record: Send;
    /// The fields, in contract order; `build` gets one cell per field, in
    /// this order (`Cell::Missing` for an absent column or key), and `out`
    /// pushes one value per field, in this order.
    const FIELDS: &'static [FieldSpec];
    fn build(cells: &[Cell<'_>], ctx: &mut RowCtx<'_>) -> Option<Self::Record>;
    fn out<'r>(rec: &'r Self::Record, out: &mut Vec<Out<'r>>);
}

/// Collects one row's problems.
pub(crate) struct RowCtx<'l> {
    file: &'l str,
    row: usize,
    rejects: &'l mut Vec<Reject>,
    bad: bool,
}

impl RowCtx<'_> {
    fn reject(&mut self, field: &str, reason: String) {
        self.bad = true;
        // One entry per bad field: a field the reader already rejected
        // (a CSV cell that is not UTF-8) is not reported again as missing.
        if self
            .rejects
            .iter()
            .rev()
            .take_while(|r| r.row == self.row && r.file == self.file)
            .any(|r| r.field == field)
        {
            return;
        }
        self.rejects.push(Reject {
            file: self.file.to_string(),
            row: self.row,
            field: field.to_string(),
            reason,
        });
    }

    /// An optional field: `None` when unknown or invalid (then rejected).
    fn opt<T>(
        &mut self,
        field: &str,
        cell: &Cell<'_>,
        parse: impl FnOnce(&Cell<'_>) -> Result<T, String>,
    ) -> Option<T> {
        if *cell == Cell::Missing {
            return None;
        }
        match parse(cell) {
            Ok(v) => Some(v),
            Err(reason) => {
                self.reject(field, reason);
                None
            }
        }
    }

    /// A required field: `None` (and a reject) when unknown or invalid.
    fn req<T>(
        &mut self,
        field: &str,
        cell: &Cell<'_>,
        parse: impl FnOnce(&Cell<'_>) -> Result<T, String>,
    ) -> Option<T> {
        if *cell == Cell::Missing {
            self.reject(field, "is required but missing or empty".to_string());
            return None;
        }
        self.opt(field, cell, parse)
    }
}

/// Accumulates a file's landed rows and rejects.
pub(crate) struct Loader<R> {
    file: String,
    out: LoadedFile<R>,
}

impl<R> Loader<R> {
    pub(crate) fn new(file: String) -> Self {
        Loader {
            file,
            out: LoadedFile {
                rows: Vec::new(),
                rejects: Vec::new(),
                rows_read: 0,
            },
        }
    }

    /// A row that could not even be split into cells (ragged CSV row,
    /// malformed JSON line): one reject with a pseudo-field such as `<row>`.
    pub(crate) fn reject_row(&mut self, row: usize, field: &str, reason: String) {
        self.out.rows_read += 1;
        self.out.rejects.push(Reject {
            file: self.file.clone(),
            row,
            field: field.to_string(),
            reason,
        });
    }

    /// A rejected field found while extracting cells (e.g. a non-UTF-8 CSV
    /// cell); the row must then be passed to `row` with `already_bad`.
    pub(crate) fn reject_field(&mut self, row: usize, field: &str, reason: String) {
        self.out.rejects.push(Reject {
            file: self.file.clone(),
            row,
            field: field.to_string(),
            reason,
        });
    }

    /// Validates one row of cells (one per `T::FIELDS`, in order); it lands
    /// if every field is valid and `already_bad` is false.
    pub(crate) fn row<T: Table<Record = R>>(
        &mut self,
        row: usize,
        cells: &[Cell<'_>],
        already_bad: bool,
    ) {
        debug_assert_eq!(cells.len(), T::FIELDS.len());
        self.out.rows_read += 1;
        let mut ctx = RowCtx {
            file: &self.file,
            row,
            rejects: &mut self.out.rejects,
            bad: already_bad,
        };
        if let Some(rec) = T::build(cells, &mut ctx) {
            if !ctx.bad {
                self.out.rows.push((row, rec));
            }
        }
    }

    /// Appends what another loader of the same file read after this one.
    pub(crate) fn append(&mut self, later: LoadedFile<R>) {
        self.out.rows.extend(later.rows);
        self.out.rejects.extend(later.rejects);
        self.out.rows_read += later.rows_read;
    }

    pub(crate) fn finish(self) -> LoadedFile<R> {
        self.out
    }
}

/// The contract's `platform` spellings, for reasons.
const PLATFORMS: &str = "instagram, tiktok, youtube, twitch, x, other";
/// The contract's `deliverable` spellings, for reasons.
const DELIVERABLES: &str = "post, reel, story, video, short, stream";

/// The creators table.
pub(crate) struct Creators;

impl Table for Creators {
    type Record = CreatorRecord;
    const FIELDS: &'static [FieldSpec] = &[
        req("creator_id", Kind::Str),
        req("handle", Kind::Str),
        req("platform", Kind::Str),
        opt("bio", Kind::Str),
        opt("niches", Kind::StrList),
        opt("country", Kind::Str),
        opt("languages", Kind::StrList),
        req("followers", Kind::U64),
        opt("avg_views", Kind::U64),
        opt("audience_countries", Kind::ShareMap),
        opt("audience_ages", Kind::ShareMap),
        opt("audience_female", Kind::F32),
        opt("audience_quality", Kind::F64),
        opt("rate_usd", Kind::F64),
        opt("min_fee_usd", Kind::F64),
        opt("accepts_usage_rights", Kind::Bool),
        opt("capacity", Kind::U32),
        opt("brands_worked_with", Kind::StrList),
        opt("embedding", Kind::F32List),
    ];

    fn build(cells: &[Cell<'_>], x: &mut RowCtx<'_>) -> Option<CreatorRecord> {
        let [creator_id, handle, platform, bio, niches, country, languages, followers, avg_views, audience_countries, audience_ages, audience_female, audience_quality, rate_usd, min_fee_usd, accepts_usage_rights, capacity, brands_worked_with, embedding] =
            cells
        else {
            return None;
        };
        let creator_id = x.req("creator_id", creator_id, value::id);
        let handle = x.req("handle", handle, value::handle);
        let platform = x.req("platform", platform, |c| {
            value::enumerated(c, Platform::parse, PLATFORMS)
        });
        let bio = x.opt("bio", bio, value::bio);
        let niches = x.opt("niches", niches, value::niches);
        let country = x.opt("country", country, value::country);
        let languages = x.opt("languages", languages, value::languages);
        let followers = x.req("followers", followers, value::uint);
        let avg_views = x.opt("avg_views", avg_views, value::uint);
        let audience_countries = x.opt(
            "audience_countries",
            audience_countries,
            value::country_shares,
        );
        let audience_ages = x.opt("audience_ages", audience_ages, value::age_shares);
        let audience_female = x.opt("audience_female", audience_female, value::share);
        let audience_quality = x.opt("audience_quality", audience_quality, value::share64);
        let rate_usd = x.opt("rate_usd", rate_usd, value::money);
        let min_fee_usd = x.opt("min_fee_usd", min_fee_usd, value::money);
        let accepts_usage_rights =
            x.opt("accepts_usage_rights", accepts_usage_rights, value::boolean);
        let capacity = x.opt("capacity", capacity, value::uint32);
        let brands_worked_with = x.opt("brands_worked_with", brands_worked_with, value::brands);
        let embedding = x.opt("embedding", embedding, value::embedding);
        if x.bad {
            return None;
        }
        Some(CreatorRecord {
            creator_id: creator_id?,
            handle: handle?,
            platform: platform?,
            bio,
            niches,
            country,
            languages,
            followers: followers?,
            avg_views,
            audience_countries,
            audience_ages,
            audience_female,
            audience_quality,
            rate_usd,
            min_fee_usd,
            accepts_usage_rights,
            capacity,
            brands_worked_with,
            embedding,
        })
    }
    fn out<'r>(r: &'r CreatorRecord, o: &mut Vec<Out<'r>>) {
        o.extend([
            Out::Str(&r.creator_id),
            Out::Str(&r.handle),
            Out::Str(r.platform.as_str()),
            out_opt(&r.bio, |v| Out::Str(v)),
            out_opt(&r.niches, |v| Out::StrList(v)),
            out_opt(&r.country, |v| Out::Str(v)),
            out_opt(&r.languages, |v| Out::StrList(v)),
            Out::U64(r.followers),
            out_opt(&r.avg_views, |v| Out::U64(*v)),
            out_opt(&r.audience_countries, |v| {
                Out::ShareMap(v.iter().map(|(k, s)| (k.as_str(), *s)).collect())
            }),
            out_opt(&r.audience_ages, |v| {
                Out::ShareMap(
                    AGE_BUCKETS
                        .iter()
                        .zip(v)
                        .filter(|(_, s)| **s != 0.0)
                        .map(|(k, s)| (*k, *s))
                        .collect(),
                )
            }),
            out_opt(&r.audience_female, |v| Out::F32(*v)),
            out_opt(&r.audience_quality, |v| Out::F64(*v)),
            out_opt(&r.rate_usd, |v| Out::F64(*v)),
            out_opt(&r.min_fee_usd, |v| Out::F64(*v)),
            out_opt(&r.accepts_usage_rights, |v| Out::Bool(*v)),
            out_opt(&r.capacity, |v| Out::U32(*v)),
            out_opt(&r.brands_worked_with, |v| Out::StrList(v)),
            out_opt(&r.embedding, |v| Out::F32List(v)),
        ]);
    }
}

/// The performance table.
pub(crate) struct Performance;

impl Table for Performance {
    type Record = PerformanceRecord;
    const FIELDS: &'static [FieldSpec] = &[
        req("creator_id", Kind::Str),
        req("campaign_id", Kind::Str),
        req("brand", Kind::Str),
        opt("niche", Kind::Str),
        req("posted_at", Kind::Timestamp),
        opt("deliverable", Kind::Str),
        req("fee_usd", Kind::F64),
        opt("impressions", Kind::U64),
        req("engagements", Kind::U64),
        opt("clicks", Kind::U64),
        opt("conversions", Kind::U64),
        opt("on_time", Kind::Bool),
        opt("revisions", Kind::U32),
    ];

    fn build(cells: &[Cell<'_>], x: &mut RowCtx<'_>) -> Option<PerformanceRecord> {
        let [creator_id, campaign_id, brand, niche, posted_at, deliverable, fee_usd, impressions, engagements, clicks, conversions, on_time, revisions] =
            cells
        else {
            return None;
        };
        let creator_id = x.req("creator_id", creator_id, value::id);
        let campaign_id = x.req("campaign_id", campaign_id, value::id);
        let brand = x.req("brand", brand, value::nonempty_text);
        let niche = x.opt("niche", niche, value::category);
        let posted_at = x.req("posted_at", posted_at, value::timestamp);
        let deliverable = x.opt("deliverable", deliverable, |c| {
            value::enumerated(c, Deliverable::parse, DELIVERABLES)
        });
        let fee_usd = x.req("fee_usd", fee_usd, value::money);
        let impressions = x.opt("impressions", impressions, value::uint);
        let engagements = x.req("engagements", engagements, value::uint);
        let clicks = x.opt("clicks", clicks, value::uint);
        let conversions = x.opt("conversions", conversions, value::uint);
        let on_time = x.opt("on_time", on_time, value::boolean);
        let revisions = x.opt("revisions", revisions, value::uint32);
        if x.bad {
            return None;
        }
        Some(PerformanceRecord {
            creator_id: creator_id?,
            campaign_id: campaign_id?,
            brand: brand?,
            niche,
            posted_at: posted_at?,
            deliverable,
            fee_usd: fee_usd?,
            impressions,
            engagements: engagements?,
            clicks,
            conversions,
            on_time,
            revisions,
        })
    }
    fn out<'r>(r: &'r PerformanceRecord, o: &mut Vec<Out<'r>>) {
        o.extend([
            Out::Str(&r.creator_id),
            Out::Str(&r.campaign_id),
            Out::Str(&r.brand),
            out_opt(&r.niche, |v| Out::Str(v)),
            Out::Timestamp(r.posted_at),
            out_opt(&r.deliverable, |v| Out::Str(v.as_str())),
            Out::F64(r.fee_usd),
            out_opt(&r.impressions, |v| Out::U64(*v)),
            Out::U64(r.engagements),
            out_opt(&r.clicks, |v| Out::U64(*v)),
            out_opt(&r.conversions, |v| Out::U64(*v)),
            out_opt(&r.on_time, |v| Out::Bool(*v)),
            out_opt(&r.revisions, |v| Out::U32(*v)),
        ]);
    }
}

/// The payments table.
pub(crate) struct Payments;

impl Table for Payments {
    type Record = PaymentRecord;
    const FIELDS: &'static [FieldSpec] = &[
        req("org_id", Kind::Str),
        req("creator_id", Kind::Str),
        req("campaign_id", Kind::Str),
        req("amount_usd", Kind::F64),
        req("invoiced_at", Kind::Date),
        opt("paid_at", Kind::Date),
    ];

    fn build(cells: &[Cell<'_>], x: &mut RowCtx<'_>) -> Option<PaymentRecord> {
        let [org_id, creator_id, campaign_id, amount_usd, invoiced_at, paid_at] = cells else {
            return None;
        };
        let org_id = x.req("org_id", org_id, value::id);
        let creator_id = x.req("creator_id", creator_id, value::id);
        let campaign_id = x.req("campaign_id", campaign_id, value::id);
        let amount_usd = x.req("amount_usd", amount_usd, value::money);
        let invoiced_at = x.req("invoiced_at", invoiced_at, value::date);
        // A `paid_at` before `invoiced_at` (a prepayment) is valid: the
        // contract sets no order between the two dates.
        let paid_at = x.opt("paid_at", paid_at, value::date);
        if x.bad {
            return None;
        }
        Some(PaymentRecord {
            org_id: org_id?,
            creator_id: creator_id?,
            campaign_id: campaign_id?,
            amount_usd: amount_usd?,
            invoiced_at: invoiced_at?,
            paid_at,
        })
    }

    fn out<'r>(r: &'r PaymentRecord, o: &mut Vec<Out<'r>>) {
        o.extend([
            Out::Str(&r.org_id),
            Out::Str(&r.creator_id),
            Out::Str(&r.campaign_id),
            Out::F64(r.amount_usd),
            Out::Date(r.invoiced_at),
            out_opt(&r.paid_at, |v| Out::Date(*v)),
        ]);
    }
}
