//! The load: contract files -> validated records -> upsert into the
//! previous snapshot's data -> polars features -> engine tables -> text and
//! vector indexes -> a published snapshot.
//!
//! Invariant: either a complete new snapshot is published, or nothing
//! changes (file-level faults, `--strict` rejects and crashes all leave the
//! previous snapshot serving).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::records::LoadedFile;

use cloutdesk_engine::ann::{build_hnsw, recall_at_10, recall_at_10_of, HnswBuilder, HnswParams};
use cloutdesk_engine::hnsw_build::build_native;
use cloutdesk_engine::pricing::plan_fees;
use cloutdesk_engine::schema::Deliverable;
use cloutdesk_engine::snapshot::{
    HNSW_BASENAME, HNSW_DIR, TABLE_CREATORS, TABLE_NICHES, TABLE_ORGS, TABLE_VECTORS, TEXT_DIR,
};
use cloutdesk_engine::storage::{
    self, file_sha256, DataDir, Manifest, SourceEntry, VectorIndexEntry, FORMAT_VERSION,
};
use cloutdesk_engine::table::{CreatorTable, NicheStats, OrgTable, VectorTable};
use cloutdesk_engine::text::{build_text_index, text_schema};
use cloutdesk_engine::vector::{derive_creator_vector, normalize, CreatorFeatures};
use serde::Serialize;

use crate::contract::{read_creators, read_payments, read_performance, FileFormat};
use crate::error::IngestError;
use crate::features::{
    creator_features, niche_features, org_features, HistoryColumns, PaymentColumns,
};
use crate::history::{
    payments_from_batch, payments_to_batch, performance_from_batch, performance_to_batch,
    TABLE_PAYMENTS, TABLE_PERFORMANCE,
};
use crate::records::{CreatorRecord, PaymentRecord, PerformanceRecord, Reject};

/// When to build the HNSW graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum VectorIndexMode {
    /// Inline up to [`AUTO_HNSW_LIMIT`] creators; above it, publish tables
    /// and text first and leave the graph to `cloutdesk index-vectors`
    /// (matching falls back to an exact vector scan meanwhile).
    Auto,
    Always,
    Never,
}

pub const AUTO_HNSW_LIMIT: usize = 250_000;

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub data: PathBuf,
    pub creators: Option<PathBuf>,
    pub performance: Option<PathBuf>,
    pub payments: Option<PathBuf>,
    pub strict: bool,
    /// Published snapshots kept (older ones are pruned).
    pub keep: usize,
    /// Day recency and payment delays are measured at (default: today, UTC).
    pub as_of_day: Option<i32>,
    pub vector_index: VectorIndexMode,
    pub hnsw: HnswParams,
    pub threads: usize,
    /// The name an input file goes by in the load report, its rejects,
    /// errors and the manifest's sources, where it is not its path (the
    /// API saves uploads under temporary paths and names them as the
    /// client sent them).
    pub shown_names: HashMap<PathBuf, String>,
}

impl IngestOptions {
    /// The name `path` goes by in what the load reports.
    pub fn shown(&self, path: &Path) -> String {
        self.shown_names
            .get(path)
            .cloned()
            .unwrap_or_else(|| path.display().to_string())
    }

    /// `e` with a file error's path replaced by its shown name.
    fn shown_error(&self, e: IngestError) -> IngestError {
        match e {
            IngestError::File { path, message } if self.shown_names.contains_key(&path) => {
                IngestError::File {
                    path: PathBuf::from(self.shown(&path)),
                    message,
                }
            }
            e => e,
        }
    }

    /// The read of the file at `path` (if any) with its rejects, or its
    /// error, naming the file by its shown name.
    fn shown_read<T>(
        &self,
        path: &Option<PathBuf>,
        read: Result<Option<LoadedFile<T>>, IngestError>,
    ) -> Result<Option<LoadedFile<T>>, IngestError> {
        let mut read = read.map_err(|e| self.shown_error(e))?;
        if let (Some(path), Some(f)) = (path, read.as_mut()) {
            if self.shown_names.contains_key(path) {
                let name = self.shown(path);
                for r in &mut f.rejects {
                    r.file = name.clone();
                }
            }
        }
        Ok(read)
    }

    pub fn new(data: impl Into<PathBuf>) -> IngestOptions {
        IngestOptions {
            data: data.into(),
            creators: None,
            performance: None,
            payments: None,
            strict: false,
            keep: 3,
            as_of_day: None,
            vector_index: VectorIndexMode::Auto,
            hnsw: HnswParams::default(),
            threads: rayon::current_num_threads(),
            shown_names: HashMap::new(),
        }
    }
}

