//! Measuring instruments shared by the criterion scenarios (`benches/benches/`)
//! and the end-to-end `cloutdesk bench`.
//!
//! - [`BenchWorld`]: a seeded generated world cached on disk, keyed by size
//!   and seed, holding the contract files (`source/`) and an ingested data
//!   dir (`data/`), so a re-run never regenerates 1M creators. The cache
//!   lives in `$CLOUTDESK_BENCH_DATA`, else `target/bench-data/` of this
//!   workspace ([`cache_root`]).
//! - [`scenario_briefs`]: the fixed, documented briefs every figure is
//!   measured with (broad, typical, selective, lookalike).
//! - [`floor_scan`]: a plain parallel scan of the columns every match reads
//!   in full, the floor each latency is compared with.
//! - [`peak_rss_bytes`] / [`reset_peak_rss`]: the process's peak resident
//!   set (Linux `/proc/self/status` VmHWM; reset via `/proc/self/clear_refs`).
//!
//! Invariant: the cache is only ever read after its marker file was written
//! last, so an interrupted generation or ingest is redone, never half-used.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use cloutdesk_engine::ann::{hnsw_search, HnswParams};
use cloutdesk_engine::brief::{BriefContext, CampaignBrief};
use cloutdesk_engine::candidates::{best_per_dollar, gather};
use cloutdesk_engine::filter::eligible;
use cloutdesk_engine::matcher::Matcher;
use cloutdesk_engine::quant::scan_top_k;
use cloutdesk_engine::schema::{parse_date, Platform};
use cloutdesk_engine::select::select;
use cloutdesk_engine::signals::BriefScorer;
use cloutdesk_engine::snapshot::Snapshot;
use cloutdesk_engine::storage::DataDir;
use cloutdesk_ingest::contract::FileFormat;
use cloutdesk_ingest::generate::{generate_world, write_world, GenConfig};
use cloutdesk_ingest::pipeline::index_vectors;
use cloutdesk_ingest::{ingest, IngestOptions, LoadReport, NoProgress, Progress, VectorIndexMode};
use rayon::prelude::*;
use serde_json::{json, Value};

/// Seed of every benchmark world.
pub const DEFAULT_SEED: u64 = 42;
/// Briefs generated with each world (the `select_many` batch).
pub const BATCH_BRIEFS: usize = 1000;
/// Day recency and payment delays are measured at (the generator's reference day).
pub const AS_OF: &str = "2026-11-01";
/// The large size of the criterion scenarios (override with
/// `CLOUTDESK_BENCH_CREATORS`, e.g. for a quick run at 100k).
pub const LARGE: usize = 1_000_000;
/// The small size of the criterion scenarios.
pub const SMALL: usize = 100_000;

/// Where cached worlds live: `$CLOUTDESK_BENCH_DATA`, else this workspace's
/// `target/bench-data`.
pub fn cache_root() -> PathBuf {
    match std::env::var_os("CLOUTDESK_BENCH_DATA") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => {
            let benches = Path::new(env!("CARGO_MANIFEST_DIR"));
            benches
                .parent()
                .unwrap_or(benches)
                .join("target")
                .join("bench-data")
        }
    }
}

/// The large size for criterion scenarios (`CLOUTDESK_BENCH_CREATORS` or 1M).
pub fn large_size() -> usize {
    std::env::var("CLOUTDESK_BENCH_CREATORS")
        .ok()
        .and_then(|s| s.replace('_', "").parse().ok())
        .unwrap_or(LARGE)
}

