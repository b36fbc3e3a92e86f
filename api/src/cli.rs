//! Subcommands of the `cloutdesk` binary. Names and flags are interfaces:
//! add, never rename.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use cloutdesk_engine::ann::{HnswBuilder, HnswParams};
use cloutdesk_engine::matcher::{MatchOptions, Matcher};
use cloutdesk_engine::snapshot::{OpenOptions as SnapshotOpenOptions, Snapshot};
use cloutdesk_engine::storage::DataDir;
use cloutdesk_ingest::contract::FileFormat;
use cloutdesk_ingest::generate::{generate_world, write_world, GenConfig};
use cloutdesk_ingest::{ingest, IngestOptions, LoadReport, VectorIndexMode};

use crate::briefs::{read_brief_values, validate_all};
use crate::dto;
use crate::progress::Bars;

#[derive(Debug, Parser)]
#[command(
    name = "cloutdesk",
    version,
    about = "Cloutdesk campaign matching engine"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
    Parquet,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum VectorIndex {
    Auto,
    Always,
    Never,
}

/// Who builds the HNSW graph (hnsw_rs loads and searches it either way).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphBuilder {
    /// Cloutdesk's builder (flat arrays, int8 distances), written in
    /// hnsw_rs's format.
    Native,
    /// hnsw_rs's own parallel insertion.
    HnswRs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a seeded, realistic world as contract files.
    Generate {
        #[arg(long, default_value_t = 2000)]
        creators: usize,
        #[arg(long, default_value_t = 20)]
        briefs: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// Also write an `embedding` column of this dimension.
        #[arg(long)]
        embedding_dim: Option<usize>,
    },
    /// Load contract files into a new published snapshot.
    Ingest {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        creators: Option<PathBuf>,
        #[arg(long)]
        performance: Option<PathBuf>,
        #[arg(long)]
        payments: Option<PathBuf>,
        /// Fail the load (publish nothing) if any row is rejected.
        #[arg(long)]
        strict: bool,
        /// Published snapshots to keep.
        #[arg(long, default_value_t = 3)]
        keep: usize,
        /// Day to measure recency and payment delays at (YYYY-MM-DD; default today).
        #[arg(long)]
        as_of: Option<String>,
        /// Build the HNSW graph inline (auto: up to 250k creators, else deferred).
        #[arg(long, value_enum, default_value = "auto")]
        vector_index: VectorIndex,
        /// Print the load report as JSON.
        #[arg(long)]
        json: bool,
        /// HNSW graph: links per node (M; layer 0 keeps 2M).
        #[arg(long, default_value_t = HnswParams::default().max_nb_connection)]
        hnsw_m: usize,
        /// HNSW graph: candidate list length while inserting.
        #[arg(long, default_value_t = HnswParams::default().ef_construction)]
        hnsw_ef_construction: usize,
        /// HNSW graph: who builds it (either way hnsw_rs loads and searches it).
        #[arg(long, value_enum, default_value = "native")]
        hnsw_builder: GraphBuilder,
    },
    /// Add the HNSW vector index to the published snapshot (deferred loads).
    IndexVectors {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 3)]
        keep: usize,
        /// HNSW graph: links per node (M; layer 0 keeps 2M).
        #[arg(long, default_value_t = HnswParams::default().max_nb_connection)]
        hnsw_m: usize,
        /// HNSW graph: candidate list length while inserting.
        #[arg(long, default_value_t = HnswParams::default().ef_construction)]
        hnsw_ef_construction: usize,
        /// HNSW graph: who builds it (either way hnsw_rs loads and searches it).
        #[arg(long, value_enum, default_value = "native")]
        hnsw_builder: GraphBuilder,
    },
    /// Summarise the published snapshot.
    Snapshot {
        #[arg(long)]
        data: PathBuf,
    },
    /// Match a brief (or a file of briefs) against the published snapshot.
    Match {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, conflicts_with = "briefs")]
        brief: Option<PathBuf>,
        /// A JSON Lines file of briefs (use with --out).
        #[arg(long, requires = "out")]
        briefs: Option<PathBuf>,
        /// Directory for one `<campaign_id>.json` per brief.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the contract's match result JSON.
        #[arg(long)]
        json: bool,
        /// Score every eligible creator (no candidate stage).
        #[arg(long)]
        exact: bool,
        /// Rows shown in the table.
        #[arg(long, default_value_t = 20)]
        show: usize,
    },
    /// Measure selection quality on a generated world against baselines
    /// and an all-knowing oracle (realized value from the generator's truth).
    Evaluate {
        #[arg(long, default_value_t = 20_000)]
        creators: usize,
        #[arg(long, default_value_t = 60)]
        briefs: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Benchmark end to end on cached generated worlds (see BENCHMARKS.md).
    Bench(crate::bench::BenchArgs),
    /// Serve the HTTP API (docs/API.md) over a data dir.
    Serve(crate::server::ServeArgs),
    /// Mint, list and revoke API keys of a data dir.
    Keys(crate::keys::KeysArgs),
    /// Re-rank every open campaign against every creator (global assignment)
    /// and publish a new generation with selections, feeds and a diff.
    Rerank(crate::rerank::RerankArgs),
    /// Show a creator's opportunity feed from the published generation.
    Feed(crate::rerank::FeedArgs),
    /// Generate the default world, ingest it and match its sample briefs.
    Demo {
        #[arg(long, default_value_t = 100_000)]
        creators: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, default_value = "data/demo")]
        data: PathBuf,
        /// Briefs shown in full.
        #[arg(long, default_value_t = 3)]
        show: usize,
    },
}

