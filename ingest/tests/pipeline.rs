//! End-to-end loads: contract files with bad rows mixed in, strict loads,
//! file-level faults, incremental upserts, all three formats.

use std::fs;
use std::path::Path;

use cloutdesk_engine::snapshot::Snapshot;
use cloutdesk_engine::storage::DataDir;
use cloutdesk_ingest::contract::FileFormat;
use cloutdesk_ingest::generate::{generate_world, write_world, GenConfig};
use cloutdesk_ingest::{ingest, IngestError, IngestOptions, NoProgress, VectorIndexMode};

fn opts(data: &Path, src: &Path, ext: &str) -> IngestOptions {
    let mut o = IngestOptions::new(data);
    o.creators = Some(src.join(format!("creators.{ext}")));
    o.performance = Some(src.join(format!("performance.{ext}")));
    o.payments = Some(src.join(format!("payments.{ext}")));
    o.as_of_day = cloutdesk_engine::schema::parse_date("2026-11-01");
    o.vector_index = VectorIndexMode::Never;
    o
}

fn world(dir: &Path, creators: usize, format: FileFormat) {
    let cfg = GenConfig {
        creators,
        briefs: 3,
        seed: 7,
        format,
        embedding_dim: None,
    };
    write_world(&generate_world(&cfg), &cfg, dir).unwrap();
}

#[test]
fn every_format_loads_the_same_world() {
    let tmp = tempfile::tempdir().unwrap();
    let mut tables = Vec::new();
    for (fmt, ext) in [
        (FileFormat::Csv, "csv"),
        (FileFormat::Jsonl, "jsonl"),
        (FileFormat::Parquet, "parquet"),
    ] {
        let src = tmp.path().join(format!("src-{ext}"));
        world(&src, 150, fmt);
        let data = tmp.path().join(format!("data-{ext}"));
        let rep = ingest(&opts(&data, &src, ext), &NoProgress).unwrap();
        assert_eq!(rep.rejected_rows, 0, "{ext}: {:?}", rep.rejects);
        assert_eq!(rep.creators_total, 150);
        let s = Snapshot::open(&DataDir::open(&data).unwrap()).unwrap();
        tables.push(s.creators.clone());
    }
    assert_eq!(tables[0], tables[1], "csv vs jsonl");
    assert_eq!(tables[0], tables[2], "csv vs parquet");
}