/// "100k", "1M", "2.5M": sizes as they read in scenario ids.
pub fn size_label(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(100_000) {
        let m = n as f64 / 1e6;
        if n.is_multiple_of(1_000_000) {
            format!("{}M", n / 1_000_000)
        } else {
            format!("{m:.1}M")
        }
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

/// A seeded generated world cached under `root/c<creators>-s<seed>/`.
#[derive(Debug, Clone)]
pub struct BenchWorld {
    pub creators: usize,
    pub seed: u64,
    pub dir: PathBuf,
}

/// What generating a world wrote (stored in the source marker).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SourceInfo {
    pub creators: usize,
    pub performance_rows: usize,
    pub payments: usize,
    pub briefs: usize,
    pub seed: u64,
    pub generate_secs: f64,
    pub bytes: u64,
}

const SOURCE_MARKER: &str = "source.json";
const VECTOR_MARKER: &str = "vector-build.json";

/// How the cached world's HNSW graph was built.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct VectorBuild {
    /// Wall time of `index_vectors` (graph, recall check, publish).
    pub wall_secs: f64,
    pub build_secs: f64,
    pub recall_at_10: Option<f64>,
    pub peak_rss: Option<u64>,
    pub points: u64,
    pub max_nb_connection: usize,
    pub ef_construction: usize,
    /// Who built the graph (`native` or `hnsw_rs`; records written before
    /// the field: `hnsw_rs`).
    #[serde(default = "hnsw_rs_builder")]
    pub builder: String,
    pub built_unix: u64,
}

fn hnsw_rs_builder() -> String {
    "hnsw_rs".into()
}

impl BenchWorld {
    pub fn new(root: &Path, creators: usize, seed: u64) -> BenchWorld {
        BenchWorld {
            creators,
            seed,
            dir: root.join(format!("c{creators}-s{seed}")),
        }
    }

    /// The cached world of this size in [`cache_root`] with [`DEFAULT_SEED`].
    pub fn cached(creators: usize) -> BenchWorld {
        BenchWorld::new(&cache_root(), creators, DEFAULT_SEED)
    }

    pub fn source_dir(&self) -> PathBuf {
        self.dir.join("source")
    }
    pub fn creators_file(&self) -> PathBuf {
        self.source_dir().join("creators.csv")
    }
    pub fn performance_file(&self) -> PathBuf {
        self.source_dir().join("performance.csv")
    }
    pub fn payments_file(&self) -> PathBuf {
        self.source_dir().join("payments.csv")
    }
    pub fn briefs_file(&self) -> PathBuf {
        self.source_dir().join("briefs.jsonl")
    }
    /// The cached, ingested data dir (tables, text index and HNSW graph).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// What the cached source holds, if it is complete.
    pub fn source_info(&self) -> Option<SourceInfo> {
        let text = std::fs::read_to_string(self.source_dir().join(SOURCE_MARKER)).ok()?;
        let info: SourceInfo = serde_json::from_str(&text).ok()?;
        let complete = [
            self.creators_file(),
            self.performance_file(),
            self.payments_file(),
            self.briefs_file(),
        ]
        .iter()
        .all(|p| p.exists());
        (complete && info.creators == self.creators && info.seed == self.seed).then_some(info)
    }

    /// Generates the contract files unless they are cached; returns what
    /// they hold and whether they were generated now.
    pub fn ensure_source(&self) -> anyhow::Result<(SourceInfo, bool)> {
        if let Some(info) = self.source_info() {
            return Ok((info, false));
        }
        if self.creators == 0 {
            bail!("a benchmark world needs at least 1 creator");
        }
        let src = self.source_dir();
        if src.exists() {
            std::fs::remove_dir_all(&src)
                .with_context(|| format!("{}: cannot clear a stale cache", src.display()))?;
        }
        let t = Instant::now();
        let cfg = GenConfig {
            creators: self.creators,
            briefs: BATCH_BRIEFS,
            seed: self.seed,
            format: FileFormat::Csv,
            embedding_dim: None,
        };
        let world = generate_world(&cfg);
        let files = write_world(&world, &cfg, &src)?;
        let bytes = [&files.creators, &files.performance, &files.payments]
            .iter()
            .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .sum();
        let info = SourceInfo {
            creators: world.creators.len(),
            performance_rows: world.performance.len(),
            payments: world.payments.len(),
            briefs: world.briefs.len(),
            seed: self.seed,
            generate_secs: t.elapsed().as_secs_f64(),
            bytes,
        };
        drop(world);
        let marker = src.join(SOURCE_MARKER);
        std::fs::write(&marker, serde_json::to_vec_pretty(&info)?)
            .with_context(|| format!("{}: cannot write", marker.display()))?;
        Ok((info, true))
    }