/// The graph parameters of `--hnsw-m` and `--hnsw-ef-construction`.
fn hnsw_params(
    m: usize,
    ef_construction: usize,
    builder: GraphBuilder,
) -> anyhow::Result<HnswParams> {
    if !(2..=255).contains(&m) {
        bail!("--hnsw-m {m}: must be between 2 and 255 (links per graph node)");
    }
    if ef_construction == 0 {
        bail!("--hnsw-ef-construction must be at least 1");
    }
    Ok(HnswParams {
        max_nb_connection: m,
        ef_construction,
        builder: match builder {
            GraphBuilder::Native => HnswBuilder::Native,
            GraphBuilder::HnswRs => HnswBuilder::HnswRs,
        },
    })
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Generate {
            creators,
            briefs,
            seed,
            out,
            format,
            embedding_dim,
        } => cmd_generate(creators, briefs, seed, &out, format, embedding_dim),
        Command::Ingest {
            data,
            creators,
            performance,
            payments,
            strict,
            keep,
            as_of,
            vector_index,
            json,
            hnsw_m,
            hnsw_ef_construction,
            hnsw_builder,
        } => {
            let mut o = IngestOptions::new(data);
            o.creators = creators;
            o.performance = performance;
            o.payments = payments;
            o.strict = strict;
            o.keep = keep;
            o.as_of_day = as_of
                .map(|s| {
                    cloutdesk_engine::schema::parse_date(&s)
                        .ok_or_else(|| anyhow!("--as-of {s:?} is not a date (YYYY-MM-DD)"))
                })
                .transpose()?;
            o.hnsw = hnsw_params(hnsw_m, hnsw_ef_construction, hnsw_builder)?;
            o.vector_index = match vector_index {
                VectorIndex::Auto => VectorIndexMode::Auto,
                VectorIndex::Always => VectorIndexMode::Always,
                VectorIndex::Never => VectorIndexMode::Never,
            };
            let bars = Bars::new(json);
            let rep = ingest(&o, &bars)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rep)?);
            } else {
                print!("{}", load_summary(&rep));
            }
            Ok(())
        }
        Command::IndexVectors {
            data,
            keep,
            hnsw_m,
            hnsw_ef_construction,
            hnsw_builder,
        } => {
            let params = hnsw_params(hnsw_m, hnsw_ef_construction, hnsw_builder)?;
            let bars = Bars::new(false);
            let (id, e) = cloutdesk_ingest::pipeline::index_vectors(&data, params, keep, &bars)?;
            println!(
                "published {id}: hnsw over {} vectors in {:.1} s, recall@10 {:.3}",
                e.points,
                e.build_secs,
                e.recall_at_10.unwrap_or(f64::NAN)
            );
            Ok(())
        }
        Command::Snapshot { data } => {
            // The summary reads the graph's figures from the manifest: its
            // graph is not loaded (at 1M that load alone took ~47 s).
            let s = Snapshot::open_with(
                &DataDir::open(&data)?,
                &SnapshotOpenOptions {
                    vector_graph: false,
                    graph_if_useful_for: None,
                },
            )?;
            print!("{}", snapshot_summary(&s));
            Ok(())
        }
        Command::Match {
            data,
            brief,
            briefs,
            out,
            json,
            exact,
            show,
        } => cmd_match(&data, brief, briefs, out, json, exact, show),
        Command::Demo {
            creators,
            seed,
            data,
            show,
        } => cmd_demo(creators, seed, &data, show),
        Command::Bench(a) => crate::bench::run_cli(&a),
        Command::Serve(a) => crate::server::run_cli(&a),
        Command::Keys(a) => crate::keys::run_cli(&a),
        Command::Rerank(a) => crate::rerank::run_rerank_cli(&a),
        Command::Feed(a) => crate::rerank::run_feed_cli(&a),
        Command::Evaluate {
            creators,
            briefs,
            seed,
            json,
        } => {
            let r = evaluate_world(creators, briefs, seed)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print!("{}", crate::eval::report_table(&r));
            }
            Ok(())
        }
    }
}

