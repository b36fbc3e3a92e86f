//! The nightly re-rank (`cloutdesk rerank`) and the creator's feed
//! (`cloutdesk feed`): every open campaign against every creator, a global
//! assignment across campaigns ([`cloutdesk_engine::assign`]), the
//! creator-side feeds ([`cloutdesk_engine::feed`]), and a new *generation*
//! in the data dir.
//!
//! Layout (beside the snapshots; see `cloutdesk_engine::storage`):
//! ```text
//! DATA/rerank/CURRENT              one line: the published generation's id
//! DATA/rerank/g000004/             an immutable generation:
//!     manifest.json                run summary, options, timings, file checksums
//!     selections.parquet           per-campaign selections (one row per pair)
//!     match_results.jsonl          the contract's match result, one per campaign
//!     feeds.parquet                per-creator feeds (one row per item)
//!     diff.parquet                 entered / left / moved against the parent, and why
//! DATA/rerank/.staging-g000005/    a generation being written (never read)
//! DATA/rerank/.lock                held by the one writer
//! ```
//! Invariant (as for snapshots): a generation directory is complete and
//! fsynced before it gets its final name, and CURRENT is replaced by an
//! atomic rename of a fsynced file; a crash at any instant (kill -9) leaves
//! the previous generation served. Every data file is a pure function of
//! the inputs (snapshot, campaigns, declines, parent generation, options,
//! day): the thread count changes no byte. Run timings live only in
//! manifest.json; `stats.took_ms` of a generation's match results is 0 (one
//! global run has no per-campaign time).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use arrow_array::{Array, ArrayRef, Date32Array, RecordBatch, UInt32Array};
use arrow_schema::{Field, Schema};
use cloutdesk_engine::arrow_io::{f32_col, f64_col, str_col, u32_col, Columns};
use cloutdesk_engine::assign::{
    alone_feasible, assign, truncate_pool, AssignOptions, CampaignPool, Limit,
};
use cloutdesk_engine::brief::{CampaignBrief, CampaignStatus};
use cloutdesk_engine::feed::{
    build_feeds, deadline_feasible, FeedHistory, FeedOptions, FeedSignals, Offer,
};
use cloutdesk_engine::filter::check_one;
use cloutdesk_engine::matcher::{
    present, score_creator, MatchResult, MatchStats, Matcher, SelectedCreator, Totals,
};
use cloutdesk_engine::select::Item;
use cloutdesk_engine::signals::{BriefScorer, Scored, Signals};
use cloutdesk_engine::snapshot::{OpenOptions as SnapshotOpenOptions, Snapshot};
use cloutdesk_engine::storage::DataDir;
use cloutdesk_engine::storage::{
    fsync_dir, write_synced, write_synced_parts, SyncedFile, STAGING_PREFIX as STAGING,
};
use cloutdesk_engine::table::{CreatorTable, CreatorTerms};
use cloutdesk_ingest::Progress;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::declines;
use crate::dto;

pub const DIR: &str = "rerank";
const CURRENT: &str = "CURRENT";
const MANIFEST: &str = "manifest.json";
pub const FORMAT: u32 = 1;

/// Options of one run (the CLI flags).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RerankOptions {
    /// New offers per creator per run.
    pub max_new_offers: u32,
    /// New feed items per creator per day.
    pub feed_per_day: usize,
    /// Items in a feed at most.
    pub feed_max_items: usize,
    /// Fewest days before content is due for a feasible offer.
    pub min_lead_days: i32,
    /// The day of the run (YYYY-MM-DD); default: today (UTC).
    pub today: Option<String>,
    /// Pool kept per campaign for the assignment: at least this many
    /// creators, and at least 8 x creators_wanted (by value per dollar and
    /// by value).
    pub pool_min: usize,
    /// Generations to keep.
    pub keep: usize,
    /// Set by the caller, not a flag: the campaigns are the campaign
    /// store's open ones (`rerank` without `--campaigns`, and the server),
    /// so the served feed can hide items of campaigns deleted, paused or
    /// closed since the run.
    #[serde(default)]
    pub campaigns_from_store: bool,
}

impl RerankOptions {
    /// Options a run cannot honour: (option name, problem). A feed of 0
    /// items would empty every creator's feed and forget when each offer
    /// was first shown; a negative lead would show offers already overdue.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if self.feed_per_day == 0 {
            return Some(("feed_per_day", "must be at least 1, got 0".into()));
        }
        if self.feed_max_items == 0 {
            return Some(("feed_max_items", "must be at least 1, got 0".into()));
        }
        if self.min_lead_days < 0 {
            return Some((
                "min_lead_days",
                format!("must be 0 or more, got {}", self.min_lead_days),
            ));
        }
        None
    }

    /// [`Self::problem`] as the CLI's and the library's error.
    pub fn check(&self) -> anyhow::Result<()> {
        match self.problem() {
            Some((name, problem)) => bail!("re-rank option {name}: {problem}"),
            None => Ok(()),
        }
    }
}

impl Default for RerankOptions {
    fn default() -> Self {
        RerankOptions {
            max_new_offers: 3,
            feed_per_day: 5,
            feed_max_items: 20,
            min_lead_days: 3,
            today: None,
            pool_min: 2000,
            keep: 3,
            campaigns_from_store: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AloneFigures {
    /// Sum of each campaign's value run alone, as if every offer were taken
    /// (overcommits creators: not achievable).
    pub raw_value: f64,
    /// The same plans once each creator takes only its best offers within
    /// its capacity and new-offer cap (no re-planning).
    pub feasible_value: f64,
    pub offers: usize,
    pub overcommitted_offers: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffCounts {
    pub entered: usize,
    pub left: usize,
    pub moved: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedCounts {
    pub creators: usize,
    pub items: usize,
    pub deferred: usize,
    pub excluded: BTreeMap<String, usize>,
}

/// A generation's manifest: what was run, on what, and what came out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationManifest {
    pub format: u32,
    pub id: String,
    pub parent: Option<String>,
    pub snapshot: String,
    pub today: String,
    pub created_at_unix: i64,
    pub options: RerankOptions,
    /// Open campaigns ranked.
    pub campaigns: usize,
    /// Open campaigns left out because their deadline has passed.
    #[serde(default)]
    pub past_deadline: usize,
    /// Problems of the campaigns left out as invalid against the snapshot
    /// (`where: path: problem`).
    #[serde(default)]
    pub invalid: Vec<String>,
    pub creators: usize,
    pub pairs: usize,
    pub creators_with_offers: usize,
    pub rounds: u32,
    pub total_value: f64,
    pub alone: AloneFigures,
    pub diff: DiffCounts,
    pub feeds: FeedCounts,
    /// (stage, seconds), in run order.
    pub timings: Vec<(String, f64)>,
    /// file -> (bytes, sha256)
    pub files: BTreeMap<String, (u64, String)>,
    /// (org_id, campaign_id) of every campaign ranked, in run order (the
    /// next run's diff tells a new campaign from one that had nobody).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranked: Vec<(String, String)>,
}

impl GenerationManifest {
    pub fn total_secs(&self) -> f64 {
        self.timings.iter().map(|t| t.1).sum()
    }
}

/// Today (UTC) as days since 1970-01-01.
pub fn today_utc() -> i32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (secs / 86_400) as i32
}

// ------------------------------------------------------------ generations

pub fn generations_dir(data: &Path) -> PathBuf {
    data.join(DIR)
}

pub fn generation_dir(data: &Path, id: &str) -> PathBuf {
    generations_dir(data).join(id)
}

/// The published generation's id, if any.
pub fn current_generation(data: &Path) -> anyhow::Result<Option<String>> {
    let p = generations_dir(data).join(CURRENT);
    match fs::read_to_string(&p) {
        Ok(s) => {
            let id = s.trim().to_string();
            if parse_gen(&id).is_none() {
                bail!("{}: holds {id:?}, not a generation id", p.display());
            }
            Ok(Some(id))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow!("{}: cannot read: {e}", p.display())),
    }
}

fn parse_gen(id: &str) -> Option<u64> {
    cloutdesk_engine::storage::version_of(id, 'g')
}

pub fn read_manifest(data: &Path, id: &str) -> anyhow::Result<GenerationManifest> {
    let p = generation_dir(data, id).join(MANIFEST);
    let bytes = fs::read(&p).with_context(|| format!("{}: cannot read", p.display()))?;
    let m: GenerationManifest = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow!("{}: not a generation manifest: {e}", p.display()))?;
    if m.format != FORMAT {
        bail!(
            "{}: format {} (this build reads {FORMAT})",
            p.display(),
            m.format
        );
    }
    // The day the run judged deadlines on, which a served feed's deadline
    // re-check starts from (`FeedClock`): a manifest without a readable
    // one is not served with that check silently skipped.
    if cloutdesk_engine::schema::parse_date(&m.today).is_none() {
        bail!(
            "{}: `today` is {:?}, not a YYYY-MM-DD date",
            p.display(),
            m.today
        );
    }
    Ok(m)
}

/// Writes one generation into a staging dir; dropped unpublished, it
/// removes the staging dir (a crash leaves it for the next writer to remove).
struct GenerationWriter {
    root: PathBuf,
    dir: PathBuf,
    id: String,
    files: BTreeMap<String, (u64, String)>,
    published: bool,
    _lock: RunLock,
}

impl Drop for GenerationWriter {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The one-writer lock of a data dir's generations (`DATA/rerank/.lock`,
/// an advisory file lock, so a run killed mid-way leaves it free). A run
/// takes it before it reads the parent generation and holds it until it
/// has published: two runs (CLI or API, any mix) never both read the same
/// parent, so a generation's diff and new-offer counts are always against
/// the generation published just before it.
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock, or fails at once if another run holds it.
    pub fn take(data: &Path) -> anyhow::Result<RunLock> {
        let root = generations_dir(data);
        fs::create_dir_all(&root).with_context(|| format!("{}: cannot create", root.display()))?;
        let lock_path = root.join(".lock");
        match cloutdesk_engine::storage::lock_writer(&lock_path)? {
            Some(f) => Ok(RunLock { _file: f }),
            None => bail!("{}: another re-rank is running", lock_path.display()),
        }
    }
}

impl GenerationWriter {
    /// A new generation's staging directory, under the run's lock.
    ///
    /// Cleans up after a crashed writer first: staging directories, and
    /// generations newer than `CURRENT` (renamed into place but never
    /// published: a kill between the two steps of
    /// [`GenerationWriter::publish`]), which would otherwise count toward
    /// `--keep` (`cloutdesk_engine::storage::clear_unpublished`, as a
    /// snapshot load does).
    fn begin(data: &Path, lock: RunLock) -> anyhow::Result<GenerationWriter> {
        let root = generations_dir(data);
        let current = current_generation(data)?.and_then(|g| parse_gen(&g));
        let last = cloutdesk_engine::storage::clear_unpublished(&root, 'g', current)?;
        let id = format!("g{:06}", last + 1);
        let dir = root.join(format!("{STAGING}{id}"));
        fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
        Ok(GenerationWriter {
            root,
            dir,
            id,
            files: BTreeMap::new(),
            published: false,
            _lock: lock,
        })
    }

    /// Where the generation's file `name` is written (in the staging
    /// directory, until [`GenerationWriter::publish`]).
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Records a written file's size and sha256 for the manifest.
    fn record(&mut self, name: &str, entry: (u64, String)) {
        self.files.insert(name.to_string(), entry);
    }

    fn publish(mut self, mut m: GenerationManifest, keep: usize) -> anyhow::Result<String> {
        m.files = self.files.clone();
        write_synced(&self.dir.join(MANIFEST), &serde_json::to_vec_pretty(&m)?)?;
        fsync_dir(&self.dir)?;
        cloutdesk_engine::failpoint("rerank_before_rename");
        let final_dir = self.root.join(&self.id);
        fs::rename(&self.dir, &final_dir)
            .with_context(|| format!("{}: cannot rename", final_dir.display()))?;
        self.published = true;
        fsync_dir(&self.root)?;
        cloutdesk_engine::failpoint("rerank_before_current");
        let tmp = self.root.join("CURRENT.tmp");
        write_synced(&tmp, format!("{}\n", self.id).as_bytes())?;
        let cur = self.root.join(CURRENT);
        fs::rename(&tmp, &cur).with_context(|| format!("{}: cannot rename", cur.display()))?;
        fsync_dir(&self.root)?;
        cloutdesk_engine::failpoint("rerank_after_current");
        // Prune old generations (never the current one).
        let mut gens: Vec<(u64, String)> = fs::read_dir(&self.root)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().to_string();
                parse_gen(&n).map(|v| (v, n))
            })
            .collect();
        gens.sort();
        let cut = gens.len().saturating_sub(keep.max(1));
        for (_, g) in &gens[..cut] {
            if *g != self.id {
                let _ = fs::remove_dir_all(self.root.join(g));
            }
        }
        Ok(self.id.clone())
    }
}