/// Progress of a long step (the CLI shows bars; tests show nothing).
pub trait Progress: Sync {
    fn start(&self, _stage: &str, _total: Option<u64>) {}
    fn inc(&self, _n: u64) {}
    fn finish(&self) {}
}

#[derive(Debug, Default)]
pub struct NoProgress;
impl Progress for NoProgress {}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FileReport {
    pub path: String,
    pub format: String,
    pub rows_read: usize,
    pub rows_loaded: usize,
    pub rows_rejected: usize,
    /// Creators: ids repeated within the file (the last row won).
    pub duplicates: usize,
    /// Creators: new ids; history: rows added (no stored row matched).
    pub added: usize,
    /// Creators: ids that replaced a previous profile; history: rows that
    /// replaced a row of the previous snapshot (see [`upsert_history`]).
    pub updated: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LoadReport {
    pub snapshot: String,
    pub parent: Option<String>,
    pub creators_total: usize,
    pub performance_total: usize,
    pub payments_total: usize,
    pub creators: Option<FileReport>,
    pub performance: Option<FileReport>,
    pub payments: Option<FileReport>,
    /// Rejected rows over all files (the sum of the files' `rows_rejected`;
    /// a row with several bad fields counts once).
    pub rejected_rows: usize,
    /// The first rejects, one per bad field (all of them are in
    /// `rejects_file`).
    pub rejects: Vec<Reject>,
    pub rejects_file: Option<String>,
    pub vector_dim: usize,
    pub vectors_user_supplied: bool,
    pub vector_index: Option<VectorIndexEntry>,
    pub vector_index_deferred: bool,
    /// (stage, seconds)
    pub timings: Vec<(String, f64)>,
}

const REJECT_SAMPLE: usize = 50;

fn today() -> i32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (secs / 86_400) as i32
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

struct Timer {
    t: Instant,
    out: Vec<(String, f64)>,
}

impl Timer {
    fn lap(&mut self, stage: &str) {
        let now = Instant::now();
        self.out
            .push((stage.to_string(), (now - self.t).as_secs_f64()));
        self.t = now;
    }
}

/// What a previous snapshot contributes to an incremental load.
struct Previous {
    id: String,
    creators: Vec<CreatorRecord>,
    performance: Vec<PerformanceRecord>,
    payments: Vec<PaymentRecord>,
}

fn load_previous(data: &DataDir, id: &str) -> Result<Previous, IngestError> {
    let m = data.manifest(id)?;
    let entry = |name: &str| {
        m.tables
            .get(name)
            .ok_or_else(|| IngestError::Internal(format!("snapshot {id} lists no `{name}` table")))
    };
    let table = CreatorTable::from_batch(&data.read_table(id, entry(TABLE_CREATORS)?)?)?;
    let vectors = VectorTable::from_batch(
        &data.read_table(id, entry(TABLE_VECTORS)?)?,
        m.vectors_user_supplied,
    )?;
    let performance = performance_from_batch(&data.read_table(id, entry(TABLE_PERFORMANCE)?)?)?;
    let payments = payments_from_batch(&data.read_table(id, entry(TABLE_PAYMENTS)?)?)?;
    let creators = (0..table.len())
        .map(|i| CreatorRecord {
            creator_id: table.creator_id[i].clone(),
            handle: table.handle[i].clone(),
            platform: table.platform[i],
            bio: table.bio[i].clone(),
            niches: table.niches[i].clone(),
            country: table.country[i].clone(),
            languages: table.languages[i].clone(),
            followers: table.followers[i],
            avg_views: table.avg_views[i],
            audience_countries: table.audience_countries[i].clone(),
            audience_ages: table.audience_ages[i],
            audience_female: table.audience_female[i],
            audience_quality: table.audience_quality[i],
            rate_usd: table.rate_usd[i],
            min_fee_usd: table.min_fee_usd[i],
            accepts_usage_rights: table.accepts_usage_rights[i],
            capacity: table.capacity[i],
            brands_worked_with: table.brands_worked_with[i].clone(),
            embedding: (m.vectors_user_supplied && vectors.row(i).iter().any(|x| *x != 0.0))
                .then(|| vectors.row(i).to_vec()),
        })
        .collect();
    Ok(Previous {
        id: id.to_string(),
        creators,
        performance,
        payments,
    })
}

fn file_report(path: &Path, read: usize, loaded: usize, rejected: usize) -> FileReport {
    FileReport {
        path: path.display().to_string(),
        format: FileFormat::from_path(path)
            .map(|f| f.extension().trim_start_matches('.').to_string())
            .unwrap_or_default(),
        rows_read: read,
        rows_loaded: loaded,
        rows_rejected: rejected,
        ..FileReport::default()
    }
}

/// How many distinct rows `rejects` (one entry per bad field) name.
fn rejected_row_count(rejects: &[Reject]) -> usize {
    rejects
        .iter()
        .map(|r| r.row)
        .collect::<std::collections::HashSet<_>>()
        .len()
}

/// What one history row (performance or payment) is matched on across loads.
trait HistoryKey {
    type Key: std::hash::Hash + Eq;
    fn key(&self) -> Self::Key;
}

impl HistoryKey for PerformanceRecord {
    type Key = (String, String, i64, Option<Deliverable>);
    fn key(&self) -> Self::Key {
        (
            self.creator_id.clone(),
            self.campaign_id.clone(),
            self.posted_at,
            self.deliverable,
        )
    }
}

impl HistoryKey for PaymentRecord {
    type Key = (String, String, String, i32);
    fn key(&self) -> Self::Key {
        (
            self.org_id.clone(),
            self.creator_id.clone(),
            self.campaign_id.clone(),
            self.invoiced_at,
        )
    }
}

/// Upserts one file's history rows (in file order) into the previous
/// snapshot's rows `stored`, by key and occurrence: the k-th new row with a
/// key replaces the k-th stored row with that key (in stored order), and
/// occurrences beyond the stored ones are added. Rows of the same file are
/// never merged with each other (each is its own post / invoice), and a
/// corrected file sent again replaces rather than doubles. Returns
/// (added, updated).
fn upsert_history<R: HistoryKey>(
    stored: &mut Vec<R>,
    rows: impl IntoIterator<Item = R>,
) -> (usize, usize) {
    if stored.is_empty() {
        // A first load: nothing to match (and no key to build per row).
        let before = stored.len();
        stored.extend(rows);
        return (stored.len() - before, 0);
    }
    const NONE: usize = usize::MAX;
    // `next[i]`: the next stored row after `i` with the same key; `first`:
    // per key, the first stored row not yet replaced by this file.
    let mut next = vec![NONE; stored.len()];
    let mut first: HashMap<R::Key, usize> = HashMap::with_capacity(stored.len());
    for (i, r) in stored.iter().enumerate().rev() {
        if let Some(j) = first.insert(r.key(), i) {
            next[i] = j;
        }
    }
    let (mut added, mut updated) = (0, 0);
    for rec in rows {
        match first.get_mut(&rec.key()) {
            Some(slot) if *slot != NONE => {
                let i = *slot;
                *slot = next[i];
                stored[i] = rec;
                updated += 1;
            }
            _ => {
                stored.push(rec);
                added += 1;
            }
        }
    }
    (added, updated)
}

/// The manifest's entry for a source file; `sha256`, when already taken.
fn source(
    kind: &str,
    path: &Path,
    rep: &FileReport,
    sha256: Option<String>,
) -> Result<SourceEntry, IngestError> {
    Ok(SourceEntry {
        kind: kind.to_string(),
        path: path.display().to_string(),
        sha256: match sha256 {
            Some(s) => s,
            None => file_sha256(path)?,
        },
        rows_read: rep.rows_read as u64,
        rows_rejected: rep.rows_rejected as u64,
    })
}

/// Runs one load and publishes its snapshot.
pub fn ingest(opts: &IngestOptions, progress: &dyn Progress) -> Result<LoadReport, IngestError> {
    let mut timer = Timer {
        t: Instant::now(),
        out: Vec::new(),
    };
    let data = DataDir::open(&opts.data)?;
    let mut writer = data.begin()?;
    let prev = match data.current()? {
        Some(id) => Some(load_previous(&data, &id)?),
        None => None,
    };
    if prev.is_none() && opts.creators.is_none() {
        return Err(IngestError::file(
            &opts.data,
            "no snapshot here yet: the first load needs --creators",
        ));
    }
    timer.lap("previous snapshot");
    let as_of_day = opts.as_of_day.unwrap_or_else(today);
    let mut rejects: Vec<Reject> = Vec::new();
    let mut sources = Vec::new();

    // ---- read every file first: a file-level fault publishes nothing.
    progress.start("reading contract files", None);
    // Each file is parsed on one thread (a CSV row may span lines): the
    // creators on one, the history files on the other. A fault is
    // reported in file order, as when they were read one after another.
    // The files' checksums (for the manifest) are taken beside, by
    // whichever thread is free.
    let ((new_creators, (new_perf, new_pay)), sums) = rayon::join(
        || {
            rayon::join(
                || opts.creators.as_deref().map(read_creators).transpose(),
                || {
                    rayon::join(
                        || {
                            opts.performance
                                .as_deref()
                                .map(read_performance)
                                .transpose()
                        },
                        || opts.payments.as_deref().map(read_payments).transpose(),
                    )
                },
            )
        },
        || {
            use rayon::prelude::*;
            [&opts.creators, &opts.performance, &opts.payments]
                .par_iter()
                .map(|p| p.as_deref().map(file_sha256).transpose())
                .collect::<Vec<_>>()
        },
    );
    let new_creators = opts.shown_read(&opts.creators, new_creators)?;
    let new_perf = opts.shown_read(&opts.performance, new_perf)?;
    let new_pay = opts.shown_read(&opts.payments, new_pay)?;
    let mut sums = sums.into_iter();
    let mut next_sum = || -> Result<Option<String>, IngestError> {
        Ok(sums
            .next()
            .transpose()
            .map_err(|e| opts.shown_error(e.into()))?
            .flatten())
    };
    let (sum_creators, sum_perf, sum_pay) = (next_sum()?, next_sum()?, next_sum()?);
    progress.finish();
    timer.lap("read");

    // ---- creators: upsert by id, the last row wins.
    let (mut creators, mut perf, mut pays, parent) = match prev {
        Some(p) => (p.creators, p.performance, p.payments, Some(p.id)),
        None => (Vec::new(), Vec::new(), Vec::new(), None),
    };
    let mut index: HashMap<String, usize> = creators
        .iter()
        .enumerate()
        .map(|(i, c)| (c.creator_id.clone(), i))
        .collect();
    let prev_dim = creators
        .iter()
        .find_map(|c| c.embedding.as_ref().map(Vec::len));
    let mut creators_report = None;
    if let (Some(path), Some(file)) = (&opts.creators, new_creators) {
        let mut rep = file_report(path, file.rows_read, 0, rejected_row_count(&file.rejects));
        rejects.extend(file.rejects);
        let mut seen_in_file: HashMap<String, ()> = HashMap::new();
        for (row, rec) in file.rows {
            if let (Some(d), Some(e)) = (prev_dim, &rec.embedding) {
                if e.len() != d {
                    rejects.push(Reject {
                        file: opts.shown(path),
                        row,
                        field: "embedding".into(),
                        reason: format!(
                            "has {} values but the snapshot's creators have {d}",
                            e.len()
                        ),
                    });
                    rep.rows_rejected += 1;
                    continue;
                }
            }
            if seen_in_file.insert(rec.creator_id.clone(), ()).is_some() {
                rep.duplicates += 1;
            }
            match index.get(&rec.creator_id) {
                Some(&i) => {
                    creators[i] = rec;
                    rep.updated += 1;
                }
                None => {
                    index.insert(rec.creator_id.clone(), creators.len());
                    creators.push(rec);
                    rep.added += 1;
                }
            }
            rep.rows_loaded += 1;
        }
        // Re-rows of one id count once as added or updated.
        rep.updated = rep.updated.saturating_sub(rep.duplicates);
        let mut src =
            source("creators", path, &rep, sum_creators).map_err(|e| opts.shown_error(e))?;
        src.path = opts.shown(path);
        rep.path = src.path.clone();
        sources.push(src);
        creators_report = Some(rep);
    }
    if creators.is_empty() {
        return Err(IngestError::Empty {
            rejected: creators_report.as_ref().map_or(0, |r| r.rows_rejected),
            first: rejects.iter().take(5).map(|r| r.to_string()).collect(),
        });
    }

    // ---- history: rows for unknown creators are rejects; every other row
    // is its own post / invoice, matched to the previous snapshot's rows by
    // key and occurrence (`upsert_history`).
    let mut perf_report = None;
    if let (Some(path), Some(file)) = (&opts.performance, new_perf) {
        let mut rep = file_report(path, file.rows_read, 0, rejected_row_count(&file.rejects));
        rejects.extend(file.rejects);
        let mut known = Vec::with_capacity(file.rows.len());
        for (row, rec) in file.rows {
            if !index.contains_key(&rec.creator_id) {
                rejects.push(Reject {
                    file: opts.shown(path),
                    row,
                    field: "creator_id".into(),
                    reason: format!(
                        "{:?}: no such creator (history for an unknown creator)",
                        rec.creator_id
                    ),
                });
                rep.rows_rejected += 1;
                continue;
            }
            known.push(rec);
        }
        rep.rows_loaded = known.len();
        (rep.added, rep.updated) = upsert_history(&mut perf, known);
        let mut src =
            source("performance", path, &rep, sum_perf).map_err(|e| opts.shown_error(e))?;
        src.path = opts.shown(path);
        rep.path = src.path.clone();
        sources.push(src);
        perf_report = Some(rep);
    }
    let mut pay_report = None;
    if let (Some(path), Some(file)) = (&opts.payments, new_pay) {
        let mut rep = file_report(
            path,
            file.rows_read,
            file.rows.len(),
            rejected_row_count(&file.rejects),
        );
        rejects.extend(file.rejects);
        (rep.added, rep.updated) = upsert_history(&mut pays, file.rows.into_iter().map(|r| r.1));
        let mut src = source("payments", path, &rep, sum_pay).map_err(|e| opts.shown_error(e))?;
        src.path = opts.shown(path);
        rep.path = src.path.clone();
        sources.push(src);
        pay_report = Some(rep);
    }
    let rejected_rows: usize = [&creators_report, &perf_report, &pay_report]
        .into_iter()
        .flatten()
        .map(|r| r.rows_rejected)
        .sum();
    if opts.strict && !rejects.is_empty() {
        return Err(IngestError::Strict {
            count: rejected_rows,
            first: rejects[0].to_string(),
        });
    }
    timer.lap("validate and upsert");

    // ---- features (polars).
    progress.start("features (polars)", None);
    let n = creators.len();
    let mut h = HistoryColumns::default();
    for r in &perf {
        let o = index[&r.creator_id];
        h.ordinal.push(o as u32);
        h.followers.push(creators[o].followers);
        h.niche.push(r.niche.clone());
        h.posted_day.push(r.posted_at.div_euclid(86_400) as i32);
        h.fee_usd.push(r.fee_usd);
        h.engagements.push(r.engagements);
        h.on_time.push(r.on_time);
        h.revisions.push(r.revisions);
    }
    let f = creator_features(&h, n, as_of_day)?;
    let niche_rows = niche_features(&h)?;
    let pc = PaymentColumns {
        org_id: pays.iter().map(|p| p.org_id.clone()).collect(),
        invoiced_day: pays.iter().map(|p| p.invoiced_at).collect(),
        paid_day: pays.iter().map(|p| p.paid_at).collect(),
    };
    let org_rows = org_features(&pc, as_of_day)?;
    // The polars inputs copied every history row's strings: free them now.
    drop(h);
    drop(pc);
    progress.finish();
    timer.lap("features");

    // ---- tables.
    let mut history_brands: Vec<Vec<String>> = vec![Vec::new(); n];
    for r in &perf {
        let b = r.brand.to_lowercase();
        let list = &mut history_brands[index[&r.creator_id]];
        if !list.contains(&b) {
            list.push(b);
        }
    }
    let followers: Vec<u64> = creators.iter().map(|c| c.followers).collect();
    let rate: Vec<Option<f64>> = creators.iter().map(|c| c.rate_usd).collect();
    let min_fee: Vec<Option<f64>> = creators.iter().map(|c| c.min_fee_usd).collect();
    let (planned, fee_src) = plan_fees(&followers, &rate, &min_fee, &f.median_fee_usd);
    drop(index);
    // The records are consumed column by column (their strings move into
    // the table rather than being copied: at 1M creators the copies held
    // about a gigabyte until the end of the load).
    let mut creator_id = Vec::with_capacity(n);
    let mut handle = Vec::with_capacity(n);
    let mut platform = Vec::with_capacity(n);
    let mut bio = Vec::with_capacity(n);
    let mut niches = Vec::with_capacity(n);
    let mut country = Vec::with_capacity(n);
    let mut languages = Vec::with_capacity(n);
    let mut avg_views = Vec::with_capacity(n);
    let mut audience_countries = Vec::with_capacity(n);
    let mut audience_ages = Vec::with_capacity(n);
    let mut audience_female = Vec::with_capacity(n);
    let mut audience_quality = Vec::with_capacity(n);
    let mut accepts_usage_rights = Vec::with_capacity(n);
    let mut capacity = Vec::with_capacity(n);
    let mut brands_worked_with = Vec::with_capacity(n);
    let mut embeddings: Vec<Option<Vec<f32>>> = Vec::with_capacity(n);
    for c in creators {
        creator_id.push(c.creator_id);
        handle.push(c.handle);
        platform.push(c.platform);
        bio.push(c.bio);
        niches.push(c.niches);
        country.push(c.country);
        languages.push(c.languages);
        avg_views.push(c.avg_views);
        audience_countries.push(c.audience_countries);
        audience_ages.push(c.audience_ages);
        audience_female.push(c.audience_female);
        audience_quality.push(c.audience_quality);
        accepts_usage_rights.push(c.accepts_usage_rights);
        capacity.push(c.capacity);
        brands_worked_with.push(c.brands_worked_with);
        embeddings.push(c.embedding);
    }
    let table = CreatorTable {
        creator_id,
        handle,
        platform,
        bio,
        niches,
        country,
        languages,
        followers,
        avg_views,
        audience_countries,
        audience_ages,
        audience_female,
        audience_quality,
        rate_usd: rate,
        min_fee_usd: min_fee,
        accepts_usage_rights,
        capacity,
        brands_worked_with,
        engagement_rate: f.engagement_rate,
        post_count: f.post_count,
        cost_per_engagement: f.cost_per_engagement,
        median_fee_usd: f.median_fee_usd,
        on_time_count: f.on_time_count,
        on_time_known: f.on_time_known,
        on_time_share: f.on_time_share,
        mean_revisions: f.mean_revisions,
        last_posted_days: f.last_posted_days,
        history_brands: history_brands
            .into_iter()
            .map(|b| (!b.is_empty()).then_some(b))
            .collect(),
        planned_fee_usd: planned,
        fee_source: fee_src,
    };
    let mut niche_stats = NicheStats::default();
    for (ordinal, niche, er, posts) in niche_rows {
        niche_stats.ordinal.push(ordinal);
        niche_stats.niche.push(niche);
        niche_stats.engagement_rate.push(er);
        niche_stats.posts.push(posts);
    }
    let mut orgs = OrgTable::default();
    for (org_id, invoices, median_days, unpaid) in org_rows {
        orgs.org_id.push(org_id);
        orgs.invoices.push(invoices);
        orgs.median_days_to_pay.push(median_days);
        orgs.unpaid_after_60_share.push(unpaid);
    }
    let mut vectors = creator_vectors(&embeddings, &table);
    drop(embeddings);
    timer.lap("tables");

    // ---- write. The order keeps the memory peak low: each table is
    // written and its rows freed before the next is built; the creators'
    // rows last, after the text index that reads them, converted column by
    // column as they are freed (`CreatorTable::into_batch`).
    progress.start("writing tables, text index (tantivy)", Some(n as u64));
    let build_graph = match opts.vector_index {
        VectorIndexMode::Always => true,
        VectorIndexMode::Never => false,
        VectorIndexMode::Auto => n <= AUTO_HNSW_LIMIT,
    };
    // The other tables are written (one thread, most of it the kernel
    // copying into the page cache) while tantivy indexes the creators (its
    // own threads): the two share nothing but the snapshot's directory.
    let text_dir = writer.dir().join(TEXT_DIR);
    let (written, text) = rayon::join(
        || -> Result<(usize, usize), IngestError> {
            // Only the graph reads the vectors again: without it, the
            // matrix moves into its batch instead of being copied.
            let vectors_batch = if build_graph {
                vectors.to_batch()?
            } else {
                VectorTable {
                    dim: vectors.dim,
                    data: std::mem::take(&mut vectors.data),
                    user_supplied: vectors.user_supplied,
                }
                .into_batch()?
            };
            writer.write_table(TABLE_VECTORS, &vectors_batch)?;
            drop(vectors_batch);
            writer.write_table(TABLE_NICHES, &niche_stats.to_batch()?)?;
            writer.write_table(TABLE_ORGS, &orgs.to_batch()?)?;
            drop(niche_stats);
            drop(orgs);
            writer.write_table(TABLE_PERFORMANCE, &performance_to_batch(&perf)?)?;
            writer.write_table(TABLE_PAYMENTS, &payments_to_batch(&pays)?)?;
            let totals = (perf.len(), pays.len());
            drop(perf);
            drop(pays);
            Ok(totals)
        },
        || -> Result<(), IngestError> {
            let (schema, _) = text_schema();
            let tindex = storage::create_text_index(&text_dir, schema)?;
            build_text_index(&tindex, &table, opts.threads.max(1), &|k| progress.inc(k))
                .map_err(|e| IngestError::Internal(format!("tantivy: {e}")))
        },
    );
    let (performance_total, payments_total) = written?;
    text?;
    cloutdesk_engine::mem::release_free_memory();
    progress.finish();
    cloutdesk_engine::failpoint("after_text");
    timer.lap("write tables, text index");

    progress.start("writing the creators table", None);
    writer.write_table(TABLE_CREATORS, &table.into_batch()?)?;
    progress.finish();
    cloutdesk_engine::failpoint("after_tables");
    timer.lap("write creators table");

    let vector_index = if build_graph {
        let e = build_vector_index_into(writer.dir(), &vectors, opts.hnsw, progress)?;
        timer.lap("vector index");
        Some(e)
    } else {
        None
    };

    let rejects_file = if rejects.is_empty() {
        None
    } else {
        let mut buf = Vec::new();
        for r in &rejects {
            serde_json::to_writer(&mut buf, r).map_err(|e| IngestError::Internal(e.to_string()))?;
            buf.push(b'\n');
        }
        writer.write_file("rejects.jsonl", &buf)?;
        Some("rejects.jsonl".to_string())
    };
    let manifest = Manifest {
        format: FORMAT_VERSION,
        id: String::new(),
        version: 0,
        parent: parent.clone(),
        created_at_unix: now_unix(),
        as_of_day,
        tables: Default::default(),
        sources,
        text_index: Some(TEXT_DIR.to_string()),
        vector_index: vector_index.clone(),
        vector_dim: vectors.dim,
        vectors_user_supplied: vectors.user_supplied,
        rejects_file: rejects_file.clone(),
        rejected_rows: rejected_rows as u64,
        duplicate_creator_rows: creators_report.as_ref().map_or(0, |r| r.duplicates) as u64,
        stats: Default::default(),
    };
    let id = writer.publish(manifest, opts.keep)?;
    timer.lap("publish");
    let rejects_file = rejects_file.map(|f| data.snapshot_dir(&id).join(f).display().to_string());
    Ok(LoadReport {
        snapshot: id,
        parent,
        creators_total: n,
        performance_total,
        payments_total,
        creators: creators_report,
        performance: perf_report,
        payments: pay_report,
        rejected_rows,
        rejects: rejects.into_iter().take(REJECT_SAMPLE).collect(),
        rejects_file,
        vector_dim: vectors.dim,
        vectors_user_supplied: vectors.user_supplied,
        vector_index,
        vector_index_deferred: !build_graph && opts.vector_index == VectorIndexMode::Auto,
        timings: timer.out,
    })
}

/// Creator vectors: the user's embeddings when the load has them
/// (`embeddings[i]`; rows without one get a zero vector: unknown), else
/// derived from the table (see `cloutdesk_engine::vector`).
fn creator_vectors(embeddings: &[Option<Vec<f32>>], t: &CreatorTable) -> VectorTable {
    use rayon::prelude::*;
    if let Some(dim) = embeddings.iter().find_map(|e| e.as_ref().map(Vec::len)) {
        let mut data = vec![0.0f32; embeddings.len() * dim];
        data.par_chunks_mut(dim)
            .zip(embeddings.par_iter())
            .for_each(|(row, e)| {
                if let Some(e) = e {
                    row.copy_from_slice(e);
                    normalize(row);
                }
            });
        return VectorTable {
            dim,
            data,
            user_supplied: true,
        };
    }
    let dim = cloutdesk_engine::vector::DERIVED_DIM;
    let empty_s: Vec<String> = Vec::new();
    let empty_m: Vec<(String, f32)> = Vec::new();
    // Straight into the flat buffer (no million small vectors to concat).
    let mut data = vec![0.0f32; t.len() * dim];
    data.par_chunks_mut(dim).enumerate().for_each(|(i, row)| {
        let mut niches: Vec<String> = t.niches[i].clone().unwrap_or_default();
        niches.sort();
        let v = derive_creator_vector(&CreatorFeatures {
            niches: &niches,
            bio: t.bio[i].as_deref(),
            brands: t.brands_worked_with[i].as_deref().unwrap_or(&empty_s),
            audience_countries: t.audience_countries[i].as_deref().unwrap_or(&empty_m),
            audience_ages: t.audience_ages[i].as_ref(),
            followers: t.followers[i],
            engagement_rate: t.engagement_rate[i].map(|x| x as f32),
        });
        row.copy_from_slice(&v);
    });
    VectorTable {
        dim,
        data,
        user_supplied: false,
    }
}

fn build_vector_index_into(
    dir: &Path,
    vectors: &VectorTable,
    params: HnswParams,
    progress: &dyn Progress,
) -> Result<VectorIndexEntry, IngestError> {
    let hnsw_dir = dir.join(HNSW_DIR);
    let (build_secs, recall) = match params.builder {
        HnswBuilder::HnswRs => {
            progress.start("vector index (hnsw_rs)", Some(vectors.len() as u64));
            let t = Instant::now();
            let g = build_hnsw(vectors, params, &|k| progress.inc(k));
            let build_secs = t.elapsed().as_secs_f64();
            progress.finish();
            let recall = recall_at_10(&g, vectors, 200, 128);
            storage::dump_hnsw(&g, &hnsw_dir, HNSW_BASENAME)?;
            (build_secs, recall)
        }
        HnswBuilder::Native => {
            progress.start("vector index (native HNSW)", Some(vectors.len() as u64));
            let t = Instant::now();
            let g = build_native(vectors, params, &|k| progress.inc(k));
            let build_secs = t.elapsed().as_secs_f64();
            progress.finish();
            progress.start("vector index: writing it for hnsw_rs", None);
            storage::write_native_hnsw(&g, vectors, &hnsw_dir, HNSW_BASENAME)?;
            progress.finish();
            // The graph's recall as hnsw_rs searches it, by the same search
            // on the built graph (`NativeGraph::search`; the dump is what
            // hnsw_rs loads, tested to agree): loading 1M points into
            // hnsw_rs only to measure it would cost ~47 s.
            progress.start("vector index: recall@10", None);
            let recall = recall_at_10_of(vectors, 200, |q| {
                g.search(vectors, q, 10, 128)
                    .into_iter()
                    .map(|x| x.1)
                    .collect()
            });
            progress.finish();
            (build_secs, recall)
        }
    };
    cloutdesk_engine::failpoint("after_hnsw");
    Ok(VectorIndexEntry {
        kind: "hnsw_rs".into(),
        dir: HNSW_DIR.into(),
        basename: HNSW_BASENAME.into(),
        max_nb_connection: params.max_nb_connection,
        ef_construction: params.ef_construction,
        builder: params.builder.as_str().into(),
        points: vectors.len() as u64,
        build_secs,
        recall_at_10: Some(recall),
    })
}

/// Adds the HNSW graph to the published snapshot as a new snapshot that
/// shares its tables (the deferred half of a large load).
pub fn index_vectors(
    data_dir: &Path,
    params: HnswParams,
    keep: usize,
    progress: &dyn Progress,
) -> Result<(String, VectorIndexEntry), IngestError> {
    let data = DataDir::open(data_dir)?;
    let none = || IngestError::file(data_dir, "no snapshot to index: run ingest first");
    // Checked before the lock too, so a mistyped path is left as it was.
    data.current()?.ok_or_else(none)?;
    let mut writer = data.begin()?;
    let id = data.current()?.ok_or_else(none)?;
    let mut m = data.manifest(&id)?;
    let entry = m
        .tables
        .get(TABLE_VECTORS)
        .ok_or_else(|| IngestError::Internal(format!("snapshot {id} has no vectors table")))?;
    let vectors = VectorTable::from_batch(&data.read_table(&id, entry)?, m.vectors_user_supplied)?;
    writer.adopt(&id, &m)?;
    let hnsw_dir = writer.dir().join(HNSW_DIR);
    if hnsw_dir.exists() {
        std::fs::remove_dir_all(&hnsw_dir)
            .map_err(|e| IngestError::file(&hnsw_dir, e.to_string()))?;
    }
    let e = build_vector_index_into(writer.dir(), &vectors, params, progress)?;
    m.parent = Some(id);
    m.vector_index = Some(e.clone());
    m.created_at_unix = now_unix();
    let new_id = writer.publish(m, keep)?;
    Ok((new_id, e))
}