fn cmd_generate(
    creators: usize,
    briefs: usize,
    seed: u64,
    out: &Path,
    format: Format,
    embedding_dim: Option<usize>,
) -> anyhow::Result<()> {
    let cfg = GenConfig {
        creators,
        briefs,
        seed,
        format: match format {
            Format::Csv => FileFormat::Csv,
            Format::Jsonl => FileFormat::Jsonl,
            Format::Parquet => FileFormat::Parquet,
        },
        embedding_dim,
    };
    let t = Instant::now();
    let bars = Bars::new(false);
    let sp = bars.bar("generating world", 2);
    let world = generate_world(&cfg);
    sp.inc(1);
    sp.set_message("writing contract files");
    let files = write_world(&world, &cfg, out)?;
    sp.finish_and_clear();
    println!(
        "wrote {} creators, {} performance rows, {} payments, {} briefs to {} in {:.1} s",
        world.creators.len(),
        world.performance.len(),
        world.payments.len(),
        world.briefs.len(),
        out.display(),
        t.elapsed().as_secs_f64()
    );
    for p in [
        &files.creators,
        &files.performance,
        &files.payments,
        &files.briefs,
        &files.truth,
    ] {
        println!("  {}", p.display());
    }
    Ok(())
}

pub fn load_summary(r: &LoadReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "published snapshot {}{}",
        r.snapshot,
        r.parent
            .as_ref()
            .map(|p| format!(" (parent {p})"))
            .unwrap_or_default()
    );
    for (kind, f) in [
        ("creators", &r.creators),
        ("performance", &r.performance),
        ("payments", &r.payments),
    ] {
        if let Some(f) = f {
            let _ = writeln!(
                s,
                "  {kind:<12} {}: read {}, loaded {}, rejected {}, added {}, updated {}{}",
                f.path,
                f.rows_read,
                f.rows_loaded,
                f.rows_rejected,
                f.added,
                f.updated,
                if f.duplicates > 0 {
                    format!(", repeated ids {} (last row won)", f.duplicates)
                } else {
                    String::new()
                }
            );
        }
    }
    let _ = writeln!(
        s,
        "  totals: {} creators, {} performance rows, {} payments",
        r.creators_total, r.performance_total, r.payments_total
    );
    let _ = writeln!(
        s,
        "  vectors: {} dims ({})",
        r.vector_dim,
        if r.vectors_user_supplied {
            "from the data's embedding column"
        } else {
            "derived: niches, bio, audience, performance"
        }
    );
    match (&r.vector_index, r.vector_index_deferred) {
        (Some(v), _) => {
            let _ = writeln!(
                s,
                "  hnsw: {} points, M={}, ef_construction={}, built in {:.1} s, recall@10 {:.3}",
                v.points,
                v.max_nb_connection,
                v.ef_construction,
                v.build_secs,
                v.recall_at_10.unwrap_or(f64::NAN)
            );
        }
        (None, true) => {
            let _ = writeln!(
                s,
                "  hnsw: deferred (run `cloutdesk index-vectors --data DIR`; matching uses an exact vector scan meanwhile)"
            );
        }
        (None, false) => {}
    }
    if r.rejected_rows > 0 {
        let _ = writeln!(s, "  rejected rows: {}", r.rejected_rows);
        for rej in r.rejects.iter().take(20) {
            let _ = writeln!(s, "    {rej}");
        }
        // The report keeps the first rejects (one entry per bad field);
        // the rejects file has them all.
        if r.rejects.len() > 20 {
            let _ = writeln!(s, "    ... and more");
        }
        if let Some(f) = &r.rejects_file {
            let _ = writeln!(s, "  all rejects: {f}");
        }
    }
    let total: f64 = r.timings.iter().map(|t| t.1).sum();
    let _ = writeln!(
        s,
        "  timings: {} = {:.2} s",
        r.timings
            .iter()
            .map(|(k, v)| format!("{k} {v:.2}s"))
            .collect::<Vec<_>>()
            .join(", "),
        total
    );
    s
}