    /// Ingests the cached contract files into a fresh data dir `data`
    /// (removed first if it exists): tables and text only; the vector index
    /// is [`BenchWorld::index_vectors`]' job so the two are timed apart.
    pub fn ingest_fresh(&self, data: &Path, progress: &dyn Progress) -> anyhow::Result<LoadReport> {
        if data.exists() {
            std::fs::remove_dir_all(data)
                .with_context(|| format!("{}: cannot clear", data.display()))?;
        }
        let mut o = IngestOptions::new(data);
        o.creators = Some(self.creators_file());
        o.performance = Some(self.performance_file());
        o.payments = Some(self.payments_file());
        o.as_of_day = parse_date(AS_OF);
        o.vector_index = VectorIndexMode::Never;
        o.keep = 1;
        Ok(ingest(&o, progress)?)
    }

    /// Adds the HNSW graph to the data dir's published snapshot.
    pub fn index_vectors(
        data: &Path,
        progress: &dyn Progress,
    ) -> anyhow::Result<(String, cloutdesk_engine::storage::VectorIndexEntry)> {
        Ok(index_vectors(data, HnswParams::default(), 1, progress)?)
    }

    /// Builds the HNSW graph into `data`'s published snapshot, timing it and
    /// its peak RSS, and records the figures beside the cached world (so a
    /// later run that reuses the graph can still report them).
    pub fn build_vectors_measured(
        &self,
        data: &Path,
        progress: &dyn Progress,
    ) -> anyhow::Result<VectorBuild> {
        reset_peak_rss();
        let t = Instant::now();
        let (_, e) = BenchWorld::index_vectors(data, progress)?;
        let vb = VectorBuild {
            wall_secs: t.elapsed().as_secs_f64(),
            build_secs: e.build_secs,
            recall_at_10: e.recall_at_10,
            peak_rss: peak_rss_bytes(),
            points: e.points,
            max_nb_connection: e.max_nb_connection,
            ef_construction: e.ef_construction,
            builder: e.builder.clone(),
            built_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        let p = self.dir.join(VECTOR_MARKER);
        std::fs::write(&p, serde_json::to_vec_pretty(&vb)?)
            .with_context(|| format!("{}: cannot write", p.display()))?;
        Ok(vb)
    }

    /// The figures of the build of the cached HNSW graph, if recorded.
    pub fn vector_build(&self) -> Option<VectorBuild> {
        let text = std::fs::read_to_string(self.dir.join(VECTOR_MARKER)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Whether the cached data dir has a published snapshot with an HNSW graph.
    pub fn has_snapshot(&self) -> bool {
        let Ok(d) = DataDir::open(self.data_dir()) else {
            return false;
        };
        match d.current() {
            Ok(Some(id)) => d.manifest(&id).is_ok_and(|m| m.vector_index.is_some()),
            _ => false,
        }
    }

    /// Makes sure the source and a complete cached snapshot (with its HNSW
    /// graph) exist, generating and ingesting only what is missing.
    pub fn ensure_snapshot(&self) -> anyhow::Result<PathBuf> {
        self.ensure_source()?;
        let data = self.data_dir();
        if self.has_snapshot() {
            return Ok(data);
        }
        let tmp = self.dir.join("data.building");
        self.ingest_fresh(&tmp, &NoProgress)?;
        self.build_vectors_measured(&tmp, &NoProgress)?;
        self.install_data(&tmp)?;
        Ok(data)
    }

    /// Replaces the cached data dir with `built` (a complete data dir).
    pub fn install_data(&self, built: &Path) -> anyhow::Result<()> {
        let data = self.data_dir();
        if data.exists() {
            std::fs::remove_dir_all(&data)
                .with_context(|| format!("{}: cannot replace", data.display()))?;
        }
        std::fs::rename(built, &data)
            .with_context(|| format!("{} -> {}: cannot rename", built.display(), data.display()))
    }

    /// Opens the cached snapshot (building it first if needed).
    pub fn open(&self) -> anyhow::Result<Arc<Snapshot>> {
        let data = self.ensure_snapshot()?;
        Ok(Snapshot::open(&DataDir::open(&data)?)?)
    }

    /// The world's generated briefs (the `select_many` batch), validated.
    pub fn batch_briefs(&self, s: &Snapshot) -> anyhow::Result<Vec<CampaignBrief>> {
        let path = self.briefs_file();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let ctx = context(s);
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                let v: Value = serde_json::from_str(l)
                    .with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
                CampaignBrief::from_json(&v, &ctx)
                    .map_err(|e| anyhow!("{}:{}: {e}", path.display(), i + 1))
            })
            .collect()
    }
}

/// The cached world of `creators` (default seed), opened for a criterion
/// scenario; builds and caches it first when missing (announced on stderr).
/// Panics with the reason when that fails: a benchmark has no one to
/// report an error to.
pub fn bench_snapshot(creators: usize) -> Arc<Snapshot> {
    let w = BenchWorld::cached(creators);
    if !w.has_snapshot() {
        eprintln!(
            "preparing the benchmark world of {creators} creators in {} (once; cached after)",
            w.dir.display()
        );
    }
    w.open()
        .unwrap_or_else(|e| panic!("benchmark world of {creators} creators: {e:#}"))
}

/// What brief validation needs from a snapshot.
pub fn context(s: &Snapshot) -> BriefContext<'_> {
    BriefContext {
        vector_dim: s.vectors.dim,
        user_vectors: s.vectors.user_supplied,
        creators: Some(&s.by_id),
        user_space: Some(s),
    }
}