// ------------------------------------------------------------ parquet

/// Campaigns serialised at once (in parallel) by [`write_match_results`]
/// before they are written: enough to keep both cores busy, while the
/// serialised lines in memory stay a few MB (the whole file of a
/// 10,000-campaign run is 300 MB).
const JSONL_SLICE: usize = 256;

/// Writes the contract's match result per campaign, one JSON object a
/// line, as stored in a generation (`took_ms` 0: the run's timings are in
/// the manifest), into file `path`; returns its size and sha256. The
/// campaigns are serialised [`JSONL_SLICE`] at a time in parallel and
/// written in order.
fn write_match_results(
    path: &Path,
    briefs: &[CampaignBrief],
    results: &[MatchResult],
    generation: &str,
) -> anyhow::Result<(u64, String)> {
    let mut file = SyncedFile::create(path)?;
    for (bs, rs) in briefs.chunks(JSONL_SLICE).zip(results.chunks(JSONL_SLICE)) {
        let lines: Vec<Vec<u8>> = bs
            .par_iter()
            .zip(rs)
            .map(|(b, r)| {
                let mut j = dto::MatchResultJson::of(r);
                j.stats.took_ms = 0.0;
                j.generation = Some(generation);
                // Two orgs may share a campaign id: the org tells them apart.
                j.org_id = Some(&b.org_id);
                let mut line = serde_json::to_vec(&j)?;
                line.push(b'\n');
                Ok(line)
            })
            .collect::<anyhow::Result<_>>()?;
        for line in &lines {
            file.write(line)?;
        }
    }
    Ok(file.finish()?)
}

/// A generation's file of per-creator counts of the items first shown on
/// its day, written by a run whose parent is of the same day (a second run
/// that day): `creator_id`, `items`. It carries what was shown earlier that
/// day but is no longer in the feed (declined, closed, lost), so that the
/// daily limit holds across every run of the day. The first run of a day
/// writes none: its feeds file says it all.
const SHOWN_TODAY: &str = "shown_today.parquet";

/// Creator -> items first shown on `day` by generation `gen` (of that
/// day) and the runs of that day before it.
fn shown_today_of(
    data: &Path,
    gen: &str,
    day: i32,
    feed: &FirstShown,
) -> anyhow::Result<HashMap<String, usize>> {
    let p = generation_dir(data, gen).join(SHOWN_TODAY);
    if !p.exists() {
        return Ok(feed.shown_on(day));
    }
    let mut m = HashMap::new();
    for b in read_parquet(&p)? {
        let ids: &arrow_array::StringArray = column(&p, "shown_today", &b, "creator_id")?;
        let n: &UInt32Array = column(&p, "shown_today", &b, "items")?;
        for k in 0..b.num_rows() {
            m.insert(str_at(ids, k).to_string(), n.value(k) as usize);
        }
    }
    Ok(m)
}

/// [`SHOWN_TODAY`]'s batch: `counts`, by creator id.
fn shown_today_batch(counts: &HashMap<String, usize>) -> anyhow::Result<RecordBatch> {
    let mut rows: Vec<(&str, u32)> = counts
        .iter()
        .filter(|x| *x.1 > 0)
        .map(|(c, &n)| (c.as_str(), n.min(u32::MAX as usize) as u32))
        .collect();
    rows.sort_unstable();
    make_batch(vec![
        (
            "creator_id",
            cloutdesk_engine::arrow_io::str_col_of(rows.iter().map(|r| r.0)),
        ),
        (
            "items",
            Arc::new(UInt32Array::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
    ])
}

fn parquet_bytes(batch: &RecordBatch) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
    w.write(batch)?;
    w.close()?;
    Ok(buf)
}

fn make_batch(cols: Vec<(&str, ArrayRef)>) -> anyhow::Result<RecordBatch> {
    let schema = Arc::new(Schema::new(
        cols.iter()
            .map(|(n, a)| {
                Field::new(
                    *n,
                    a.data_type().clone(),
                    a.null_count() > 0 || n.starts_with("old_") || n.starts_with("new_"),
                )
            })
            .collect::<Vec<_>>(),
    ));
    Ok(RecordBatch::try_new(
        schema,
        cols.into_iter().map(|c| c.1).collect(),
    )?)
}

fn read_parquet(p: &Path) -> anyhow::Result<Vec<RecordBatch>> {
    read_parquet_columns(p, None)
}

/// The batches of a Parquet file, with only the named top-level columns
/// decoded when `columns` is given (the others are never read).
fn read_parquet_columns(p: &Path, columns: Option<&[&str]>) -> anyhow::Result<Vec<RecordBatch>> {
    let f = File::open(p).with_context(|| format!("{}: cannot open", p.display()))?;
    let mut b = ParquetRecordBatchReaderBuilder::try_new(f)
        .with_context(|| format!("{}: not a Parquet file", p.display()))?;
    if let Some(names) = columns {
        let mask =
            parquet::arrow::ProjectionMask::columns(b.parquet_schema(), names.iter().copied());
        b = b.with_projection(mask);
    }
    let r = b.build()?;
    r.collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: cannot read", p.display()))
}

/// When each (creator, campaign) pair of a generation's feeds was first
/// shown: the four columns the re-rank needs of its parent's feeds, kept
/// as the decoded Arrow arrays (the map built from them borrows their
/// strings; no row is turned into a [`FeedRow`]).
struct FirstShown {
    path: PathBuf,
    batches: Vec<RecordBatch>,
}

impl FirstShown {
    const COLUMNS: [&'static str; 4] = ["creator_id", "org_id", "campaign_id", "first_shown"];

    fn none() -> FirstShown {
        FirstShown {
            path: PathBuf::new(),
            batches: Vec::new(),
        }
    }

    fn read(data: &Path, gen: &str) -> anyhow::Result<FirstShown> {
        let p = generation_dir(data, gen).join("feeds.parquet");
        let batches = read_parquet_columns(&p, Some(&Self::COLUMNS))?;
        // Every batch's columns are checked here, once.
        for b in &batches {
            Self::columns(&p, b)?;
        }
        Ok(FirstShown { path: p, batches })
    }

    /// Batch `b`'s creator, org, campaign and first-shown columns.
    #[allow(clippy::type_complexity)]
    fn columns<'a>(
        p: &Path,
        b: &'a RecordBatch,
    ) -> anyhow::Result<([&'a arrow_array::StringArray; 3], &'a Date32Array)> {
        let s = |name| column(p, "feeds", b, name);
        Ok((
            [s("creator_id")?, s("org_id")?, s("campaign_id")?],
            column(p, "feeds", b, "first_shown")?,
        ))
    }

    /// Creator -> how many of its items were first shown on `day`.
    fn shown_on(&self, day: i32) -> HashMap<String, usize> {
        let mut m: HashMap<String, usize> = HashMap::new();
        for b in &self.batches {
            let ([cr, _, _], first) =
                Self::columns(&self.path, b).expect("checked in FirstShown::read");
            for k in 0..b.num_rows() {
                if first.value(k) == day {
                    *m.entry(str_at(cr, k).to_string()).or_default() += 1;
                }
            }
        }
        m
    }

    /// (creator, (org, campaign)) -> the day it was first shown; a null
    /// string reads as "" (as [`read_feeds`] reads it).
    fn map(&self) -> HashMap<(&str, CampaignKey<'_>), i32> {
        let mut m = HashMap::with_capacity(self.batches.iter().map(|b| b.num_rows()).sum());
        for b in &self.batches {
            let ([cr, org, ca], day) =
                Self::columns(&self.path, b).expect("checked in FirstShown::read");
            for k in 0..b.num_rows() {
                m.insert(
                    (str_at(cr, k), (str_at(org, k), str_at(ca, k))),
                    day.value(k),
                );
            }
        }
        m
    }
}

/// One row of `selections.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectionRow {
    pub campaign_id: String,
    /// The campaign's org ("" in generations written before the column:
    /// such rows match a campaign by id alone).
    pub org_id: String,
    pub rank: u32,
    pub creator_id: String,
    pub score: f32,
    pub fee_usd: f64,
    pub expected_engagements: f64,
    pub value: f64,
}

/// A string column that older generations may lack ("" for each row then).
fn optional_strings(
    p: &Path,
    c: &Columns<'_>,
    name: &str,
    rows: usize,
) -> anyhow::Result<Vec<String>> {
    if c.batch.schema().column_with_name(name).is_some() {
        c.strings(name).with_context(|| p.display().to_string())
    } else {
        Ok(vec![String::new(); rows])
    }
}

/// A campaign's identity across orgs: (org_id, campaign_id). Two orgs may
/// use the same campaign id (docs/API.md): they are two campaigns.
type CampaignKey<'a> = (&'a str, &'a str);

pub fn read_selections(data: &Path, gen: &str) -> anyhow::Result<Vec<SelectionRow>> {
    let p = generation_dir(data, gen).join("selections.parquet");
    let mut out = Vec::new();
    // Only the columns a row holds are decoded (not the signals and
    // reasons).
    const COLUMNS: [&str; 8] = [
        "campaign_id",
        "org_id",
        "rank",
        "creator_id",
        "score",
        "fee_usd",
        "expected_engagements",
        "value",
    ];
    for b in read_parquet_columns(&p, Some(&COLUMNS))? {
        let c = Columns {
            table: "selections",
            batch: &b,
        };
        let orgs = optional_strings(&p, &c, "org_id", b.num_rows())?;
        let columns = || -> Result<_, cloutdesk_engine::storage::StorageError> {
            Ok((
                c.strings("campaign_id")?,
                c.u32s("rank")?,
                c.strings("creator_id")?,
                c.f32s("score")?,
                c.f64s("fee_usd")?,
                c.f64s("expected_engagements")?,
                c.f64s("value")?,
            ))
        };
        let (ca, r, cr, s, f, e, v) = columns().with_context(|| p.display().to_string())?;
        // The string columns' values are moved into the rows, not copied.
        let strings = ca.into_iter().zip(orgs).zip(cr);
        for (k, ((campaign_id, org_id), creator_id)) in strings.enumerate() {
            out.push(SelectionRow {
                campaign_id,
                org_id,
                rank: r[k],
                creator_id,
                score: s[k],
                fee_usd: f[k],
                expected_engagements: e[k],
                value: v[k],
            });
        }
    }
    Ok(out)
}

/// One row of `feeds.parquet`: an item of a creator's feed.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FeedRow {
    pub creator_id: String,
    pub rank: u32,
    pub campaign_id: String,
    pub org_id: String,
    pub brand: String,
    pub title: String,
    /// The creator-side score in [0, 1] (the weighted mean of `signals`).
    pub score: f32,
    pub fee_usd: f64,
    /// Creator-side signals in [0, 1]: `fee`, `completeness`, `payment`,
    /// `niche`, `usage_rights`, `deadline` (docs/RERANK.md).
    pub signals: BTreeMap<String, f32>,
    /// One to three reasons, strongest first.
    pub reasons: Vec<String>,
    /// The brief's missing completeness fields.
    pub missing: Vec<String>,
    /// YYYY-MM-DD
    pub first_shown: String,
    #[serde(skip)]
    pub first_shown_day: i32,
    /// The campaign's content due date and end of its posting window
    /// (YYYY-MM-DD), when it has them (generations written before these
    /// columns: unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_due: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_until: Option<String>,
    #[serde(skip)]
    pub content_due_day: Option<i32>,
    #[serde(skip)]
    pub post_until_day: Option<i32>,
    /// Whether the brief asks paid usage rights (unknown: the brief is
    /// silent). The served feed checks it against the creator's
    /// `accepts_usage_rights` as they are now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_usage: Option<bool>,
}