pub fn snapshot_summary(s: &Snapshot) -> String {
    use std::fmt::Write;
    let m = &s.manifest;
    let mut out = String::new();
    let _ = writeln!(out, "snapshot {} (format {})", s.id, m.format);
    let _ = writeln!(
        out,
        "  as of {}; parent {}; {} row(s) rejected{}",
        cloutdesk_engine::schema::format_date(m.as_of_day),
        m.parent.as_deref().unwrap_or("none"),
        m.rejected_rows,
        m.rejects_file
            .as_deref()
            .map_or(String::new(), |f| format!(" (listed in {f})"))
    );
    for src in &m.sources {
        let _ = writeln!(
            out,
            "  source {:<12} {} ({} rows read, {} rejected, sha256 {})",
            src.kind,
            src.path,
            src.rows_read,
            src.rows_rejected,
            &src.sha256[..16.min(src.sha256.len())]
        );
    }
    for (name, t) in &m.tables {
        let _ = writeln!(
            out,
            "  {name:<16} {:>10} rows {:>12} bytes  sha256 {}",
            t.rows,
            t.bytes,
            &t.sha256[..16]
        );
    }
    let _ = writeln!(
        out,
        "  text index: {}; vector index: {}",
        m.text_index.as_deref().unwrap_or("none"),
        m.vector_index
            .as_ref()
            .map(|v| {
                format!(
                    "{} ({} points, M={}, ef_construction={}, {} builder, recall@10 {})",
                    v.kind,
                    v.points,
                    v.max_nb_connection,
                    v.ef_construction,
                    v.builder,
                    v.recall_at_10
                        .map_or("not measured".to_string(), |r| format!("{r:.3}"))
                )
            })
            .unwrap_or_else(|| "none (exact scan)".into())
    );
    let _ = writeln!(
        out,
        "  priors: engagement rate by size band {:?}, market cost/engagement ${:.3}",
        s.priors
            .er_by_band
            .iter()
            .map(|x| format!("{:.1}%", x * 100.0))
            .collect::<Vec<_>>(),
        s.priors.market_cpe
    );
    out
}

fn cmd_match(
    data: &Path,
    brief: Option<PathBuf>,
    briefs: Option<PathBuf>,
    out: Option<PathBuf>,
    json: bool,
    exact: bool,
    show: usize,
) -> anyhow::Result<()> {
    let s = Snapshot::open_with(
        &DataDir::open(data)?,
        &SnapshotOpenOptions::for_default_matcher(),
    )?;
    let matcher = Matcher::new(MatchOptions {
        force_exact: exact,
        ..MatchOptions::default()
    });
    let path = brief
        .or(briefs)
        .ok_or_else(|| anyhow!("give --brief FILE or --briefs FILE.jsonl --out DIR"))?;
    let raw = read_brief_values(&path)?;
    let validated = validate_all(&s, &raw)?;
    if out.is_some() {
        crate::briefs::distinct_campaign_ids(&raw, &validated)?;
    }
    let results = matcher.select_many(&s, &validated);
    match out {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("{}: cannot create", dir.display()))?;
            for r in &results {
                let p = dir.join(format!("{}.json", r.campaign_id));
                std::fs::write(&p, serde_json::to_vec_pretty(&dto::MatchResultJson::of(r))?)
                    .with_context(|| format!("{}: cannot write", p.display()))?;
            }
            println!("wrote {} match results to {}", results.len(), dir.display());
        }
        None if json => {
            if results.len() == 1 {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&dto::MatchResultJson::of(&results[0]))?
                );
            } else {
                for r in &results {
                    println!("{}", serde_json::to_string(&dto::MatchResultJson::of(r))?);
                }
            }
        }
        None => {
            for r in &results {
                println!("{}", dto::match_table(r, show));
            }
        }
    }
    Ok(())
}