/// One of the fixed benchmark briefs.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// `broad`, `typical`, `selective` or `lookalike`.
    pub name: &'static str,
    /// What it asks, in words (BENCHMARKS.md repeats it).
    pub about: &'static str,
    pub json: Value,
    pub brief: CampaignBrief,
}

/// Names of the fixed briefs, in report order.
pub const SCENARIOS: [&str; 4] = ["broad", "typical", "selective", "lookalike"];

/// The lookalike brief's seed creators: the first three (by ordinal) that
/// declare the `fitness` niche, post on Instagram, have 20k-200k followers
/// and a known audience. Deterministic for a given world.
pub fn lookalike_seeds(s: &Snapshot) -> Vec<String> {
    let c = &s.creators;
    (0..s.len())
        .filter(|&i| {
            c.platform[i] == Platform::Instagram
                && (20_000..=200_000).contains(&c.followers[i])
                && c.audience_countries[i].is_some()
                && c.niches[i]
                    .as_ref()
                    .is_some_and(|n| n.first().is_some_and(|x| x == "fitness"))
        })
        .take(3)
        .map(|i| c.creator_id[i].clone())
        .collect()
}

/// The fixed benchmark briefs, as JSON (see BENCHMARKS.md for what each
/// selects on the generated worlds).
pub fn scenario_json(s: &Snapshot) -> Vec<(&'static str, &'static str, Value)> {
    let seeds = lookalike_seeds(s);
    vec![
        (
            "broad",
            "no hard filter beyond the planned fee; 500 wanted, $400k: nearly everyone is eligible",
            json!({
                "campaign_id": "bench-broad",
                "org_id": "bench-org",
                "brand": "Northwind Outfitters",
                "title": "Northwind always-on lifestyle program",
                "description": "Everyday lifestyle creators for an always-on program: outdoor trips, home routines and healthy cooking.",
                "niches": ["outdoor", "home-decor", "cooking"],
                "keywords": ["hiking", "weekend", "recipes"],
                "budget_usd": 400000,
                "creators_wanted": 500
            }),
        ),
        (
            "typical",
            "Instagram or TikTok, English, 3k-1M followers, engagement >= 0.8%, fee $20-$10,000, audience half US; 300 wanted, $150k (about 20% eligible)",
            json!({
                "campaign_id": "bench-typical",
                "org_id": "bench-org",
                "brand": "Peakform Nutrition",
                "title": "Peakform spring protein launch",
                "description": "Peakform is looking for fitness creators to make spring instagram content featuring protein shakes, gym routines and meal prep.",
                "niches": ["fitness", "wellness"],
                "keywords": ["protein", "gym", "meal prep", "workout"],
                "platforms": ["instagram", "tiktok"],
                "target": {
                    "languages": ["en"],
                    "audience_countries": {"US": 0.5},
                    "audience_female": 0.5
                },
                "creator_filters": {
                    "followers_min": 3000,
                    "followers_max": 1000000,
                    "min_engagement_rate": 0.008
                },
                "budget_usd": 150000,
                "fee_range_usd": [20, 10000],
                "creators_wanted": 300
            }),
        ),
        (
            "selective",
            "YouTube, creators living in Sweden or the Netherlands, 10k-1M followers, engagement >= 2%, paid usage rights; 20 wanted, $40k",
            json!({
                "campaign_id": "bench-selective",
                "org_id": "bench-org",
                "brand": "Fjord Audio",
                "title": "Fjord Audio headphones review series",
                "description": "In-depth YouTube reviews of Fjord noise cancelling headphones by tech and music creators.",
                "niches": ["tech", "music"],
                "keywords": ["headphones", "review", "gadgets"],
                "platforms": ["youtube"],
                "target": {"countries": ["SE", "NL"], "audience_countries": {"SE": 0.3, "NL": 0.3}},
                "creator_filters": {
                    "followers_min": 10000,
                    "followers_max": 1000000,
                    "min_engagement_rate": 0.02
                },
                "usage_rights": {"days": 90, "paid_usage": true, "channels": ["paid_social"]},
                "budget_usd": 40000,
                "creators_wanted": 20
            }),
        ),
        (
            "lookalike",
            "creators like three given fitness creators (`similar_to`), Instagram, 10k+ followers; 100 wanted, $60k",
            json!({
                "campaign_id": "bench-lookalike",
                "org_id": "bench-org",
                "brand": "Peakform Nutrition",
                "title": "More creators like our best ambassadors",
                "niches": ["fitness"],
                "keywords": ["workout", "gym"],
                "platforms": ["instagram"],
                "creator_filters": {"followers_min": 10000},
                "similar_to": seeds,
                "budget_usd": 60000,
                "creators_wanted": 100
            }),
        ),
    ]
}