pub fn read_feeds(data: &Path, gen: &str) -> anyhow::Result<Vec<FeedRow>> {
    read_feeds_of(data, gen, None)
}

/// The feed rows of one creator (`Some`) or of all (`None`), in file
/// order. Rows are picked on the file's own creator column before any is
/// turned into a [`FeedRow`]: one creator's feed out of a million
/// creators' no longer costs the allocations of every row.
fn read_feeds_of(data: &Path, gen: &str, creator: Option<&str>) -> anyhow::Result<Vec<FeedRow>> {
    let p = generation_dir(data, gen).join("feeds.parquet");
    let mut out = Vec::new();
    for b in read_parquet(&p)? {
        let cols = FeedColumns::of(&b, &p)?;
        for k in 0..b.num_rows() {
            if creator.is_none_or(|c| cols.creator(k) == c) {
                out.push(cols.row(k));
            }
        }
    }
    Ok(out)
}

/// The typed columns of one batch of `feeds.parquet`.
struct FeedColumns<'a> {
    creator: &'a arrow_array::StringArray,
    rank: &'a UInt32Array,
    campaign: &'a arrow_array::StringArray,
    org: &'a arrow_array::StringArray,
    brand: &'a arrow_array::StringArray,
    title: &'a arrow_array::StringArray,
    score: &'a arrow_array::Float32Array,
    fee: &'a arrow_array::Float64Array,
    signals: Vec<&'a arrow_array::Float32Array>,
    reasons: (&'a arrow_array::ListArray, &'a arrow_array::StringArray),
    missing: (&'a arrow_array::ListArray, &'a arrow_array::StringArray),
    first: &'a Date32Array,
    /// Absent from generations written before them.
    due: Option<&'a Date32Array>,
    until: Option<&'a Date32Array>,
    paid_usage: Option<&'a arrow_array::BooleanArray>,
    /// `signal_usage_rights` (one of `signals`), read where `paid_usage`
    /// is absent.
    usage_signal: &'a arrow_array::Float32Array,
}

impl<'a> FeedColumns<'a> {
    /// The batch's columns, or an error naming the file `p` and the
    /// column that is missing or of another type.
    fn of(b: &'a RecordBatch, p: &Path) -> anyhow::Result<FeedColumns<'a>> {
        use arrow_array::{ListArray, StringArray};
        let lists = |name: &str| -> anyhow::Result<(&'a ListArray, &'a StringArray)> {
            let l: &ListArray = column(p, "feeds", b, name)?;
            let v = l
                .values()
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| {
                    anyhow!("{}: column `{name}`: list items are not utf8", p.display())
                })?;
            Ok((l, v))
        };
        let opt_day = |name: &str| {
            b.column_by_name(name)
                .and_then(|a| a.as_any().downcast_ref::<Date32Array>())
        };
        Ok(FeedColumns {
            creator: column(p, "feeds", b, "creator_id")?,
            rank: column(p, "feeds", b, "rank")?,
            campaign: column(p, "feeds", b, "campaign_id")?,
            org: column(p, "feeds", b, "org_id")?,
            brand: column(p, "feeds", b, "brand")?,
            title: column(p, "feeds", b, "title")?,
            score: column(p, "feeds", b, "score")?,
            fee: column(p, "feeds", b, "fee_usd")?,
            signals: FeedSignals::NAMES
                .iter()
                .map(|n| column(p, "feeds", b, &format!("signal_{n}")))
                .collect::<Result<_, _>>()?,
            reasons: lists("reasons")?,
            missing: lists("missing")?,
            first: column(p, "feeds", b, "first_shown")?,
            due: opt_day("content_due"),
            until: opt_day("post_until"),
            paid_usage: b
                .column_by_name("paid_usage")
                .and_then(|a| a.as_any().downcast_ref::<arrow_array::BooleanArray>()),
            usage_signal: column(p, "feeds", b, "signal_usage_rights")?,
        })
    }

    /// Row `k`'s creator ("" when null).
    fn creator(&self, k: usize) -> &'a str {
        str_at(self.creator, k)
    }

    /// Row `k` as a [`FeedRow`].
    fn row(&self, k: usize) -> FeedRow {
        let day_at =
            |a: Option<&Date32Array>, k: usize| a.filter(|a| a.is_valid(k)).map(|a| a.value(k));
        let list_at = |(l, v): (&ListArray, &arrow_array::StringArray)| -> Vec<String> {
            if !l.is_valid(k) {
                return Vec::new();
            }
            let offs = l.value_offsets();
            (offs[k] as usize..offs[k + 1] as usize)
                .map(|j| v.value(j).to_string())
                .collect()
        };
        use arrow_array::ListArray;
        let day = self.first.value(k);
        let (due_day, until_day) = (day_at(self.due, k), day_at(self.until, k));
        let paid_usage = match self.paid_usage {
            Some(a) => a.is_valid(k).then(|| a.value(k)),
            // A generation written before the column: its usage-rights
            // signal says what the brief asked.
            None => cloutdesk_engine::feed::paid_usage_of_signal(self.usage_signal.value(k)),
        };
        FeedRow {
            paid_usage,
            content_due: due_day.map(cloutdesk_engine::schema::format_date),
            post_until: until_day.map(cloutdesk_engine::schema::format_date),
            content_due_day: due_day,
            post_until_day: until_day,
            creator_id: str_at(self.creator, k).to_string(),
            rank: self.rank.value(k),
            campaign_id: str_at(self.campaign, k).to_string(),
            org_id: str_at(self.org, k).to_string(),
            brand: str_at(self.brand, k).to_string(),
            title: str_at(self.title, k).to_string(),
            score: self.score.value(k),
            fee_usd: self.fee.value(k),
            signals: FeedSignals::NAMES
                .iter()
                .zip(&self.signals)
                .map(|(n, v)| (n.to_string(), v.value(k)))
                .collect(),
            reasons: list_at(self.reasons),
            missing: list_at(self.missing),
            first_shown: cloutdesk_engine::schema::format_date(day),
            first_shown_day: day,
        }
    }
}

/// Column `name` of a batch of the generation file `p` (of table
/// `table`) as array type `T` (`Columns::typed`); the error names the file,
/// the table and the column.
fn column<'a, T: 'static>(
    p: &Path,
    table: &'static str,
    b: &'a RecordBatch,
    name: &str,
) -> anyhow::Result<&'a T> {
    Columns { table, batch: b }
        .typed(name)
        .with_context(|| p.display().to_string())
}

/// Value `k` of a utf8 column, "" when null.
fn str_at(a: &arrow_array::StringArray, k: usize) -> &str {
    if a.is_valid(k) {
        a.value(k)
    } else {
        ""
    }
}

/// A generation's feeds as the API serves them: the file's decoded
/// columns and, per creator, where their rows are; a creator's
/// [`FeedRow`]s are built when asked for. Holding every row built (a
/// dozen allocations each) took 1.28 GB and 3.8 s for 925,709 items at
/// 1M creators.
pub struct FeedIndex {
    path: PathBuf,
    batches: Vec<RecordBatch>,
    /// Creator -> (batch, row) of each of their items, in file order.
    by_creator: HashMap<String, Vec<(u32, u32)>>,
}

impl FeedIndex {
    pub fn read(data: &Path, gen: &str) -> anyhow::Result<FeedIndex> {
        let path = generation_dir(data, gen).join("feeds.parquet");
        let batches = read_parquet(&path)?;
        let mut by_creator: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        for (bi, b) in batches.iter().enumerate() {
            // Every batch's columns are checked here, once.
            let cols = FeedColumns::of(b, &path)?;
            for k in 0..b.num_rows() {
                let c = cols.creator(k);
                let at = (bi as u32, k as u32);
                match by_creator.get_mut(c) {
                    Some(v) => v.push(at),
                    None => {
                        by_creator.insert(c.to_string(), vec![at]);
                    }
                }
            }
        }
        Ok(FeedIndex {
            path,
            batches,
            by_creator,
        })
    }

    /// The creator's items, in file order (none for an unknown creator).
    pub fn rows_of(&self, creator_id: &str) -> Vec<FeedRow> {
        let Some(at) = self.by_creator.get(creator_id) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(at.len());
        for run in at.chunk_by(|x, y| x.0 == y.0) {
            let b = &self.batches[run[0].0 as usize];
            let cols = FeedColumns::of(b, &self.path).expect("checked in FeedIndex::read");
            out.extend(run.iter().map(|&(_, k)| cols.row(k as usize)));
        }
        out
    }
}