#[test]
fn bad_rows_are_reported_by_row_and_field_and_good_rows_land() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    world(&src, 100, FileFormat::Csv);
    // Mix bad rows into the creators file.
    let path = src.join("creators.csv");
    let text = fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header = lines[0].clone();
    let cols: Vec<&str> = header.split(',').collect();
    let idx = |name: &str| cols.iter().position(|c| *c == name).unwrap();
    let template: Vec<String> = vec![String::new(); cols.len()];
    let row = |id: &str, f: &dyn Fn(&mut Vec<String>)| {
        let mut r = template.clone();
        r[idx("creator_id")] = id.into();
        r[idx("handle")] = format!("h_{id}");
        r[idx("platform")] = "tiktok".into();
        r[idx("followers")] = "5000".into();
        f(&mut r);
        r.join(",")
    };
    lines.push(row("bad-number", &|r| r[idx("followers")] = "12k".into()));
    lines.push(row("bad-platform", &|r| {
        r[idx("platform")] = "myspace".into()
    }));
    lines.push(row("bad-map", &|r| {
        r[idx("audience_countries")] = "US:0.7|CA:0.6".into()
    }));
    lines.push(row("c-0000001", &|r| r[idx("followers")] = "777".into())); // duplicate id: last wins
    let n_lines = lines.len();
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    // History for an unknown creator and a malformed date.
    let ppath = src.join("performance.csv");
    let mut ptext = fs::read_to_string(&ppath).unwrap();
    ptext.push_str("ghost-1,cmp-x,Brand,fitness,2026-01-01,post,100,,50,,,true,0\n");
    ptext.push_str("c-0000002,cmp-y,Brand,fitness,2026-02-30,post,100,,50,,,true,0\n");
    let p_rows = ptext.lines().count() - 1;
    fs::write(&ppath, ptext).unwrap();

    let data = tmp.path().join("data");
    let rep = ingest(&opts(&data, &src, "csv"), &NoProgress).unwrap();
    let find = |field: &str, row: usize, file: &str| {
        rep.rejects
            .iter()
            .find(|r| r.field == field && r.row == row && r.file.ends_with(file))
            .unwrap_or_else(|| {
                panic!(
                    "no reject {file} row {row} field {field}: {:?}",
                    rep.rejects
                )
            })
            .clone()
    };
    // Rows are 1-based, header excluded: the k-th data line is row k.
    let bad_number_row = n_lines - 4;
    assert!(find("followers", bad_number_row, "creators.csv")
        .reason
        .contains("12k"));
    find("platform", bad_number_row + 1, "creators.csv");
    find("audience_countries", bad_number_row + 2, "creators.csv");
    let unknown = find("creator_id", p_rows - 1, "performance.csv");
    assert!(unknown.reason.contains("unknown creator"), "{unknown:?}");
    find("posted_at", p_rows, "performance.csv");
    assert_eq!(rep.rejected_rows, 5);
    let c = rep.creators.as_ref().unwrap();
    assert_eq!(c.duplicates, 1);
    assert_eq!(
        rep.creators_total, 100,
        "good rows land, the duplicate replaces"
    );
    let s = Snapshot::open(&DataDir::open(&data).unwrap()).unwrap();
    let o = s.ordinal("c-0000001").unwrap() as usize;
    assert_eq!(s.creators.followers[o], 777, "the last row wins");
    // The machine-readable rejects file is kept with the snapshot.
    let rj = fs::read_to_string(rep.rejects_file.as_ref().unwrap()).unwrap();
    assert_eq!(rj.lines().count(), 5);
    assert!(rj.contains("\"field\":\"platform\""));

    // --strict: the same files publish nothing.
    let mut strict = opts(&data, &src, "csv");
    strict.strict = true;
    let err = ingest(&strict, &NoProgress).unwrap_err();
    assert!(matches!(err, IngestError::Strict { count: 5, .. }), "{err}");
    assert_eq!(
        DataDir::open(&data).unwrap().current().unwrap().as_deref(),
        Some(rep.snapshot.as_str())
    );
}

#[test]
fn file_level_faults_publish_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    world(&src, 50, FileFormat::Csv);
    let data = tmp.path().join("data");
    let first = ingest(&opts(&data, &src, "csv"), &NoProgress).unwrap();
    // A missing required column.
    let bad = tmp.path().join("bad.csv");
    fs::write(&bad, "creator_id,handle\nc1,h1\n").unwrap();
    let mut o = opts(&data, &src, "csv");
    o.creators = Some(bad);
    let err = ingest(&o, &NoProgress).unwrap_err().to_string();
    assert!(err.contains("bad.csv") && err.contains("platform"), "{err}");
    // A truncated Parquet file.
    let psrc = tmp.path().join("psrc");
    world(&psrc, 50, FileFormat::Parquet);
    let p = psrc.join("creators.parquet");
    let bytes = fs::read(&p).unwrap();
    fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let mut o = opts(&data, &psrc, "parquet");
    o.performance = None;
    o.payments = None;
    let err = ingest(&o, &NoProgress).unwrap_err().to_string();
    assert!(err.contains("creators.parquet"), "{err}");
    // An unreadable file.
    let mut o = opts(&data, &src, "csv");
    o.payments = Some(tmp.path().join("nope.csv"));
    assert!(ingest(&o, &NoProgress)
        .unwrap_err()
        .to_string()
        .contains("nope.csv"));
    // Nothing changed.
    let dd = DataDir::open(&data).unwrap();
    assert_eq!(
        dd.current().unwrap().as_deref(),
        Some(first.snapshot.as_str())
    );
    assert_eq!(dd.snapshots().unwrap().len(), 1);
}