/// The fixed benchmark briefs, validated against `s`.
pub fn scenario_briefs(s: &Snapshot) -> anyhow::Result<Vec<Scenario>> {
    let ctx = context(s);
    scenario_json(s)
        .into_iter()
        .map(|(name, about, json)| {
            let brief = CampaignBrief::from_json(&json, &ctx)
                .map_err(|e| anyhow!("benchmark brief `{name}`: {e}"))?;
            Ok(Scenario {
                name,
                about,
                json,
                brief,
            })
        })
        .collect()
}

/// The benchmark brief called `name`.
pub fn scenario(s: &Snapshot, name: &str) -> anyhow::Result<Scenario> {
    scenario_briefs(s)?
        .into_iter()
        .find(|x| x.name == name)
        .ok_or_else(|| anyhow!("no benchmark brief called {name:?}"))
}

/// Median milliseconds of each stage of one match, measured apart over
/// `runs` repetitions (where the time goes). The candidate stage's parts
/// (BM25, vector neighbours, best performers per dollar) are re-run on
/// their own, so they overlap its total; the vector neighbours are timed
/// both ways (filtered HNSW and exact scan; `gather` uses the one
/// `candidates::hnsw_is_cheaper` predicts faster); "signals" is `score_pool` minus rules and candidates; "reasons
/// and totals" is the whole match minus `score_pool` and selection.
pub fn stage_breakdown(
    s: &Snapshot,
    b: &CampaignBrief,
    m: &Matcher,
    runs: usize,
) -> Vec<(&'static str, f64)> {
    let names = [
        "hard rules (bitmap)",
        "candidates: BM25 over eligible",
        "candidates: vector neighbours, HNSW filtered",
        "candidates: vector neighbours, exact scan",
        "candidates: best performers per $",
        "candidates total (gather)",
        "signals (score_pool - rules - gather)",
        "selection",
        "reasons and totals",
        "whole match",
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    let opts = m.opts.candidates;
    let n = opts
        .min_per_source
        .max(opts.per_wanted.saturating_mul(b.creators_wanted as usize))
        .min(s.len());
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let el = eligible(b, s);
        let t_rules = ms(t);
        let sc = BriefScorer::new(b, s);
        let union = el.count > opts.exact_limit;
        let t = Instant::now();
        if let Some(text) = &s.text {
            if let Some(q) = text.build_query(&b.text_query) {
                std::hint::black_box(text.scores(q.as_ref(), &el.bits));
            }
        }
        let t_bm25 = ms(t);
        let t = Instant::now();
        if let (true, Some(g)) = (union, &s.hnsw) {
            let r = hnsw_search(g, &b.query_vector, n, opts.ef_search.max(n), Some(&el.bits));
            std::hint::black_box(r);
        }
        let t_hnsw = ms(t);
        let t = Instant::now();
        if union {
            let r = scan_top_k(&s.qvectors, &s.vectors, &b.query_vector, n, Some(&el.bits));
            std::hint::black_box(r);
        }
        let t_vec = ms(t);
        let t = Instant::now();
        if union {
            std::hint::black_box(best_per_dollar(&sc, &el.bits, n));
        }
        let t_quick = ms(t);
        let t = Instant::now();
        std::hint::black_box(gather(&sc, &el.bits, el.count, &opts));
        let t_gather = ms(t);
        let t = Instant::now();
        let pool = m.score_pool(s, b);
        let t_pool = ms(t);
        let t = Instant::now();
        let items = Matcher::items(&pool.scored);
        std::hint::black_box(select(
            &items,
            b.budget_cents(),
            b.creators_wanted as usize,
            &Matcher::caps(b),
        ));
        let t_select = ms(t);
        let t = Instant::now();
        std::hint::black_box(m.select(s, b));
        let t_whole = ms(t);
        let row = [
            t_rules,
            t_bm25,
            t_hnsw,
            t_vec,
            t_quick,
            t_gather,
            (t_pool - t_rules - t_gather).max(0.0),
            t_select,
            (t_whole - t_pool - t_select).max(0.0),
            t_whole,
        ];
        for (v, x) in samples.iter_mut().zip(row) {
            v.push(x);
        }
    }
    names
        .iter()
        .zip(samples)
        .map(|(name, mut v)| {
            v.sort_by(f64::total_cmp);
            (*name, quantile(&v, 0.5))
        })
        .collect()
}