/// The day a served feed is judged at: the run's day plus the whole days
/// since the run was published (so a generation served a week after its
/// run is judged a week later; in tests, on the run's simulated day).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeedClock {
    pub run_day: i32,
    pub run_unix: i64,
    pub now_unix: i64,
    pub min_lead_days: i32,
}

impl FeedClock {
    /// The clock of generation manifest `m`, now (`None` only for a
    /// manifest whose `today` is not a date, which [`read_manifest`]
    /// refuses to return).
    pub fn of(m: &GenerationManifest) -> Option<FeedClock> {
        Some(FeedClock {
            run_day: cloutdesk_engine::schema::parse_date(&m.today)?,
            run_unix: m.created_at_unix,
            now_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            min_lead_days: m.options.min_lead_days,
        })
    }

    pub fn day(&self) -> i32 {
        let elapsed = (self.now_unix - self.run_unix).max(0) / 86_400;
        self.run_day
            .saturating_add(elapsed.min(i32::MAX as i64) as i32)
    }
}

/// What the served feed knows of a creator now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CreatorNow {
    /// No snapshot to check against.
    NotChecked,
    /// Not in the served snapshot.
    Gone,
    Terms(CreatorTerms),
}

impl CreatorNow {
    /// Creator `id` in the served snapshot `s`, if any.
    pub fn in_snapshot(s: Option<&Snapshot>, id: &str) -> CreatorNow {
        match s {
            None => CreatorNow::NotChecked,
            Some(s) => match s.ordinal(id) {
                None => CreatorNow::Gone,
                Some(o) => CreatorNow::Terms(s.creators.terms(o as usize)),
            },
        }
    }
}

/// Why a published feed item must no longer be shown, judged against what
/// changed since its run (the next run would drop it; until then the
/// served feed must not show it): the creator left the data, raised their
/// floor above the fee, or set their capacity to 0 (`creator`, as the
/// served snapshot has them); the campaign was deleted, paused or closed
/// (`store`, when the run ranked the store's campaigns); or the campaign
/// can no longer be delivered on `clock`'s day (content due in fewer than
/// the run's `min_lead_days`, or its posting window over: the rule the run
/// applied on its own day).
pub fn stale_reason(
    r: &FeedRow,
    creator: CreatorNow,
    store: Option<&crate::campaigns::CampaignStore>,
    clock: Option<FeedClock>,
) -> Option<&'static str> {
    if let Some(c) = clock {
        let day = c.day();
        if r.post_until_day.is_some_and(|d| d < day)
            || r.content_due_day.is_some_and(|d| d - day < c.min_lead_days)
        {
            return Some("deadline no longer feasible");
        }
    }
    match creator {
        CreatorNow::NotChecked => {}
        CreatorNow::Gone => return Some("creator no longer in the data"),
        CreatorNow::Terms(t) => {
            let fee_cents = cloutdesk_engine::pricing::cents_at_most(r.fee_usd);
            if t.min_fee_usd
                .is_some_and(|m| fee_cents < cloutdesk_engine::pricing::cents_at_least(m))
            {
                return Some("below the creator's floor");
            }
            if t.capacity == Some(0) {
                return Some("creator has no capacity");
            }
        }
    }
    // Paid usage rights as the campaign asks them now (the store's brief,
    // when the run ranked the store's campaigns), else as the run saw it.
    let mut paid_usage = r.paid_usage;
    if let Some(store) = store {
        let Some(c) = store.get(&r.org_id, &r.campaign_id) else {
            return Some("campaign deleted");
        };
        if c.status() != "open" {
            return Some("campaign not open");
        }
        paid_usage = c
            .brief
            .get("usage_rights")
            .and_then(|u| u.get("paid_usage"))
            .and_then(serde_json::Value::as_bool);
    }
    if let CreatorNow::Terms(t) = creator {
        // As the contract's rule: an unknown answer does not accept.
        if paid_usage == Some(true) && t.accepts_usage_rights != Some(true) {
            return Some("needs usage rights the creator refuses");
        }
    }
    None
}

/// One creator's feed from the published generation, as the API serves
/// it: without the items the creator declined since (the decline log is
/// read now) and without those [`stale_reason`] hides (the published
/// snapshot's creators table and the campaign store are read now). A
/// creator not in the published snapshot is an error.
pub fn creator_feed(data: &Path, creator_id: &str) -> anyhow::Result<(String, Vec<FeedRow>)> {
    if !cloutdesk_engine::schema::is_valid_id(creator_id) {
        bail!("--creator {creator_id:?} is not an id (1-64 characters of A-Z a-z 0-9 . _ -)");
    }
    let gen = current_generation(data)?.ok_or_else(|| {
        anyhow!(
            "no re-rank generation in {} yet: run `cloutdesk rerank --data {}` first",
            data.display(),
            data.display()
        )
    })?;
    let now = creator_now(data, creator_id)?;
    let manifest = read_manifest(data, &gen)?;
    let clock = FeedClock::of(&manifest);
    let store = if manifest.options.campaigns_from_store {
        Some(crate::campaigns::CampaignStore::open_read_only(data)?)
    } else {
        None
    };
    let declined = declines::read(data)?;
    let mut rows: Vec<FeedRow> = read_feeds_of(data, &gen, Some(creator_id))?
        .into_iter()
        .filter(|r| !declined.contains(&r.creator_id, &r.org_id, &r.campaign_id))
        .filter(|r| stale_reason(r, now, store.as_ref(), clock).is_none())
        .collect();
    rows.sort_by_key(|r| r.rank);
    Ok((gen, rows))
}

/// Creator `creator_id` as the published snapshot has them, read from its
/// creators table alone; an error when they are not in it.
fn creator_now(data: &Path, creator_id: &str) -> anyhow::Result<CreatorNow> {
    let dd = DataDir::open(data)?;
    let Some(id) = dd.current()? else {
        return Ok(CreatorNow::NotChecked);
    };
    let m = dd.manifest(&id)?;
    let entry = m
        .tables
        .get(cloutdesk_engine::snapshot::TABLE_CREATORS)
        .ok_or_else(|| anyhow!("snapshot {id}: its manifest lists no creators table"))?;
    let batch = dd.read_table(&id, entry)?;
    match CreatorTable::terms_in_batch(&batch, creator_id)? {
        Some(t) => Ok(CreatorNow::Terms(t)),
        None => bail!(
            "no creator {creator_id:?} in the published snapshot {id} of {}",
            data.display()
        ),
    }
}

// ------------------------------------------------------------ the run

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RerankReport {
    pub generation: String,
    pub manifest: GenerationManifest,
    pub campaigns_per_sec: f64,
    pub rounds: u32,
}

/// One campaign's scored, bounded pool.
/// A campaign's scored pool, kept compact between scoring and the
/// assignment: 10,000 campaigns x up to 4,000 creators are held at once, so
/// each creator costs its selection item (32 bytes) and its normalised text
/// score (4 bytes); the full [`Scored`] (88 bytes) is recomputed after the
/// assignment for the few creators chosen (`BriefScorer::score` is a pure
/// function of the creator, its text score and its cosine). Keeping the
/// full records took ~3.5 GB at 10,000 x 1M and most of the peak RSS.
struct Pool {
    /// Selection items (moved into the assignment's `CampaignPool`).
    items: Vec<Item>,
    /// Each item's text signal (its BM25 over the pool's best, clamped to
    /// [0, 1]): with the creator, all [`score_creator`] needs to give its
    /// `Scored` back exactly.
    text: Vec<f32>,
    /// Pool size before the items are moved out.
    len: usize,
    eligible: usize,
    mode: cloutdesk_engine::candidates::Mode,
    /// Ordinals in the pool, sorted (for the diff's "why").
    members: Vec<u32>,
}

/// Reads the raw campaigns: from `file` when given, else the open
/// campaigns of the campaign store (`crate::campaigns`), read-only, so the
/// server may keep writing meanwhile.
pub fn read_campaigns(data: &Path, file: Option<&Path>) -> anyhow::Result<Vec<(String, Value)>> {
    match file {
        Some(f) => {
            let raw = crate::briefs::read_brief_values(f)?;
            if raw.is_empty() {
                // Publishing it would close every campaign and empty every
                // feed: a truncated export must not do that. (Campaigns
                // are closed by closing them, in the store or the file.)
                bail!(
                    "{}: no campaigns in the file; nothing was published (to close campaigns, \
                     list them with \"status\": \"closed\")",
                    f.display()
                );
            }
            Ok(raw)
        }
        None => {
            let store = crate::campaigns::CampaignStore::open_read_only(data)
                .map_err(|e| anyhow!("campaign store in {}: {e}", data.display()))?;
            store_campaigns(&store, data)
        }
    }
}

/// The open campaigns of the data dir's campaign store, each named by
/// where it comes from. An empty store (none, or never written: a re-rank
/// run without `--campaigns` on a data dir ranked from files) is refused
/// as an empty campaigns file is: publishing it would close every
/// campaign and empty every feed. A store whose campaigns are all paused
/// or closed is not empty: that run publishes no selections, as asked.
pub fn store_campaigns(
    store: &crate::campaigns::CampaignStore,
    data: &Path,
) -> anyhow::Result<Vec<(String, Value)>> {
    if store.is_empty() {
        bail!(
            "the campaign store of {} holds no campaigns; nothing was published (pass \
             --campaigns FILE.jsonl, or add campaigns through the API; to close campaigns, \
             set their \"status\" to \"closed\")",
            data.display()
        );
    }
    Ok(store
        .all_open()
        .into_iter()
        .map(|(org, v)| {
            let id = v.get("campaign_id").and_then(Value::as_str).unwrap_or("?");
            (format!("campaign store {org}/{id}"), v)
        })
        .collect())
}

fn day_of(opts: &RerankOptions) -> anyhow::Result<i32> {
    match &opts.today {
        Some(s) => cloutdesk_engine::schema::parse_date(s)
            .ok_or_else(|| anyhow!("--today {s:?} is not a date (YYYY-MM-DD)")),
        None => Ok(today_utc()),
    }
}

/// Runs the re-rank on the published snapshot and publishes a generation.
pub fn rerank(
    data: &Path,
    raw: &[(String, Value)],
    opts: &RerankOptions,
    progress: &dyn Progress,
) -> anyhow::Result<RerankReport> {
    rerank_keeping(data, raw, opts, progress).map(|(_, r)| r)
}

/// [`rerank`], also handing back the snapshot it loaded and the run's
/// working state (the CLI leaves both to the operating system at exit
/// rather than free them).
fn rerank_keeping(
    data: &Path,
    raw: &[(String, Value)],
    opts: &RerankOptions,
    progress: &dyn Progress,
) -> anyhow::Result<((Arc<Snapshot>, RunState), RerankReport)> {
    let t_all = Instant::now();
    day_of(opts)?;
    let s = load_for_rerank(data, progress)?;
    let (r, state) = rerank_on(&s, data, raw, opts, progress, t_all)?;
    Ok(((s, state), r))
}