fn cmd_demo(creators: usize, seed: u64, data: &Path, show: usize) -> anyhow::Result<()> {
    if creators == 0 {
        bail!("--creators must be at least 1");
    }
    let t = Instant::now();
    let src = data.join(format!("source-{creators}-{seed}"));
    let cfg = GenConfig {
        creators,
        briefs: 20,
        seed,
        format: FileFormat::Csv,
        embedding_dim: None,
    };
    let files_exist = [
        "creators.csv",
        "performance.csv",
        "payments.csv",
        "briefs.jsonl",
    ]
    .iter()
    .all(|f| src.join(f).exists());
    if files_exist {
        println!("1/3 using generated files in {}", src.display());
    } else {
        println!(
            "1/3 generating {creators} creators (seed {seed}) into {}",
            src.display()
        );
        cmd_generate(creators, 20, seed, &src, Format::Csv, None)?;
    }
    let _ = cfg;
    println!("2/3 ingesting");
    let mut o = IngestOptions::new(data.join("snapshots"));
    o.creators = Some(src.join("creators.csv"));
    o.performance = Some(src.join("performance.csv"));
    o.payments = Some(src.join("payments.csv"));
    o.as_of_day = cloutdesk_engine::schema::parse_date("2026-11-01");
    let rep = ingest(&o, &Bars::new(false))?;
    print!("{}", load_summary(&rep));
    println!("3/3 matching the sample briefs");
    let s = Snapshot::open_with(
        &DataDir::open(data.join("snapshots"))?,
        &SnapshotOpenOptions::for_default_matcher(),
    )?;
    let raw = read_brief_values(&src.join("briefs.jsonl"))?;
    let briefs = validate_all(&s, &raw)?;
    let matcher = Matcher::default();
    let t_match = Instant::now();
    let results = matcher.select_many(&s, &briefs);
    let batch_ms = t_match.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{:<12} {:>8} {:>9} {:>8} {:>12} {:>12} {:>14} {:>8}",
        "campaign", "wanted", "eligible", "chosen", "fees $", "budget $", "exp. eng.", "ms"
    );
    for (b, r) in briefs.iter().zip(&results) {
        println!(
            "{:<12} {:>8} {:>9} {:>8} {:>12.0} {:>12.0} {:>14.0} {:>8.1}",
            r.campaign_id,
            b.creators_wanted,
            r.stats.eligible,
            r.totals.creators,
            r.totals.fee_usd,
            r.totals.budget_usd,
            r.totals.expected_engagements,
            r.stats.took_ms
        );
    }
    println!(
        "{} briefs matched in {:.0} ms ({:.0} briefs/s)\n",
        results.len(),
        batch_ms,
        results.len() as f64 / (batch_ms / 1000.0)
    );
    for r in results.iter().take(show) {
        println!("{}", dto::match_table(r, 10));
    }
    println!("demo done in {:.1} s", t.elapsed().as_secs_f64());
    // The demo keeps its generated files beside the data dir it publishes
    // in: the other commands take that data dir.
    println!(
        "its data dir: {} (e.g. cloutdesk match --data {} --brief FILE)",
        data.join("snapshots").display(),
        data.join("snapshots").display()
    );
    Ok(())
}

/// Generates a world, loads it into a temporary data dir and evaluates the
/// engine on its briefs.
pub fn evaluate_world(
    creators: usize,
    briefs: usize,
    seed: u64,
) -> anyhow::Result<crate::eval::EvalReport> {
    let tmp = std::env::temp_dir().join(format!(
        "cloutdesk-eval-{}-{creators}-{seed}",
        std::process::id()
    ));
    let cfg = GenConfig {
        creators,
        briefs,
        seed,
        format: FileFormat::Csv,
        embedding_dim: None,
    };
    let world = generate_world(&cfg);
    let src = tmp.join("src");
    write_world(&world, &cfg, &src)?;
    let mut o = IngestOptions::new(tmp.join("data"));
    o.creators = Some(src.join("creators.csv"));
    o.performance = Some(src.join("performance.csv"));
    o.payments = Some(src.join("payments.csv"));
    o.as_of_day = cloutdesk_engine::schema::parse_date("2026-11-01");
    ingest(&o, &Bars::new(true))?;
    let s = Snapshot::open_with(
        &DataDir::open(tmp.join("data"))?,
        &SnapshotOpenOptions::for_default_matcher(),
    )?;
    let ctx = crate::briefs::context(&s);
    let mut pairs = Vec::new();
    for v in &world.briefs {
        let b = cloutdesk_engine::brief::CampaignBrief::from_json(v, &ctx)
            .map_err(|e| anyhow!("generated brief invalid: {e}"))?;
        pairs.push((v.clone(), b));
    }
    let r = crate::eval::evaluate(&s, &world.truth, &pairs, &Matcher::default());
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(r)
}