#[test]
fn incremental_loads_upsert_creators_and_append_history() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    world(&src, 80, FileFormat::Csv);
    let data = tmp.path().join("data");
    let first = ingest(&opts(&data, &src, "csv"), &NoProgress).unwrap();
    let s1 = Snapshot::open(&DataDir::open(&data).unwrap()).unwrap();
    let o1 = s1.ordinal("c-0000005").unwrap() as usize;
    let posts_before = s1.creators.post_count[o1];

    // Second load: one updated creator, one new creator, one new post.
    let text = fs::read_to_string(src.join("creators.csv")).unwrap();
    let header = text.lines().next().unwrap();
    let line5 = text
        .lines()
        .find(|l| l.starts_with("c-0000005,"))
        .unwrap()
        .to_string();
    let cols: Vec<&str> = header.split(',').collect();
    let fidx = cols.iter().position(|c| *c == "followers").unwrap();
    let mut cells: Vec<String> = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line5.as_bytes())
        .records()
        .next()
        .unwrap()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    cells[fidx] = "123456".into();
    let mut w = csv::Writer::from_path(tmp.path().join("upd.csv")).unwrap();
    w.write_record(cols.clone()).unwrap();
    w.write_record(&cells).unwrap();
    cells[0] = "c-new-1".into();
    w.write_record(&cells).unwrap();
    w.flush().unwrap();
    fs::write(
        tmp.path().join("perf2.csv"),
        "creator_id,campaign_id,brand,niche,posted_at,deliverable,fee_usd,impressions,engagements,clicks,conversions,on_time,revisions\n\
         c-0000005,cmp-new,Brand New,fitness,2026-10-01T10:00:00Z,post,100,,4000,,,true,0\n",
    )
    .unwrap();
    let mut o = IngestOptions::new(&data);
    o.creators = Some(tmp.path().join("upd.csv"));
    o.performance = Some(tmp.path().join("perf2.csv"));
    o.as_of_day = cloutdesk_engine::schema::parse_date("2026-11-01");
    o.vector_index = VectorIndexMode::Never;
    let second = ingest(&o, &NoProgress).unwrap();
    assert_eq!(second.parent.as_deref(), Some(first.snapshot.as_str()));
    let c = second.creators.as_ref().unwrap();
    assert_eq!((c.added, c.updated), (1, 1));
    assert_eq!(second.creators_total, 81);
    assert_eq!(second.performance_total, first.performance_total + 1);
    assert_eq!(second.payments_total, first.payments_total, "payments kept");
    let s2 = Snapshot::open(&DataDir::open(&data).unwrap()).unwrap();
    let o2 = s2.ordinal("c-0000005").unwrap() as usize;
    assert_eq!(s2.creators.followers[o2], 123_456);
    assert_eq!(s2.creators.post_count[o2], posts_before + 1);
    assert!(s2.ordinal("c-new-1").is_some());
    // Ordinals of untouched creators are stable.
    assert_eq!(s2.ordinal("c-0000001"), s1.ordinal("c-0000001"));
    // Loading the same history again does not double it.
    let third = ingest(&o, &NoProgress).unwrap();
    assert_eq!(third.performance_total, second.performance_total);
}

#[test]
fn old_snapshots_are_pruned_beyond_keep() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    world(&src, 30, FileFormat::Csv);
    let data = tmp.path().join("data");
    let mut o = opts(&data, &src, "csv");
    o.keep = 2;
    for _ in 0..4 {
        ingest(&o, &NoProgress).unwrap();
    }
    let ids: Vec<String> = DataDir::open(&data)
        .unwrap()
        .snapshots()
        .unwrap()
        .into_iter()
        .map(|x| x.1)
        .collect();
    assert_eq!(ids, vec!["v000003", "v000004"]);
}