/// The published snapshot as [`rerank`] loads it: without the HNSW graph,
/// which the batch's candidate depths never search (they always take the
/// exact vector scan, see `OpenOptions::vector_graph`).
fn load_for_rerank(data: &Path, progress: &dyn Progress) -> anyhow::Result<Arc<Snapshot>> {
    progress.start("loading snapshot", None);
    let s = Snapshot::open_with(
        &DataDir::open(data)?,
        &SnapshotOpenOptions {
            vector_graph: false,
            graph_if_useful_for: None,
        },
    )?;
    progress.finish();
    Ok(s)
}

/// The run's large working state (pools, assignment, results, feeds,
/// diff), handed back by [`rerank_on`] instead of freed: the CLI leaves it
/// to the operating system at exit (freeing its millions of small
/// allocations one by one took most of a second at 10,000 x 1M); the
/// server drops it.
pub struct RunState(#[allow(dead_code)] Box<dyn std::any::Any>);

/// [`rerank`] on an already loaded snapshot (the server's served one),
/// also handing back the run's working state.
pub fn rerank_on(
    s: &Snapshot,
    data: &Path,
    raw: &[(String, Value)],
    opts: &RerankOptions,
    progress: &dyn Progress,
    t_all: Instant,
) -> anyhow::Result<(RerankReport, RunState)> {
    let mut timings: Vec<(String, f64)> = Vec::new();
    let mut t = t_all;
    let mut lap = |name: &str, t: &mut Instant| {
        timings.push((name.to_string(), t.elapsed().as_secs_f64()));
        *t = Instant::now();
    };
    let today = day_of(opts)?;
    opts.check()?;
    // Held until the generation is published (or the run fails).
    let lock = RunLock::take(data)?;
    progress.start("reading campaigns and history", None);
    // A campaign that does not validate against this snapshot (say, an
    // embedding of another length after a new load) is left out and
    // reported; it does not stop every other campaign's run.
    let (valid, invalid) = crate::briefs::validate_each(s, raw);
    // Open campaigns whose deadline has passed (content due in under
    // `min_lead_days`, or posting window over) are not re-ranked: none of
    // their offers could ever be shown, and assigning them would hold the
    // creators' capacity and new-offer slots for nothing.
    let (mut briefs, overdue): (Vec<CampaignBrief>, Vec<CampaignBrief>) = valid
        .into_iter()
        .filter(|b| b.status == CampaignStatus::Open)
        .partition(|b| deadline_feasible(b, today, opts.min_lead_days));
    let overdue: HashSet<(String, String)> = overdue
        .into_iter()
        .map(|b| (b.org_id, b.campaign_id))
        .collect();
    if briefs.is_empty() && overdue.is_empty() && !invalid.is_empty() {
        // Publishing would empty every creator's feed because of a data
        // change (say, embeddings of another length): refuse instead.
        bail!(
            "no campaign validates against the snapshot; nothing was published:\n  {}",
            invalid.join("\n  ")
        );
    }
    briefs.sort_by(|a, b| {
        a.campaign_id
            .cmp(&b.campaign_id)
            .then(a.org_id.cmp(&b.org_id))
    });
    // The same id in two orgs is two campaigns; twice in one org is an
    // input error (the campaign store cannot hold it; a campaigns file can),
    // reported with every place it appears.
    let mut places: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for (place, v) in raw {
        let field = |k: &str| v.get(k).and_then(Value::as_str);
        if let (Some(org), Some(id)) = (field("org_id"), field("campaign_id")) {
            places.entry((org, id)).or_default().push(place);
        }
    }
    let repeated: Vec<String> = places
        .iter()
        .filter(|(_, at)| at.len() > 1)
        .map(|((org, id), at)| {
            format!(
                "campaign {id:?} of org {org:?} appears {} times: {}",
                at.len(),
                at.join(", ")
            )
        })
        .collect();
    if !repeated.is_empty() {
        bail!(
            "a campaign is listed more than once; nothing was published:\n  {}",
            repeated.join("\n  ")
        );
    }
    let declined = declines::read(data)?;
    let parent = current_generation(data)?;
    let (prev_sel, prev_feed) = match &parent {
        Some(g) => (read_selections(data, g)?, FirstShown::read(data, g)?),
        None => (Vec::new(), FirstShown::none()),
    };
    let prev_by_campaign = selections_by_campaign(&prev_sel);
    let first_shown = prev_feed.map();
    // A second run on the same day: what the day's earlier runs showed
    // counts toward its limit (`SHOWN_TODAY`).
    let parent_manifest = match &parent {
        Some(g) => Some(read_manifest(data, g)?),
        None => None,
    };
    let shown_before: Option<HashMap<String, usize>> = match (&parent, &parent_manifest) {
        (Some(g), Some(pm)) if cloutdesk_engine::schema::parse_date(&pm.today) == Some(today) => {
            Some(shown_today_of(data, g, today, &prev_feed)?)
        }
        _ => None,
    };
    // The campaigns the parent ranked, also those it chose no one for (the
    // diff tells a new campaign from one that had nobody).
    let ranked_before: HashSet<(String, String)> = parent_manifest
        .map(|m| m.ranked.into_iter().collect())
        .unwrap_or_default();
    progress.finish();
    lap("load", &mut t);

    // --- score: hard rules, candidates, signals per campaign (parallel)
    progress.start("scoring campaigns", Some(briefs.len() as u64));
    let matcher = Matcher::default();
    // The briefs' candidate scans share passes over the creators, a batch
    // of briefs at a time (`Matcher::map_batches`); each batch's pools are
    // cut to their best before the next batch is scored.
    let mut pools: Vec<Pool> = matcher.map_batches(s, &briefs, |sc, pool| {
        let b = sc.b;
        let banned: HashSet<u32> = declined
            .creators_of(&b.org_id, &b.campaign_id)
            .filter_map(|id| s.ordinal(id))
            .collect();
        let scored: Vec<Scored> = pool
            .scored
            .into_iter()
            .filter(|x| !banned.contains(&x.ordinal))
            .collect();
        let k = opts
            .pool_min
            .max(8usize.saturating_mul(b.creators_wanted as usize));
        let scored = truncate_pool(scored, k, |x| x.value, |x| x.fee_cents, |x| x.ordinal);
        let mut members: Vec<u32> = scored.iter().map(|x| x.ordinal).collect();
        members.sort_unstable();
        progress.inc(1);
        Pool {
            items: Matcher::items(&scored),
            text: scored.iter().map(|x| x.signals.text).collect(),
            len: scored.len(),
            eligible: pool.eligible,
            mode: pool.mode,
            members,
        }
    });
    progress.finish();
    lap("score", &mut t);

    // --- assign across campaigns
    progress.start("global assignment", None);
    let cpools: Vec<CampaignPool> = briefs
        .par_iter()
        .zip(&mut pools)
        .map(|(b, p)| CampaignPool {
            items: std::mem::take(&mut p.items),
            budget_cents: b.budget_cents(),
            wanted: b.creators_wanted as usize,
            caps: Matcher::caps(b),
            previous: previous_of(&prev_by_campaign, b)
                .map(|v| v.iter().filter_map(|r| s.ordinal(&r.creator_id)).collect())
                .unwrap_or_default(),
        })
        .collect();
    let aopts = AssignOptions {
        max_new_offers: opts.max_new_offers,
    };
    let a = assign(&cpools, &s.hot.capacity, &aopts);
    let alone = alone_feasible(&cpools, &a, &s.hot.capacity, &aopts);
    progress.finish();
    lap("assign", &mut t);

    // --- explain: the contract's match result per campaign
    progress.start("explaining selections", Some(briefs.len() as u64));
    let (results, chosen_scored): (Vec<MatchResult>, Vec<Vec<Scored>>) = briefs
        .par_iter()
        .enumerate()
        .map(|(c, b)| {
            let r = explain(
                s,
                b,
                &pools[c],
                &cpools[c],
                &a.campaigns[c].chosen,
                a.campaigns[c].value,
            );
            progress.inc(1);
            r
        })
        .unzip();
    progress.finish();
    lap("explain", &mut t);

    // --- feeds
    progress.start("building feeds", None);
    let offers: Vec<Offer> = chosen_scored
        .iter()
        .enumerate()
        .flat_map(|(c, xs)| {
            // In the order of the campaign's `chosen`.
            xs.iter().map(move |x| Offer {
                campaign: c as u32,
                ordinal: x.ordinal,
                fee_cents: x.fee_cents,
                niche_fit: x.signals.niche,
            })
        })
        .collect();
    let is_declined = |cr: &str, org: &str, ca: &str| declined.contains(cr, org, ca);
    let shown = |cr: &str, org: &str, ca: &str| first_shown.get(&(cr, (org, ca))).copied();
    let shown_today = |cr: &str| {
        shown_before
            .as_ref()
            .and_then(|m| m.get(cr).copied())
            .unwrap_or(0)
    };
    let history = FeedHistory {
        declined: &is_declined,
        first_shown: &shown,
        shown_today: &shown_today,
    };
    let fopts = FeedOptions {
        per_day: opts.feed_per_day,
        max_items: opts.feed_max_items,
        today,
        min_lead_days: opts.min_lead_days,
    };
    let feeds = build_feeds(s, &briefs, &offers, &history, &fopts);
    let mut fcounts = FeedCounts::default();
    for f in &feeds {
        if !f.items.is_empty() {
            fcounts.creators += 1;
        }
        fcounts.items += f.items.len();
        fcounts.deferred += f.deferred;
        for (_, e) in &f.excluded {
            *fcounts.excluded.entry(e.as_str().to_string()).or_default() += 1;
        }
    }
    progress.finish();
    lap("feed", &mut t);

    // --- diff against the parent generation
    progress.start("diffing", None);
    let diff = diff_rows(
        s,
        &briefs,
        &pools,
        &a.campaigns,
        &results,
        &Before {
            prev: &prev_sel,
            ranked: &ranked_before,
            declined: &declined,
            overdue: &overdue,
        },
    );
    let dcounts = DiffCounts {
        entered: diff.iter().filter(|d| d.change == "entered").count(),
        left: diff.iter().filter(|d| d.change == "left").count(),
        moved: diff.iter().filter(|d| d.change == "moved").count(),
    };
    progress.finish();
    lap("diff", &mut t);

    // --- write and publish the generation
    progress.start("writing generation", Some(5));
    let mut w = GenerationWriter::begin(data, lock)?;
    cloutdesk_engine::failpoint("rerank_after_begin");
    // The four files are encoded and written at once, each encoder and
    // writer on its own (the parquet encoders are sequential; the match
    // results are serialised a slice of campaigns at a time, in parallel,
    // and streamed to their file), so one file's fsync overlaps the
    // others' encoding.
    let gen_id = w.id.clone();
    let encoded = |name: &'static str, bytes: anyhow::Result<Vec<u8>>| {
        let entry = write_synced_parts(&w.path(name), &[bytes?])?;
        progress.inc(1);
        anyhow::Ok((name, entry))
    };
    let (jsonl, (selections, (feeds_file, diff_file))) = rayon::join(
        || {
            let name = "match_results.jsonl";
            let entry = write_match_results(&w.path(name), &briefs, &results, &gen_id)?;
            progress.inc(1);
            anyhow::Ok((name, entry))
        },
        || {
            rayon::join(
                || {
                    encoded(
                        "selections.parquet",
                        selections_batch(&briefs, &results).and_then(|b| parquet_bytes(&b)),
                    )
                },
                || {
                    rayon::join(
                        || {
                            encoded(
                                "feeds.parquet",
                                feeds_batch(s, &briefs, &feeds).and_then(|b| parquet_bytes(&b)),
                            )
                        },
                        || {
                            encoded(
                                "diff.parquet",
                                diff_batch(&diff).and_then(|b| parquet_bytes(&b)),
                            )
                        },
                    )
                },
            )
        },
    );
    for file in [jsonl, selections, feeds_file, diff_file] {
        let (name, entry) = file?;
        w.record(name, entry);
    }
    if let Some(before) = &shown_before {
        // The day's counts so far: the earlier runs', raised by this one's
        // for the creators it built feeds for.
        let mut counts = before.clone();
        for f in &feeds {
            if f.shown_today > 0 {
                counts.insert(
                    s.creators.creator_id[f.ordinal as usize].clone(),
                    f.shown_today,
                );
            }
        }
        let bytes = parquet_bytes(&shown_today_batch(&counts)?)?;
        let entry = write_synced_parts(&w.path(SHOWN_TODAY), &[bytes])?;
        w.record(SHOWN_TODAY, entry);
    }
    cloutdesk_engine::failpoint("rerank_after_files");
    lap("write", &mut t);
    let pairs: usize = a.campaigns.iter().map(|c| c.chosen.len()).sum();
    let creators_with_offers = offers
        .iter()
        .map(|o| o.ordinal)
        .collect::<HashSet<_>>()
        .len();
    let m = GenerationManifest {
        format: FORMAT,
        id: w.id.clone(),
        parent: parent.clone(),
        snapshot: s.id.clone(),
        today: cloutdesk_engine::schema::format_date(today),
        created_at_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
        options: opts.clone(),
        campaigns: briefs.len(),
        past_deadline: overdue.len(),
        invalid,
        creators: s.len(),
        pairs,
        creators_with_offers,
        rounds: a.rounds,
        total_value: a.total_value,
        alone: AloneFigures {
            raw_value: alone.raw_value,
            feasible_value: alone.feasible_value,
            offers: alone.offers,
            overcommitted_offers: alone.overcommitted_offers,
        },
        diff: dcounts,
        feeds: fcounts,
        timings: timings.clone(),
        files: BTreeMap::new(),
        ranked: briefs
            .iter()
            .map(|b| (b.org_id.clone(), b.campaign_id.clone()))
            .collect(),
    };
    let id = w.publish(m, opts.keep)?;
    progress.inc(1);
    progress.finish();
    let manifest = read_manifest(data, &id)?;
    let secs = t_all.elapsed().as_secs_f64();
    let report = RerankReport {
        generation: id,
        rounds: manifest.rounds,
        campaigns_per_sec: briefs.len() as f64 / secs.max(1e-9),
        manifest,
    };
    let state = RunState(Box::new((
        pools,
        cpools,
        a,
        results,
        chosen_scored,
        offers,
        feeds,
        diff,
        briefs,
    )));
    Ok((report, state))
}