/// The whole number in environment variable `name`, or `default` when it
/// is not set (the examples' knobs); an error names a value that is not
/// one.
pub fn env_usize(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v:?} is not a whole number")),
        Err(_) => Ok(default),
    }
}

/// Bytes [`floor_scan`] reads per creator.
pub const FLOOR_BYTES_PER_ROW: usize = 1 + 2 + 24 + 8 + 4 + 4 + 8 + 8 + 4 + 1;

/// The floor: one plain parallel pass (rayon, same thread pool as matching)
/// over every column the hard rules read for every creator — platform,
/// country, languages, followers, engagement rate, audience quality,
/// planned fee, minimum fee, capacity, usage rights — folding them into a
/// checksum so nothing is optimised away. No match can read less.
pub fn floor_scan(s: &Snapshot) -> u64 {
    let h = &s.hot;
    let n = s.len();
    const CHUNK: usize = 64 * 1024;
    (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let (a, b) = (c * CHUNK, ((c + 1) * CHUNK).min(n));
            let mut acc = 0u64;
            for i in a..b {
                let l = h.languages[i];
                acc = acc
                    .wrapping_add(h.platform[i] as u64)
                    .wrapping_add(h.country[i] as u64)
                    .wrapping_add(l[0] ^ l[1] ^ l[2])
                    .wrapping_add(h.followers[i])
                    .wrapping_add(h.er[i].to_bits() as u64)
                    .wrapping_add(h.quality[i].to_bits() as u64)
                    .wrapping_add(h.fee_cents[i] ^ h.min_fee_cents[i])
                    .wrapping_add(h.capacity[i] as u64)
                    .wrapping_add(h.usage_rights[i] as u64);
            }
            acc
        })
        .reduce(|| 0, u64::wrapping_add)
}

/// Peak resident set of this process in bytes (VmHWM), if the OS says.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_kib("VmHWM:").map(|k| k * 1024)
}

/// Current resident set in bytes (VmRSS), if the OS says.
pub fn rss_bytes() -> Option<u64> {
    proc_status_kib("VmRSS:").map(|k| k * 1024)
}

