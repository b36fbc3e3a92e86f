//! `cloutdesk bench`: the end-to-end benchmark (BENCHMARKS.md is built from
//! its output).
//!
//! Per world size (`--creators 100000,1000000`), on the seeded world cached
//! by `cloutdesk_benches::BenchWorld` (generated once, reused by every later
//! run and by the criterion scenarios):
//!
//! 1. **ingest**, measured from the contract files into a fresh data dir:
//!    tables + text index, then the HNSW vector index with its recall@10,
//!    each with its own peak RSS; then the snapshot's size on disk;
//! 2. **floor**: a plain parallel scan of the columns every match reads in
//!    full (`cloutdesk_benches::floor_scan`), median of 31 runs;
//! 3. **match latency** of the fixed briefs (broad, typical, selective,
//!    lookalike; see `cloutdesk_benches::scenario_json`): `--runs` timed
//!    matches each after 3 warm-up runs, p50/p95/p99, each with its ratio
//!    to the floor;
//! 4. **select_many** throughput over `--batch` of the world's generated
//!    briefs;
//! 5. the peak RSS of the matching phase.
//!
//! Goals from issues 2 and 3 (stated for 1M creators) are printed beside
//! the figures they apply to. Nothing here asserts a time.

use rayon::prelude::*;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use cloutdesk_benches::{
    dir_bytes, floor_scan, peak_rss_bytes, quantile, reset_peak_rss, scenario_briefs, size_label,
    stage_breakdown, BenchWorld, DEFAULT_SEED, FLOOR_BYTES_PER_ROW,
};
use cloutdesk_engine::candidates::Mode;
use cloutdesk_engine::matcher::{MatchOptions, Matcher};
use cloutdesk_engine::snapshot::{Snapshot, HNSW_DIR, TEXT_DIR};
use cloutdesk_engine::storage::DataDir;
use serde::Serialize;

use crate::progress::Bars;

/// Flags of `cloutdesk bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// World sizes to measure (creators), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100000")]
    pub creators: Vec<usize>,
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Timed matches per benchmark brief (after 3 warm-up runs).
    #[arg(long, default_value_t = 200)]
    pub runs: usize,
    /// Briefs in the select_many batch (the world's generated briefs).
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Reuse the cached snapshot instead of measuring the ingest again.
    #[arg(long)]
    pub skip_ingest: bool,
    /// Rebuild and time the HNSW graph even when the cached world has one
    /// (by default its recorded build figures are reported).
    #[arg(long)]
    pub rebuild_vectors: bool,
    /// Briefs (of the batch) matched both with candidates and exactly to
    /// measure the candidate stage's loss.
    #[arg(long, default_value_t = 100)]
    pub loss_briefs: usize,
    /// Cache of generated worlds (default: $CLOUTDESK_BENCH_DATA, else
    /// target/bench-data of the source tree).
    #[arg(long)]
    pub cache: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_bytes: Option<u64>,
    pub cpu: Option<String>,
    /// 1-minute load average when the run started and ended (other
    /// processes competing for the cores show here).
    pub load_start: Option<f64>,
    pub load_end: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestFigures {
    /// Wall time: contract files to a published snapshot with tables and
    /// text index.
    pub tables_text_secs: f64,
    /// The pipeline's own stage timings of that load.
    pub stages: Vec<(String, f64)>,
    /// Wall time of adding the HNSW graph (build, recall check, publish).
    pub vector_index_secs: f64,
    pub hnsw_build_secs: f64,
    /// Who built the graph (`native` or `hnsw_rs`).
    pub hnsw_builder: String,
    pub recall_at_10: Option<f64>,
    /// The graph was reused from the cache: its figures are from the run
    /// that built it (`vector_built_unix`).
    pub vector_index_cached: bool,
    pub vector_built_unix: u64,
    pub total_secs: f64,
    pub peak_rss_tables_text: Option<u64>,
    pub peak_rss_vector_index: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SnapshotBytes {
    pub tables: u64,
    pub text_index: u64,
    pub vector_index: u64,
    pub total: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioFigures {
    pub name: String,
    pub about: String,
    pub eligible: usize,
    pub eligible_share: f64,
    pub candidates: usize,
    pub mode: String,
    pub selected: usize,
    pub runs: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    pub p50_vs_floor: f64,
    pub p99_vs_floor: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BatchFigures {
    pub briefs: usize,
    pub secs: f64,
    pub briefs_per_sec: f64,
    pub ms_per_brief: f64,
    pub ms_per_brief_vs_floor: f64,
    /// The same briefs matched one at a time (`Matcher::select` in a
    /// parallel loop, no shared passes), in the same run: what batching
    /// buys.
    pub singles_secs: f64,
    pub singles_briefs_per_sec: f64,
}

/// The candidate stage's loss against scoring every eligible creator.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateLoss {
    /// Batch briefs looked at; only those matched in union mode count.
    pub briefs_checked: usize,
    pub union_briefs: usize,
    /// Sum of portfolio values with candidates / scoring everyone.
    pub value_kept: f64,
    /// The lowest single-brief ratio.
    pub worst_brief: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SizeReport {
    pub creators: usize,
    pub performance_rows: usize,
    pub payments: usize,
    pub seed: u64,
    pub source_bytes: u64,
    /// Seconds generating the world took (when it was generated; cached
    /// worlds keep the figure of their first run).
    pub generate_secs: f64,
    pub generated_now: bool,
    pub ingest: Option<IngestFigures>,
    pub snapshot_bytes: SnapshotBytes,
    pub load_secs: f64,
    pub floor_ms: f64,
    pub floor_gb_per_sec: f64,
    pub scenarios: Vec<ScenarioFigures>,
    pub batch: BatchFigures,
    pub peak_rss_matching: Option<u64>,
    pub candidate_loss: CandidateLoss,
    /// Where the time goes: (brief, [(stage, median ms)]).
    pub stages: Vec<(String, Vec<(String, f64)>)>,
    pub goals: Vec<GoalRow>,
}

/// One figure beside its goal.
#[derive(Debug, Clone, Serialize)]
pub struct GoalRow {
    pub figure: String,
    pub measured: String,
    pub goal: String,
    /// `Some(true)` met, `Some(false)` missed, `None` no goal at this size.
    pub met: Option<bool>,
    /// The figure divided by the floor (time figures only).
    pub vs_floor: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub date: String,
    pub command: String,
    pub machine: Machine,
    pub sizes: Vec<SizeReport>,
}

fn load_avg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn machine() -> Machine {
    let memory_bytes = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("MemTotal:"))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
            .map(|k| k * 1024)
    });
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|x| x.trim().to_string())
    });
    Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_bytes,
        cpu,
        load_start: load_avg(),
        load_end: None,
    }
}

fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    cloutdesk_engine::schema::format_date((secs / 86_400) as i32)
}

fn gib(b: u64) -> String {
    format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
}

fn mib(b: u64) -> String {
    format!("{:.0} MiB", b as f64 / (1u64 << 20) as f64)
}

fn ms(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.2} ms")
    } else {
        format!("{x:.1} ms")
    }
}

fn note(msg: &str) {
    eprintln!("[bench] {msg}");
}

/// Runs the whole benchmark.
pub fn run(a: &BenchArgs) -> anyhow::Result<BenchReport> {
    if a.creators.is_empty() || a.creators.contains(&0) {
        anyhow::bail!("--creators needs one or more sizes above 0, e.g. 100000,1000000");
    }
    if a.runs == 0 || a.batch == 0 {
        anyhow::bail!("--runs and --batch must be at least 1");
    }
    let root = a
        .cache
        .clone()
        .unwrap_or_else(cloutdesk_benches::cache_root);
    let mut m = machine();
    let mut sizes = Vec::new();
    for &n in &a.creators {
        sizes.push(run_size(a, &BenchWorld::new(&root, n, a.seed))?);
    }
    m.load_end = load_avg();
    Ok(BenchReport {
        date: today(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine: m,
        sizes,
    })
}

fn run_size(a: &BenchArgs, w: &BenchWorld) -> anyhow::Result<SizeReport> {
    let label = size_label(w.creators);
    let bars = Bars::new(false);
    // 1. source (cached) and ingest (measured).
    if w.source_info().is_none() {
        note(&format!(
            "generating {} creators (seed {}) into {} (once; cached after)",
            w.creators,
            w.seed,
            w.source_dir().display()
        ));
    }
    let (info, generated_now) = w.ensure_source()?;
    let ingest = if a.skip_ingest && w.has_snapshot() {
        note(&format!(
            "{label}: reusing cached snapshot in {}",
            w.data_dir().display()
        ));
        None
    } else {
        note(&format!("{label}: ingesting tables + text"));
        let run_dir = w.dir.join("data.run");
        reset_peak_rss();
        let t = Instant::now();
        let rep = w.ingest_fresh(&run_dir, &bars)?;
        let tables_text_secs = t.elapsed().as_secs_f64();
        let peak1 = peak_rss_bytes();
        note(&format!(
            "{label}: tables + text in {tables_text_secs:.1} s"
        ));
        let cached = match w.vector_build() {
            Some(vb) if !a.rebuild_vectors && w.has_snapshot() => Some(vb),
            _ => None,
        };
        let (vb, vector_index_cached) = match cached {
            Some(vb) => {
                note(&format!(
                    "{label}: reusing the cached HNSW graph (built in {:.0} s; --rebuild-vectors to time it again)",
                    vb.build_secs
                ));
                std::fs::remove_dir_all(&run_dir)
                    .with_context(|| format!("{}: cannot remove", run_dir.display()))?;
                (vb, true)
            }
            None => {
                let vb = w.build_vectors_measured(&run_dir, &bars)?;
                w.install_data(&run_dir)?;
                (vb, false)
            }
        };
        Some(IngestFigures {
            tables_text_secs,
            stages: rep.timings,
            vector_index_secs: vb.wall_secs,
            hnsw_build_secs: vb.build_secs,
            hnsw_builder: vb.builder.clone(),
            recall_at_10: vb.recall_at_10,
            vector_index_cached,
            vector_built_unix: vb.built_unix,
            total_secs: tables_text_secs + vb.wall_secs,
            peak_rss_tables_text: peak1,
            peak_rss_vector_index: vb.peak_rss,
        })
    };
    let data = w.ensure_snapshot()?;
    let dd = DataDir::open(&data)?;
    let id = dd
        .current()?
        .with_context(|| format!("{}: no published snapshot", data.display()))?;
    let sdir = dd.snapshot_dir(&id);
    let text_b = dir_bytes(&sdir.join(TEXT_DIR));
    let hnsw_b = dir_bytes(&sdir.join(HNSW_DIR));
    let total_b = dir_bytes(&sdir);
    let snapshot_bytes = SnapshotBytes {
        tables: total_b.saturating_sub(text_b + hnsw_b),
        text_index: text_b,
        vector_index: hnsw_b,
        total: total_b,
    };

    // 2. load and floor.
    reset_peak_rss();
    let t = Instant::now();
    let s = Snapshot::open(&dd)?;
    let load_secs = t.elapsed().as_secs_f64();
    note(&format!("{label}: snapshot loaded in {load_secs:.1} s"));
    let mut fl = Vec::new();
    let mut sink = 0u64;
    for r in 0..34 {
        let t = Instant::now();
        sink = sink.wrapping_add(floor_scan(&s));
        if r >= 3 {
            fl.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    std::hint::black_box(sink);
    fl.sort_by(f64::total_cmp);
    let floor_ms = quantile(&fl, 0.5);
    let floor_gb_per_sec = (s.len() * FLOOR_BYTES_PER_ROW) as f64 / (floor_ms / 1000.0) / 1e9;

    // 3. the fixed briefs.
    let matcher = Matcher::default();
    let mut scenarios = Vec::new();
    for sc in scenario_briefs(&s)? {
        let mut last = None;
        for _ in 0..3 {
            last = Some(matcher.select(&s, &sc.brief));
        }
        let mut t_ms = Vec::with_capacity(a.runs);
        for _ in 0..a.runs {
            let t = Instant::now();
            let r = matcher.select(&s, &sc.brief);
            t_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            last = Some(r);
        }
        let r = last.context("no run")?;
        let mean_ms = t_ms.iter().sum::<f64>() / t_ms.len() as f64;
        t_ms.sort_by(f64::total_cmp);
        let (p50, p95, p99) = (
            quantile(&t_ms, 0.50),
            quantile(&t_ms, 0.95),
            quantile(&t_ms, 0.99),
        );
        note(&format!(
            "{label}: {:<9} eligible {:>7} candidates {:>6} p50 {} p99 {}",
            sc.name,
            r.stats.eligible,
            r.stats.candidates,
            ms(p50),
            ms(p99)
        ));
        scenarios.push(ScenarioFigures {
            name: sc.name.to_string(),
            about: sc.about.to_string(),
            eligible: r.stats.eligible,
            eligible_share: r.stats.eligible as f64 / s.len().max(1) as f64,
            candidates: r.stats.candidates,
            mode: r.stats.mode.as_str().to_string(),
            selected: r.selected.len(),
            runs: a.runs,
            p50_ms: p50,
            p95_ms: p95,
            p99_ms: p99,
            mean_ms,
            p50_vs_floor: p50 / floor_ms,
            p99_vs_floor: p99 / floor_ms,
        });
    }

    // Where the time goes, stage by stage.
    let mut stages = Vec::new();
    for sc in scenario_briefs(&s)? {
        let st = stage_breakdown(&s, &sc.brief, &matcher, a.runs.clamp(1, 30));
        stages.push((
            sc.name.to_string(),
            st.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        ));
    }

    // 4. select_many.
    let pool = w.batch_briefs(&s)?;
    anyhow::ensure!(!pool.is_empty(), "the world has no generated briefs");
    let briefs: Vec<_> = pool.iter().cycle().take(a.batch).cloned().collect();
    let _ = matcher.select_many(&s, &briefs[..briefs.len().min(20)]);
    note(&format!("{label}: select_many of {} briefs", briefs.len()));
    let t = Instant::now();
    let results = matcher.select_many(&s, &briefs);
    let secs = t.elapsed().as_secs_f64();
    std::hint::black_box(&results);
    let ms_per_brief = secs * 1000.0 / briefs.len() as f64;
    note(&format!(
        "{label}: the same {} briefs one at a time",
        briefs.len()
    ));
    let t = Instant::now();
    let singles: Vec<_> = briefs.par_iter().map(|b| matcher.select(&s, b)).collect();
    let singles_secs = t.elapsed().as_secs_f64();
    std::hint::black_box(&singles);
    drop(singles);
    let batch = BatchFigures {
        singles_secs,
        singles_briefs_per_sec: briefs.len() as f64 / singles_secs,
        briefs: briefs.len(),
        secs,
        briefs_per_sec: briefs.len() as f64 / secs,
        ms_per_brief,
        ms_per_brief_vs_floor: ms_per_brief / floor_ms,
    };
    // Candidate-stage loss: value kept against scoring every eligible creator.
    let exact = Matcher::new(MatchOptions {
        force_exact: true,
        ..MatchOptions::default()
    });
    let (mut kept, mut full, mut worst, mut union_briefs) = (0.0f64, 0.0f64, 1.0f64, 0usize);
    for (b, r) in briefs.iter().zip(&results).take(a.loss_briefs) {
        if r.stats.mode != Mode::Union {
            continue;
        }
        let e = exact.select(&s, b);
        union_briefs += 1;
        kept += r.totals.value;
        full += e.totals.value;
        if e.totals.value > 0.0 {
            worst = worst.min(r.totals.value / e.totals.value);
        }
    }
    let candidate_loss = CandidateLoss {
        briefs_checked: briefs.len().min(a.loss_briefs),
        union_briefs,
        value_kept: if full > 0.0 { kept / full } else { 1.0 },
        worst_brief: worst,
    };
    note(&format!(
        "{label}: candidate stage keeps {:.2}% of the exact value over {union_briefs} union-mode briefs",
        candidate_loss.value_kept * 100.0
    ));
    let peak_rss_matching = peak_rss_bytes();
    drop(results);
    drop(s);

    let mut rep = SizeReport {
        creators: info.creators,
        performance_rows: info.performance_rows,
        payments: info.payments,
        seed: info.seed,
        source_bytes: info.bytes,
        generate_secs: info.generate_secs,
        generated_now,
        ingest,
        snapshot_bytes,
        load_secs,
        floor_ms,
        floor_gb_per_sec,
        scenarios,
        batch,
        peak_rss_matching,
        candidate_loss,
        stages,
        goals: Vec::new(),
    };
    rep.goals = goals(&rep);
    Ok(rep)
}

/// The time, throughput and memory goals apply at 1M creators (issues 2
/// and 3; other sizes show "—"); the candidate-loss goal at every size.
fn goals(r: &SizeReport) -> Vec<GoalRow> {
    let at_1m = r.creators == 1_000_000;
    let mut rows = Vec::new();
    if r.candidate_loss.union_briefs > 0 {
        rows.push(GoalRow {
            figure: "candidate stage: portfolio value kept vs scoring all eligible".into(),
            measured: format!(
                "{:.2}% over {} union-mode briefs (worst brief {:.1}%)",
                r.candidate_loss.value_kept * 100.0,
                r.candidate_loss.union_briefs,
                r.candidate_loss.worst_brief * 100.0
            ),
            goal: "≥ 99% (issue 3)".into(),
            met: Some(r.candidate_loss.value_kept >= 0.99),
            vs_floor: None,
        });
    }
    let at_goal_size = at_1m;
    let mut push = |figure: &str, measured: String, goal: &str, met: bool, vs: Option<f64>| {
        rows.push(GoalRow {
            figure: figure.to_string(),
            measured,
            goal: if at_goal_size {
                goal.to_string()
            } else {
                "— (goal is for 1M)".to_string()
            },
            met: at_goal_size.then_some(met),
            vs_floor: vs,
        });
    };
    let sc = |n: &str| r.scenarios.iter().find(|s| s.name == n);
    if let Some(t) = sc("typical") {
        push(
            "typical brief p50",
            ms(t.p50_ms),
            "≤ 5 ms (issue 3)",
            t.p50_ms <= 5.0,
            Some(t.p50_vs_floor),
        );
        push(
            "typical brief p99",
            ms(t.p99_ms),
            "≤ 15 ms (issue 3)",
            t.p99_ms <= 15.0,
            Some(t.p99_vs_floor),
        );
    }
    if let Some(t) = sc("selective") {
        push(
            "selective brief p50",
            ms(t.p50_ms),
            "≤ 2 ms (issue 3)",
            t.p50_ms <= 2.0,
            Some(t.p50_vs_floor),
        );
        push(
            "selective brief p99",
            ms(t.p99_ms),
            "≤ 2 ms (issue 3)",
            t.p99_ms <= 2.0,
            Some(t.p99_vs_floor),
        );
    }
    // The batch's size as run (`--batch`), digits grouped as in the goal.
    let digits = r.batch.briefs.to_string();
    let grouped: String = digits
        .chars()
        .enumerate()
        .flat_map(|(k, c)| {
            let sep = k > 0 && (digits.len() - k).is_multiple_of(3);
            sep.then_some(',').into_iter().chain(std::iter::once(c))
        })
        .collect();
    let batch_label = format!("select_many, {grouped} briefs");
    push(
        &batch_label,
        format!("{:.0} briefs/s", r.batch.briefs_per_sec),
        "≥ 300 briefs/s (issue 3)",
        r.batch.briefs_per_sec >= 300.0,
        Some(r.batch.ms_per_brief_vs_floor),
    );
    if let Some(i) = &r.ingest {
        push(
            "ingest: tables + text",
            format!("{:.1} s", i.tables_text_secs),
            "≤ 60 s (issue 2)",
            i.tables_text_secs <= 60.0,
            None,
        );
        push(
            "ingest: whole snapshot incl. vector index",
            format!(
                "{:.1} s (HNSW {:.1} s, {} builder{}, recall@10 {})",
                i.total_secs,
                i.hnsw_build_secs,
                i.hnsw_builder,
                if i.vector_index_cached {
                    ", cached build"
                } else {
                    ""
                },
                i.recall_at_10
                    .map_or("n/a".to_string(), |x| format!("{x:.3}"))
            ),
            "≤ 240 s (issue 2)",
            i.total_secs <= 240.0,
            None,
        );
        let peak = i
            .peak_rss_tables_text
            .into_iter()
            .chain(i.peak_rss_vector_index)
            .max();
        if let Some(p) = peak {
            push(
                "ingest: peak RSS",
                gib(p),
                "≤ 4 GiB (issue 2)",
                p <= 4 << 30,
                None,
            );
        }
    }
    rows
}

/// The report as markdown (what BENCHMARKS.md shows).
pub fn markdown(rep: &BenchReport) -> String {
    let mut s = String::new();
    let m = &rep.machine;
    let _ = writeln!(
        s,
        "Run {} — `{}` — {} cores{}{}; load average {} at start, {} at end.\n",
        rep.date,
        rep.command,
        m.cores,
        m.memory_bytes
            .map(|b| format!(", {}", gib(b)))
            .unwrap_or_default(),
        m.cpu.as_ref().map(|c| format!(", {c}")).unwrap_or_default(),
        m.load_start.map_or("?".into(), |x| format!("{x:.2}")),
        m.load_end.map_or("?".into(), |x| format!("{x:.2}")),
    );
    for r in &rep.sizes {
        let _ = writeln!(
            s,
            "### {} creators (seed {})\n\n{} creators, {} performance rows, {} payments; contract files (CSV) {}. Snapshot on disk: {} (tables {}, text index {}, HNSW {}); loaded in {:.1} s. Floor: {} per scan of {} hard-rule columns ({:.1} GB/s).\n",
            size_label(r.creators),
            r.seed,
            r.creators,
            r.performance_rows,
            r.payments,
            mib(r.source_bytes),
            mib(r.snapshot_bytes.total),
            mib(r.snapshot_bytes.tables),
            mib(r.snapshot_bytes.text_index),
            mib(r.snapshot_bytes.vector_index),
            r.load_secs,
            ms(r.floor_ms),
            mib((r.creators * FLOOR_BYTES_PER_ROW) as u64),
            r.floor_gb_per_sec,
        );
        let _ = writeln!(s, "| figure | measured | goal | met | × floor |");
        let _ = writeln!(s, "|---|---|---|---|---|");
        for g in &r.goals {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                g.figure,
                g.measured,
                g.goal,
                match g.met {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "—",
                },
                g.vs_floor.map_or("—".into(), |x| format!("{x:.1}×"))
            );
        }
        if let Some(i) = &r.ingest {
            let _ = writeln!(
                s,
                "\nIngest stages (tables + text): {}. Peak RSS: tables + text {}, vector index {}.",
                i.stages
                    .iter()
                    .map(|(k, v)| format!("{k} {v:.1} s"))
                    .collect::<Vec<_>>()
                    .join(", "),
                i.peak_rss_tables_text.map_or("?".into(), gib),
                i.peak_rss_vector_index.map_or("?".into(), gib),
            );
        }
        let _ = writeln!(
            s,
            "\n| brief | eligible | candidates | mode | chosen | p50 | p95 | p99 | p50 × floor | p99 × floor |"
        );
        let _ = writeln!(s, "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|");
        for x in &r.scenarios {
            let _ = writeln!(
                s,
                "| {} | {} ({:.2}%) | {} | {} | {} | {} | {} | {} | {:.1}× | {:.1}× |",
                x.name,
                x.eligible,
                x.eligible_share * 100.0,
                x.candidates,
                x.mode,
                x.selected,
                ms(x.p50_ms),
                ms(x.p95_ms),
                ms(x.p99_ms),
                x.p50_vs_floor,
                x.p99_vs_floor
            );
        }
        if let Some((_, first)) = r.stages.first() {
            let _ = write!(
                s,
                "\nWhere the time goes (median ms per stage):\n\n| stage |"
            );
            for (b, _) in &r.stages {
                let _ = write!(s, " {b} |");
            }
            let _ = write!(s, "\n|---|");
            for _ in &r.stages {
                let _ = write!(s, "---:|");
            }
            let _ = writeln!(s);
            for (k, (stage, _)) in first.iter().enumerate() {
                let _ = write!(s, "| {stage} |");
                for (_, st) in &r.stages {
                    let _ = write!(s, " {:.2} |", st.get(k).map_or(f64::NAN, |x| x.1));
                }
                let _ = writeln!(s);
            }
        }
        let _ = writeln!(
            s,
            "\nselect_many: {} briefs in {:.2} s = {:.0} briefs/s ({} per brief, {:.1}× floor); the same briefs one at a time in parallel: {:.2} s = {:.0} briefs/s. Peak RSS while matching: {}.\n",
            r.batch.briefs,
            r.batch.secs,
            r.batch.briefs_per_sec,
            ms(r.batch.ms_per_brief),
            r.batch.ms_per_brief_vs_floor,
            r.batch.singles_secs,
            r.batch.singles_briefs_per_sec,
            r.peak_rss_matching.map_or("?".into(), gib),
        );
    }
    s
}

/// `cloutdesk bench`: runs, prints the markdown, writes the JSON.
pub fn run_cli(a: &BenchArgs) -> anyhow::Result<()> {
    let rep = run(a)?;
    print!("{}", markdown(&rep));
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_vec_pretty(&rep)?)
            .with_context(|| format!("{}: cannot write", p.display()))?;
        eprintln!("[bench] wrote {}", p.display());
    }
    Ok(())
}