/// The contract's match result for a campaign's assigned portfolio
/// (presented best score first, as `Matcher::select` does), and the chosen
/// creators' signals in the order of `chosen`: recomputed exactly as the
/// scoring pass computed them (same creator, text score and cosine).
fn explain(
    s: &Snapshot,
    b: &CampaignBrief,
    p: &Pool,
    cp: &CampaignPool,
    chosen: &[usize],
    value: f64,
) -> (MatchResult, Vec<Scored>) {
    let sc = BriefScorer::new(b, s);
    let scored: Vec<Scored> = chosen
        .iter()
        .map(|&idx| {
            let it = &cp.items[idx];
            let o = it.ordinal;
            let x = score_creator(&sc, o, p.text[idx]);
            // An invariant, checked always (one comparison per chosen
            // creator): a fee or value that differed from what the
            // assignment used would be a wrong offer.
            assert!(
                x.value.to_bits() == it.value.to_bits() && x.fee_cents == it.cost_cents,
                "creator {o}: recomputed signals differ from the scoring pass's"
            );
            x
        })
        .collect();
    let mut order: Vec<usize> = (0..chosen.len()).collect();
    order.sort_by(|&x, &y| {
        scored[y]
            .score
            .total_cmp(&scored[x].score)
            .then(scored[x].ordinal.cmp(&scored[y].ordinal))
    });
    let ranked: Vec<(&Scored, u32)> = order
        .iter()
        .map(|&k| (&scored[k], cp.items[chosen[k]].cell))
        .collect();
    let (selected, unique_reach) = present(&sc, &ranked);
    let fee_cents: u64 = scored.iter().map(|x| x.fee_cents).sum();
    let result = MatchResult {
        campaign_id: b.campaign_id.clone(),
        snapshot: s.id.clone(),
        totals: Totals {
            creators: selected.len(),
            fee_usd: fee_cents as f64 / 100.0,
            // + 0.0: an empty sum is -0.0, which prints as "-0".
            expected_engagements: selected.iter().map(|c| c.expected_engagements).sum::<f64>()
                + 0.0,
            estimated_unique_reach: unique_reach,
            budget_usd: b.budget_usd,
            value,
        },
        selected,
        brief_missing: b.missing(),
        stats: MatchStats {
            eligible: p.eligible,
            candidates: p.len,
            took_ms: 0.0,
            mode: p.mode,
        },
    };
    (result, scored)
}

/// A column of a generation file: its name and how to build it.
type Column<'a> = (String, Box<dyn Fn() -> ArrayRef + Sync + 'a>);

/// The batch of `columns`, each built on its own (in parallel): the files
/// of a 10,000 x 1M run hold 795,023 rows.
fn batch_of(columns: Vec<Column<'_>>) -> anyhow::Result<RecordBatch> {
    let arrays: Vec<ArrayRef> = columns.par_iter().map(|(_, f)| f()).collect();
    make_batch(
        columns
            .iter()
            .zip(arrays)
            .map(|((n, _), a)| (n.as_str(), a))
            .collect(),
    )
}

/// Column `name` of `f` of each row, made into an array by `make`.
fn col_of<'a, T: Sync, V: 'a>(
    name: &str,
    rows: &'a [T],
    f: impl Fn(&T) -> V + Sync + 'a,
    make: fn(&[V]) -> ArrayRef,
) -> Column<'a> {
    let build = move || make(&rows.iter().map(&f).collect::<Vec<_>>());
    (name.to_string(), Box::new(build))
}

/// A date column of days since the epoch (`i32`, or `Option<i32>` for
/// unknown dates).
fn date_col<T: Clone>(days: &[T]) -> ArrayRef
where
    Date32Array: From<Vec<T>>,
{
    Arc::new(Date32Array::from(days.to_vec()))
}

/// Column `name` of the strings `f` borrows from each row.
fn strs_of<'a, T: Sync>(name: &str, rows: &'a [T], f: fn(&T) -> &str) -> Column<'a> {
    let build = move || cloutdesk_engine::arrow_io::str_col_of(rows.iter().map(f));
    (name.to_string(), Box::new(build))
}

/// Column `name` (`list<utf8>`) of the lists `f` borrows from each row.
fn lists_of<'a, T: Sync, S: AsRef<str> + 'a>(
    name: &str,
    rows: &'a [T],
    f: fn(&T) -> &[S],
) -> Column<'a> {
    let build = move || {
        cloutdesk_engine::arrow_io::list_str_col_of(&rows.iter().map(f).collect::<Vec<_>>())
    };
    (name.to_string(), Box::new(build))
}

fn selections_batch(
    briefs: &[CampaignBrief],
    results: &[MatchResult],
) -> anyhow::Result<RecordBatch> {
    // `results[c]` is `briefs[c]`'s.
    let rows: Vec<(CampaignKey<'_>, &SelectedCreator)> = briefs
        .iter()
        .zip(results)
        .flat_map(|(b, r)| {
            r.selected
                .iter()
                .map(move |c| ((b.org_id.as_str(), r.campaign_id.as_str()), c))
        })
        .collect();
    let rows = &rows[..];
    let mut columns: Vec<Column<'_>> = vec![
        strs_of("campaign_id", rows, |r| r.0 .1),
        strs_of("org_id", rows, |r| r.0 .0),
        col_of("rank", rows, |r| r.1.rank, u32_col),
        strs_of("creator_id", rows, |r| &r.1.creator_id),
        col_of("score", rows, |r| r.1.score, f32_col),
        col_of("fee_usd", rows, |r| r.1.fee_usd, f64_col),
        col_of(
            "expected_engagements",
            rows,
            |r| r.1.expected_engagements,
            f64_col,
        ),
        col_of("value", rows, |r| r.1.value, f64_col),
    ];
    for (n, f) in Signals::CORE {
        columns.push(col_of(
            &format!("signal_{n}"),
            rows,
            move |r| f(&r.1.signals),
            f32_col,
        ));
    }
    columns.push(lists_of("reasons", rows, |r| &r.1.reasons));
    batch_of(columns)
}

fn feeds_batch(
    s: &Snapshot,
    briefs: &[CampaignBrief],
    feeds: &[cloutdesk_engine::feed::CreatorFeed],
) -> anyhow::Result<RecordBatch> {
    use cloutdesk_engine::brief::Timeline;
    use cloutdesk_engine::feed::FeedItem;
    // Each item with its campaign's brief.
    let items: Vec<(&FeedItem, &CampaignBrief)> = feeds
        .iter()
        .flat_map(|f| &f.items)
        .map(|i| (i, &briefs[i.campaign as usize]))
        .collect();
    let items = &items[..];
    let ids = &s.creators.creator_id;
    let timeline = |name: &str, f: fn(&Timeline) -> Option<i32>| {
        col_of(
            name,
            items,
            move |i| i.1.timeline.as_ref().and_then(f),
            date_col,
        )
    };
    let mut columns: Vec<Column<'_>> = vec![
        (
            "creator_id".into(),
            Box::new(move || {
                cloutdesk_engine::arrow_io::str_col_of(
                    items.iter().map(|i| ids[i.0.ordinal as usize].as_str()),
                )
            }),
        ),
        col_of("rank", items, |i| i.0.rank, u32_col),
        strs_of("campaign_id", items, |i| &i.1.campaign_id),
        strs_of("org_id", items, |i| &i.1.org_id),
        strs_of("brand", items, |i| &i.1.brand),
        strs_of("title", items, |i| &i.1.title),
        col_of("score", items, |i| i.0.score, f32_col),
        col_of("fee_usd", items, |i| i.0.fee_usd, f64_col),
    ];
    for (k, n) in FeedSignals::NAMES.iter().enumerate() {
        columns.push(col_of(
            &format!("signal_{n}"),
            items,
            move |i| i.0.signals.values()[k],
            f32_col,
        ));
    }
    columns.push(lists_of("reasons", items, |i| &i.0.reasons));
    columns.push(lists_of("missing", items, |i| &i.0.missing));
    columns.push(col_of(
        "first_shown",
        items,
        |i| i.0.first_shown_day,
        date_col,
    ));
    columns.push(timeline("content_due", |t| t.content_due));
    columns.push(timeline("post_until", |t| t.post_until));
    columns.push(col_of(
        "paid_usage",
        items,
        |i| i.1.usage_rights.as_ref().map(|u| u.paid_usage),
        |v: &[Option<bool>]| Arc::new(arrow_array::BooleanArray::from(v.to_vec())) as ArrayRef,
    ));
    batch_of(columns)
}