fn proc_status_kib(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resets the peak resident set to the current one (Linux >= 4.0), so the
/// next [`peak_rss_bytes`] measures one phase. Returns whether it worked.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Bytes of all files under `dir` (recursively).
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

/// The `q`-quantile (0..=1) of samples by the nearest-rank method.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_labels_read_as_scenarios() {
        assert_eq!(size_label(100_000), "100k");
        assert_eq!(size_label(1_000_000), "1M");
        assert_eq!(size_label(2_500_000), "2.5M");
        assert_eq!(size_label(1234), "1234");
    }

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile(&[7.0], 0.95), 7.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn small_world_caches_and_all_scenarios_validate() {
        let root =
            std::env::temp_dir().join(format!("cloutdesk-bench-test-{}", std::process::id()));
        let w = BenchWorld::new(&root, 3000, 7);
        let (info, generated) = w.ensure_source().unwrap();
        assert!(generated);
        assert_eq!(info.creators, 3000);
        assert_eq!(info.briefs, BATCH_BRIEFS);
        assert!(
            !w.ensure_source().unwrap().1,
            "second call must hit the cache"
        );
        let s = w.open().unwrap();
        assert!(w.has_snapshot());
        let sc = scenario_briefs(&s).unwrap();
        assert_eq!(
            sc.iter().map(|x| x.name).collect::<Vec<_>>(),
            SCENARIOS.to_vec()
        );
        assert_eq!(lookalike_seeds(&s).len(), 3);
        let batch = w.batch_briefs(&s).unwrap();
        assert_eq!(batch.len(), BATCH_BRIEFS);
        // The word-at-a-time hard-rule pass equals the row-by-row rules.
        for b in sc.iter().map(|x| &x.brief).chain(&batch) {
            let rules = cloutdesk_engine::filter::CompiledRules::compile(b, &s);
            let fast = eligible(b, &s);
            let mut slow = cloutdesk_engine::bitset::Bitset::from_fn(s.len(), |i| {
                rules.first_broken(&s, i).is_none()
            });
            for brand in &b.exclude_brands {
                for &o in s.brand_postings.get(brand).into_iter().flatten() {
                    slow.clear(o as usize);
                }
            }
            // Excluded creators and lookalike seeds are never eligible.
            for id in b.exclude_creators.iter().chain(&b.similar_to) {
                if let Some(o) = s.ordinal(id) {
                    slow.clear(o as usize);
                }
            }
            assert_eq!(fast.bits, slow, "brief {}", b.campaign_id);
            assert_eq!(fast.count, slow.count());
        }
        // BM25 by seeking to a few allowed documents equals scoring every match.
        let text = s.text.as_ref().unwrap();
        for (k, b) in sc
            .iter()
            .map(|x| &x.brief)
            .chain(&batch)
            .take(60)
            .enumerate()
        {
            let q = text.build_query(&b.text_query).unwrap();
            let allowed =
                cloutdesk_engine::bitset::Bitset::from_fn(s.len(), |i| (i * 7 + k) % 23 == 0);
            let mut full = text.full_scores(q.as_ref(), &allowed);
            // So does term at a time, in the same order, whatever the jobs.
            let u = q
                .downcast_ref::<cloutdesk_engine::text::TermUnion>()
                .unwrap();
            for range in [300, 5000, usize::MAX] {
                let taat = text.union_scores_ranged(u, &allowed, range).unwrap();
                assert_eq!(taat.len(), full.len(), "brief {}", b.campaign_id);
                for (x, y) in taat.iter().zip(&full) {
                    assert_eq!(
                        (x.0.to_bits(), x.1),
                        (y.0.to_bits(), y.1),
                        "brief {}",
                        b.campaign_id
                    );
                }
            }
            let mut sparse = text.sparse_scores(q.as_ref(), &allowed).unwrap();
            full.sort_by_key(|x| x.1);
            sparse.sort_by_key(|x| x.1);
            assert!(!full.is_empty());
            assert_eq!(full, sparse, "brief {}", b.campaign_id);
        }
        assert_ne!(floor_scan(&s), 0);
        assert!(dir_bytes(&w.data_dir()) > 0);
        let _ = std::fs::remove_dir_all(&root);
    }
}