/// One change between two generations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffRow {
    pub campaign_id: String,
    /// The campaign's org ("" in generations written before the column).
    pub org_id: String,
    pub creator_id: String,
    /// `entered`, `left` or `moved`.
    pub change: &'static str,
    pub old_rank: Option<u32>,
    pub new_rank: Option<u32>,
    pub why: String,
}

/// The previous generation's selections by campaign key; rows of
/// generations written before the org column have org "".
fn selections_by_campaign(prev: &[SelectionRow]) -> HashMap<CampaignKey<'_>, Vec<&SelectionRow>> {
    let mut m: HashMap<CampaignKey<'_>, Vec<&SelectionRow>> = HashMap::new();
    for r in prev {
        m.entry((r.org_id.as_str(), r.campaign_id.as_str()))
            .or_default()
            .push(r);
    }
    m
}

/// Campaign `b`'s previous selection: by (org, id), else (a generation
/// without the org column) by id alone.
fn previous_of<'m, 'r>(
    m: &'m HashMap<CampaignKey<'r>, Vec<&'r SelectionRow>>,
    b: &'r CampaignBrief,
) -> Option<&'m Vec<&'r SelectionRow>> {
    m.get(&(b.org_id.as_str(), b.campaign_id.as_str()))
        .or_else(|| m.get(&("", b.campaign_id.as_str())))
}

/// What the diff compares a run with: the parent generation's
/// selections, the declined (creator, campaign) pairs and the open
/// campaigns left out as overdue ((org, campaign) pairs).
struct Before<'a> {
    prev: &'a [SelectionRow],
    /// (org, campaign) of every campaign the parent ranked (empty for a
    /// parent written before the manifest listed them).
    ranked: &'a HashSet<(String, String)>,
    declined: &'a declines::Declined,
    overdue: &'a HashSet<(String, String)>,
}

fn diff_rows(
    s: &Snapshot,
    briefs: &[CampaignBrief],
    pools: &[Pool],
    outcomes: &[cloutdesk_engine::assign::CampaignOutcome],
    results: &[MatchResult],
    before_run: &Before<'_>,
) -> Vec<DiffRow> {
    let Before {
        prev,
        ranked,
        declined,
        overdue,
    } = *before_run;
    let by_campaign = selections_by_campaign(prev);
    // A campaign's previous selection: `None` for a campaign new to this
    // run, empty for one the parent ranked but chose no one for.
    let prev_of: Vec<Option<HashMap<&str, &SelectionRow>>> = briefs
        .par_iter()
        .map(|b| {
            previous_of(&by_campaign, b)
                .map(|v| v.iter().map(|r| (r.creator_id.as_str(), *r)).collect())
                .or_else(|| {
                    ranked
                        .contains(&(b.org_id.clone(), b.campaign_id.clone()))
                        .then(HashMap::new)
                })
        })
        .collect();
    // Previous rows some campaign of this run took over.
    let taken: HashSet<*const SelectionRow> = briefs
        .iter()
        .filter_map(|b| previous_of(&by_campaign, b))
        .flat_map(|v| v.iter().map(|r| *r as *const SelectionRow))
        .collect();
    // Campaigns in this run, each on its own (in parallel), in run order.
    let per_campaign: Vec<Vec<DiffRow>> = results
        .par_iter()
        .enumerate()
        .map(|(c, r)| {
            let mut out: Vec<DiffRow> = Vec::new();
            let org_id = briefs[c].org_id.clone();
            let before = prev_of[c].as_ref();
            let lost: HashMap<u32, Limit> = outcomes[c].lost.iter().copied().collect();
            let now: HashMap<&str, &SelectedCreator> = r
                .selected
                .iter()
                .map(|x| (x.creator_id.as_str(), x))
                .collect();
            // Position among the creators in both generations: a creator
            // "moved" when its order against those changed, not when others
            // merely entered or left around it.
            let common_new: HashMap<&str, usize> = r
                .selected
                .iter()
                .filter(|x| before.is_some_and(|m| m.contains_key(x.creator_id.as_str())))
                .enumerate()
                .map(|(k, x)| (x.creator_id.as_str(), k))
                .collect();
            let common_old: HashMap<&str, usize> = before
                .map(|m| {
                    let mut v: Vec<&&SelectionRow> = m
                        .values()
                        .filter(|p| common_new.contains_key(p.creator_id.as_str()))
                        .collect();
                    v.sort_by_key(|p| p.rank);
                    v.into_iter()
                        .enumerate()
                        .map(|(k, p)| (p.creator_id.as_str(), k))
                        .collect()
                })
                .unwrap_or_default();
            for x in &r.selected {
                match before.and_then(|m| m.get(x.creator_id.as_str())) {
                    None => out.push(DiffRow {
                        campaign_id: r.campaign_id.clone(),
                        org_id: org_id.clone(),
                        creator_id: x.creator_id.clone(),
                        change: "entered",
                        old_rank: None,
                        new_rank: Some(x.rank),
                        why: if before.is_none() {
                            format!("new campaign; score {:.3}", x.score)
                        } else {
                            format!(
                                "chosen at rank {}: score {:.3}, value {:.0} for ${:.0}",
                                x.rank, x.score, x.value, x.fee_usd
                            )
                        },
                    }),
                    Some(p)
                        if common_old.get(x.creator_id.as_str())
                            != common_new.get(x.creator_id.as_str()) =>
                    {
                        out.push(DiffRow {
                            campaign_id: r.campaign_id.clone(),
                            org_id: org_id.clone(),
                            creator_id: x.creator_id.clone(),
                            change: "moved",
                            old_rank: Some(p.rank),
                            new_rank: Some(x.rank),
                            why: if (p.score - x.score).abs() >= 0.0005 {
                                format!("score {:.3} -> {:.3} (the data changed)", p.score, x.score)
                            } else {
                                "others' scores changed around it".to_string()
                            },
                        })
                    }
                    Some(_) => {}
                }
            }
            if let Some(m) = before {
                let mut gone: Vec<&&SelectionRow> = m
                    .values()
                    .filter(|p| !now.contains_key(p.creator_id.as_str()))
                    .collect();
                gone.sort_by_key(|p| p.rank);
                for p in gone {
                    let why = match s.ordinal(&p.creator_id) {
                        _ if declined.contains(
                            &p.creator_id,
                            &briefs[c].org_id,
                            &p.campaign_id,
                        ) =>
                        {
                            "the creator declined".to_string()
                        }
                        None => "the creator is no longer in the data".to_string(),
                        Some(o) => {
                            let broken = check_one(&briefs[c], s, o as usize);
                            if !broken.is_empty() {
                                format!("no longer eligible: breaks {broken:?}")
                            } else if let Some(l) = lost.get(&o) {
                                format!(
                                "went to campaigns valuing the creator more (its {} limit is full)",
                                match l {
                                    Limit::Capacity => "capacity",
                                    Limit::NewOffers => "new-offers-per-run",
                                }
                            )
                            } else if pools[c].members.binary_search(&o).is_ok() {
                                "outranked: the campaign's budget and slots went to creators \
                                 giving more value per dollar"
                                    .to_string()
                            } else {
                                "no longer among the campaign's best candidates".to_string()
                            }
                        }
                    };
                    out.push(DiffRow {
                        campaign_id: r.campaign_id.clone(),
                        org_id: org_id.clone(),
                        creator_id: p.creator_id.clone(),
                        change: "left",
                        old_rank: Some(p.rank),
                        new_rank: None,
                        why,
                    });
                }
            }
            out
        })
        .collect();
    let mut out: Vec<DiffRow> = per_campaign.into_iter().flatten().collect();
    // Campaigns gone from this run.
    let mut gone: Vec<&SelectionRow> = prev
        .iter()
        .filter(|p| !taken.contains(&(*p as *const SelectionRow)))
        .collect();
    gone.sort_by(|a, b| {
        a.campaign_id
            .cmp(&b.campaign_id)
            .then(a.org_id.cmp(&b.org_id))
            .then(a.rank.cmp(&b.rank))
    });
    for p in gone {
        out.push(DiffRow {
            campaign_id: p.campaign_id.clone(),
            org_id: p.org_id.clone(),
            creator_id: p.creator_id.clone(),
            change: "left",
            old_rank: Some(p.rank),
            new_rank: None,
            why: if overdue.contains(&(p.org_id.clone(), p.campaign_id.clone())) {
                "the campaign's deadline has passed".to_string()
            } else {
                "the campaign is no longer open (closed, paused, deleted or invalid)".to_string()
            },
        });
    }
    out
}

fn diff_batch(rows: &[DiffRow]) -> anyhow::Result<RecordBatch> {
    let opt_u32 = |f: &dyn Fn(&DiffRow) -> Option<u32>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<UInt32Array>())
    };
    make_batch(vec![
        (
            "campaign_id",
            str_col(
                &rows
                    .iter()
                    .map(|r| r.campaign_id.clone())
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "org_id",
            str_col(&rows.iter().map(|r| r.org_id.clone()).collect::<Vec<_>>()),
        ),
        (
            "creator_id",
            str_col(
                &rows
                    .iter()
                    .map(|r| r.creator_id.clone())
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "change",
            str_col(
                &rows
                    .iter()
                    .map(|r| r.change.to_string())
                    .collect::<Vec<_>>(),
            ),
        ),
        ("old_rank", opt_u32(&|r| r.old_rank)),
        ("new_rank", opt_u32(&|r| r.new_rank)),
        (
            "why",
            str_col(&rows.iter().map(|r| r.why.clone()).collect::<Vec<_>>()),
        ),
    ])
}

/// Reads a generation's diff.
pub fn read_diff(data: &Path, gen: &str) -> anyhow::Result<Vec<DiffRow>> {
    let p = generation_dir(data, gen).join("diff.parquet");
    let mut out = Vec::new();
    for b in read_parquet(&p)? {
        let c = Columns {
            table: "diff",
            batch: &b,
        };
        let orgs = optional_strings(&p, &c, "org_id", b.num_rows())?;
        let in_file = |e: cloutdesk_engine::storage::StorageError| anyhow!("{}: {e}", p.display());
        let (ca, cr, ch, why) = (
            c.strings("campaign_id").map_err(in_file)?,
            c.strings("creator_id").map_err(in_file)?,
            c.strings("change").map_err(in_file)?,
            c.strings("why").map_err(in_file)?,
        );
        let (o, n) = (
            c.opt_u32s("old_rank").map_err(in_file)?,
            c.opt_u32s("new_rank").map_err(in_file)?,
        );
        for k in 0..b.num_rows() {
            out.push(DiffRow {
                campaign_id: ca[k].clone(),
                org_id: orgs[k].clone(),
                creator_id: cr[k].clone(),
                change: match ch[k].as_str() {
                    "entered" => "entered",
                    "left" => "left",
                    "moved" => "moved",
                    other => bail!(
                        "{}: row {}: column `change`: {other:?} is not entered, left or moved",
                        p.display(),
                        out.len() + 1
                    ),
                },
                old_rank: o[k],
                new_rank: n[k],
                why: why[k].clone(),
            });
        }
    }
    Ok(out)
}

/// The run summary for the terminal.
pub fn report_text(r: &RerankReport) -> String {
    use std::fmt::Write;
    let m = &r.manifest;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "published generation {}{} (snapshot {}, day {})",
        m.id,
        m.parent
            .as_ref()
            .map(|p| format!(" (parent {p})"))
            .unwrap_or_default(),
        m.snapshot,
        m.today
    );
    let _ = writeln!(
        s,
        "  {} campaigns x {} creators: {} pairs assigned to {} creators in {} rounds",
        m.campaigns, m.creators, m.pairs, m.creators_with_offers, m.rounds
    );
    if !m.invalid.is_empty() {
        let _ = writeln!(
            s,
            "  campaigns left out as invalid against the snapshot:\n    {}",
            m.invalid.join("\n    ")
        );
    }
    if m.past_deadline > 0 {
        let _ = writeln!(
            s,
            "  {} open campaigns past their deadline left out (no offer of theirs could be shown)",
            m.past_deadline
        );
    }
    let _ = writeln!(
        s,
        "  total value {:.0}; each campaign alone: {:.0} as planned ({} of {} offers beyond creators' limits), {:.0} feasible -> global is {:+.1}% vs feasible alone",
        m.total_value,
        m.alone.raw_value,
        m.alone.overcommitted_offers,
        m.alone.offers,
        m.alone.feasible_value,
        if m.alone.feasible_value > 0.0 {
            (m.total_value / m.alone.feasible_value - 1.0) * 100.0
        } else {
            0.0
        }
    );
    let _ = writeln!(
        s,
        "  feeds: {} creators, {} items, {} held back by the daily limit, excluded {:?}",
        m.feeds.creators, m.feeds.items, m.feeds.deferred, m.feeds.excluded
    );
    let _ = writeln!(
        s,
        "  diff vs parent: {} entered, {} left, {} moved",
        m.diff.entered, m.diff.left, m.diff.moved
    );
    let total = m.total_secs();
    let _ = writeln!(
        s,
        "  {:.2} s, {:.0} campaigns/s; stages: {}",
        total,
        r.campaigns_per_sec,
        m.timings
            .iter()
            .map(|(k, v)| format!("{k} {v:.2}s ({:.0}%)", 100.0 * v / total.max(1e-9)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s
}

/// A creator's feed for the terminal.
pub fn feed_text(creator_id: &str, gen: &str, rows: &[FeedRow]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "feed of {creator_id} (generation {gen}): {} items",
        rows.len()
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:>3}. {:<18} {:<20} ${:>8.2}  score {:.3}  first shown {}",
            r.rank, r.campaign_id, r.brand, r.fee_usd, r.score, r.first_shown
        );
        let _ = writeln!(s, "     {}", r.title);
        for why in &r.reasons {
            let _ = writeln!(s, "     + {why}");
        }
        if !r.missing.is_empty() {
            let _ = writeln!(s, "     brief is missing: {}", r.missing.join(", "));
        }
    }
    s
}

/// A creator's feed on the wire (the API and `cloutdesk feed --json`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FeedResponse {
    pub creator_id: String,
    /// The re-rank generation the feed comes from.
    pub generation: String,
    /// Best first; declined items are never included.
    pub items: Vec<FeedRow>,
}

/// A creator's feed as the API prints it (`GET /v1/creators/{id}/feed`):
/// serialized from the response struct, so its `f32` values print as the
/// API's do (0.85731375, not widened through `f64` to 0.8573137521743774).
pub fn feed_json(creator_id: &str, gen: &str, rows: &[FeedRow]) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&FeedResponse {
        creator_id: creator_id.to_string(),
        generation: gen.to_string(),
        items: rows.to_vec(),
    })
}

// ------------------------------------------------------------ CLI

/// `cloutdesk rerank`
#[derive(Debug, Clone, clap::Args)]
pub struct RerankArgs {
    #[arg(long)]
    pub data: PathBuf,
    /// Campaign briefs (JSON Lines); default: the stored open campaigns.
    #[arg(long)]
    pub campaigns: Option<PathBuf>,
    /// New offers per creator per run, across all campaigns.
    #[arg(long, default_value_t = 3)]
    pub max_new_offers: u32,
    /// New feed items per creator per day.
    #[arg(long, default_value_t = 5)]
    pub feed_per_day: usize,
    /// Items in a creator's feed at most.
    #[arg(long, default_value_t = 20)]
    pub feed_max_items: usize,
    /// Fewest days before content is due for an offer to be feasible.
    /// (Negative numbers are taken as values, so `--min-lead-days -1`
    /// gets the option's own refusal, not a parse error.)
    #[arg(long, default_value_t = 3, allow_negative_numbers = true)]
    pub min_lead_days: i32,
    /// The run's day (YYYY-MM-DD; default today, UTC).
    #[arg(long)]
    pub today: Option<String>,
    /// Smallest pool kept per campaign for the assignment.
    #[arg(long, default_value_t = 2000)]
    pub pool_min: usize,
    /// Generations to keep.
    #[arg(long, default_value_t = 3)]
    pub keep: usize,
    /// Print the generation's manifest as JSON.
    #[arg(long)]
    pub json: bool,
}

impl RerankArgs {
    pub fn options(&self) -> RerankOptions {
        RerankOptions {
            max_new_offers: self.max_new_offers,
            feed_per_day: self.feed_per_day,
            feed_max_items: self.feed_max_items,
            min_lead_days: self.min_lead_days,
            today: self.today.clone(),
            pool_min: self.pool_min,
            keep: self.keep,
            campaigns_from_store: self.campaigns.is_none(),
        }
    }
}

pub fn run_rerank_cli(a: &RerankArgs) -> anyhow::Result<()> {
    // Options first: a bad one is named before any file is read.
    a.options().check()?;
    let raw = read_campaigns(&a.data, a.campaigns.as_deref())?;
    let bars = crate::progress::Bars::new(a.json);
    let (s, r) = rerank_keeping(&a.data, &raw, &a.options(), &bars)?;
    if a.json {
        // The manifest without its list of every campaign ranked (in the
        // generation's manifest.json; thousands of lines here).
        let mut m = r.manifest.clone();
        m.ranked.clear();
        println!("{}", serde_json::to_string_pretty(&m)?);
    } else {
        print!("{}", report_text(&r));
    }
    // The process ends next: freeing the snapshot's and the run's
    // millions of small allocations one by one took about a second each
    // at 1M creators, for pages the system takes back at exit anyway.
    std::mem::forget(s);
    Ok(())
}

/// `cloutdesk feed`
#[derive(Debug, Clone, clap::Args)]
pub struct FeedArgs {
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long)]
    pub creator: String,
    /// Print JSON (the API's shape).
    #[arg(long)]
    pub json: bool,
}

pub fn run_feed_cli(a: &FeedArgs) -> anyhow::Result<()> {
    let (gen, rows) = creator_feed(&a.data, &a.creator)?;
    if a.json {
        println!("{}", feed_json(&a.creator, &gen, &rows)?);
    } else {
        print!("{}", feed_text(&a.creator, &gen, &rows));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A generation dir in a temp data dir holding `file` made of `cols`.
    fn generation_with(
        file: &str,
        cols: Vec<(&str, ArrayRef)>,
    ) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().to_path_buf();
        let dir = generation_dir(&data, "g000001");
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join(file);
        fs::write(&p, parquet_bytes(&make_batch(cols).unwrap()).unwrap()).unwrap();
        (tmp, data, p)
    }

    fn strs(v: &[&str]) -> ArrayRef {
        Arc::new(arrow_array::StringArray::from(v.to_vec()))
    }

    #[test]
    fn a_generation_file_with_a_bad_column_is_an_error_naming_file_and_column() {
        // `rank` written as text: every reader of the feeds names it.
        let (_tmp, data, p) = generation_with(
            "feeds.parquet",
            vec![
                ("creator_id", strs(&["c-1"])),
                ("org_id", strs(&["o"])),
                ("campaign_id", strs(&["k"])),
                ("rank", strs(&["1"])),
            ],
        );
        let file = p.display().to_string();
        for e in [
            read_feeds(&data, "g000001").unwrap_err(),
            FeedIndex::read(&data, "g000001").err().unwrap(),
        ] {
            let e = format!("{e:#}");
            assert!(
                e.contains(&file) && e.contains("column `rank` has type Utf8"),
                "{e}"
            );
        }
        // The re-rank's own read of a parent's feeds needs `first_shown`.
        let e = format!("{:#}", FirstShown::read(&data, "g000001").err().unwrap());
        assert!(e.contains(&file) && e.contains("`first_shown`"), "{e}");
        // The selections, the same.
        let (_tmp, data, p) = generation_with(
            "selections.parquet",
            vec![("campaign_id", strs(&["k"])), ("rank", strs(&["1"]))],
        );
        let e = format!("{:#}", read_selections(&data, "g000001").unwrap_err());
        assert!(
            e.contains(&p.display().to_string()) && e.contains("column `rank` has type Utf8"),
            "{e}"
        );
        // The diff: a missing column, and a change that is not one of the three.
        let diff = |change: &str| {
            vec![
                ("campaign_id", strs(&["k", "k"])),
                ("org_id", strs(&["o", "o"])),
                ("creator_id", strs(&["c-1", "c-2"])),
                ("change", strs(&["entered", change])),
                ("why", strs(&["w", "w"])),
            ]
        };
        let (_tmp, data, p) = generation_with("diff.parquet", diff("moved"));
        let e = format!("{:#}", read_diff(&data, "g000001").unwrap_err());
        assert!(
            e.contains(&p.display().to_string()) && e.contains("old_rank"),
            "{e}"
        );
        let mut cols = diff("vanished");
        cols.push(("old_rank", Arc::new(UInt32Array::from(vec![None, Some(2)]))));
        cols.push(("new_rank", Arc::new(UInt32Array::from(vec![Some(1), None]))));
        let (_tmp, data, p) = generation_with("diff.parquet", cols);
        let e = format!("{:#}", read_diff(&data, "g000001").unwrap_err());
        assert!(
            e.contains(&format!("{}: row 2: column `change`", p.display())),
            "{e}"
        );
    }
}
