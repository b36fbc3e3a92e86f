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
    // A quote opened in row 2's bio and never closed: the reader would
    // take the rest of the file as that field (rows 3 and 4 unseen).
    let unclosed = tmp.path().join("unclosed.csv");
    fs::write(
        &unclosed,
        "creator_id,handle,platform,followers,bio\r\n\
         c1,h1,tiktok,100,\"fine, \"\"quoted\"\"\"\r\n\
         c2,h2,tiktok,200,\"never closed\r\n\
         c3,h3,tiktok,300,plain\r\n\
         c4,h4,tiktok,400,\r\n",
    )
    .unwrap();
    let mut o = opts(&data, &src, "csv");
    o.creators = Some(unclosed.clone());
    o.performance = None;
    o.payments = None;
    let err = ingest(&o, &NoProgress).unwrap_err().to_string();
    assert!(
        err.contains("unclosed.csv")
            && err.contains("row 2")
            && err.contains("field bio")
            && err.contains("line 3")
            && err.contains("never closed"),
        "{err}"
    );
    // The same rows with the quote closed load (stray quotes inside an
    // unquoted field, and a quoted last field, are not open quotes).
    let closed = tmp.path().join("closed.csv");
    fs::write(
        &closed,
        "creator_id,handle,platform,followers,bio\n\
         c1,h1,tiktok,100,\"fine, \"\"quoted\"\"\"\n\
         c2,h2,tiktok,200,\"now closed\nover two lines\"\n\
         c3,h3,tiktok,300,veg\"an\n\
         c4,h4,tiktok,400,\"last\"\"\"",
    )
    .unwrap();
    let tmp2 = tempfile::tempdir().unwrap();
    let mut o = opts(tmp2.path(), &src, "csv");
    o.creators = Some(closed);
    o.performance = None;
    o.payments = None;
    let rep = ingest(&o, &NoProgress).unwrap();
    let c = rep.creators.as_ref().unwrap();
    assert_eq!((c.rows_loaded, c.rows_rejected), (4, 0), "{rep:?}");
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

// ---------------------------------------------------------------------------
// Small hand-written loads.

const PERF_HEAD: &str = "creator_id,campaign_id,brand,niche,posted_at,deliverable,fee_usd,impressions,engagements,clicks,conversions,on_time,revisions\n";
const PAY_HEAD: &str = "org_id,creator_id,campaign_id,amount_usd,invoiced_at,paid_at\n";

/// A load of whichever of the three files are given (written under `dir`).
fn small_load(
    data: &Path,
    dir: &Path,
    creators: Option<&str>,
    performance: Option<&str>,
    payments: Option<&str>,
) -> IngestOptions {
    let mut o = IngestOptions::new(data);
    let put = |name: &str, text: Option<&str>| {
        text.map(|t| {
            let p = dir.join(name);
            fs::write(&p, t).unwrap();
            p
        })
    };
    o.creators = put("creators.csv", creators);
    o.performance = put("performance.csv", performance);
    o.payments = put("payments.csv", payments);
    o.as_of_day = cloutdesk_engine::schema::parse_date("2026-11-01");
    o.vector_index = VectorIndexMode::Never;
    o
}

/// Story rows of c1 in cmp-1 posted on 2026-03-01 (a date only), one per
/// engagement count.
fn stories(engagements: &[u64]) -> String {
    let mut s = PERF_HEAD.to_string();
    for e in engagements {
        s.push_str(&format!(
            "c1,cmp-1,Brand,fitness,2026-03-01,story,100,,{e},,,true,0\n"
        ));
    }
    s
}

/// Invoices of org o1 to c1 for cmp-1, all invoiced 2026-03-05, one per amount.
fn invoices(amounts: &[u32]) -> String {
    let mut s = PAY_HEAD.to_string();
    for a in amounts {
        s.push_str(&format!("o1,c1,cmp-1,{a},2026-03-05,2026-03-20\n"));
    }
    s
}

#[test]
fn rows_sharing_a_key_are_separate_posts_and_a_resent_file_replaces_them() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let creators = "creator_id,handle,platform,followers\nc1,one,instagram,10000\n";

    // One load: three stories the same day are three posts, two invoices
    // with the same key are two invoices.
    let o = small_load(
        &data,
        tmp.path(),
        Some(creators),
        Some(&stories(&[900, 800, 100])),
        Some(&invoices(&[100, 200])),
    );
    let first = ingest(&o, &NoProgress).unwrap();
    assert_eq!(first.performance_total, 3);
    let p = first.performance.as_ref().unwrap();
    assert_eq!((p.rows_loaded, p.added, p.updated), (3, 3, 0));
    assert_eq!(first.payments_total, 2);
    let q = first.payments.as_ref().unwrap();
    assert_eq!((q.rows_loaded, q.added, q.updated), (2, 2, 0));
    let s = Snapshot::open(&DataDir::open(&data).unwrap()).unwrap();
    let c1 = s.ordinal("c1").unwrap() as usize;
    assert_eq!(s.creators.post_count[c1], 3);
    assert_eq!(s.creators.engagement_rate[c1], Some(0.08), "median of 3");

    // The same file again, corrected, with one more post and one more
    // invoice: the k-th row of a key replaces the k-th stored row of that
    // key, the extra occurrence is added.
    let o = small_load(
        &data,
        tmp.path(),
        None,
        Some(&stories(&[950, 850, 150, 50])),
        Some(&invoices(&[110, 210, 300])),
    );
    let second = ingest(&o, &NoProgress).unwrap();
    assert_eq!(second.performance_total, 4);
    let p = second.performance.as_ref().unwrap();
    assert_eq!((p.rows_loaded, p.added, p.updated), (4, 1, 3));
    assert_eq!(second.payments_total, 3);
    let q = second.payments.as_ref().unwrap();
    assert_eq!((q.rows_loaded, q.added, q.updated), (3, 1, 2));
    let s = Snapshot::open(&DataDir::open(&data).unwrap()).unwrap();
    let c1 = s.ordinal("c1").unwrap() as usize;
    assert_eq!(s.creators.post_count[c1], 4);
    // Median of 950, 850, 150, 50 over 10,000 followers: the stored 900
    // and 800 were replaced.
    assert_eq!(s.creators.engagement_rate[c1], Some(0.05));

    // Re-sending that file changes nothing and doubles nothing.
    let third = ingest(&o, &NoProgress).unwrap();
    assert_eq!((third.performance_total, third.payments_total), (4, 3));
    let p = third.performance.as_ref().unwrap();
    assert_eq!((p.added, p.updated), (0, 4));
    let q = third.payments.as_ref().unwrap();
    assert_eq!((q.added, q.updated), (0, 3));
}

#[test]
fn rejected_rows_are_counted_once_per_row_not_per_field() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // 5 rows, 2 bad: row 2 has three bad fields, row 4 one.
    let creators = "creator_id,handle,platform,followers\n\
                    c1,one,instagram,1000\n\
                    bad id,@two,myspace,1000\n\
                    c3,three,tiktok,1000\n\
                    c4,four,tiktok,12k\n\
                    c5,five,youtube,1000\n";
    // 4 rows, 2 bad: row 2 has two bad fields, row 3 is for an unknown creator.
    let perf = format!(
        "{PERF_HEAD}\
         c1,cmp-1,Brand,,2026-03-01,post,100,,50,,,,\n\
         c1,cmp-1,Brand,,2026-02-30,post,-5,,50,,,,\n\
         ghost,cmp-1,Brand,,2026-03-01,post,100,,50,,,,\n\
         c3,cmp-1,Brand,,2026-03-01,post,100,,50,,,,\n"
    );
    let o = small_load(&data, tmp.path(), Some(creators), Some(&perf), None);
    let rep = ingest(&o, &NoProgress).unwrap();
    let c = rep.creators.as_ref().unwrap();
    assert_eq!((c.rows_read, c.rows_loaded, c.rows_rejected), (5, 3, 2));
    let p = rep.performance.as_ref().unwrap();
    assert_eq!((p.rows_read, p.rows_loaded, p.rows_rejected), (4, 2, 2));
    assert_eq!(rep.rejected_rows, 4);
    // The rejects keep one entry per bad field.
    assert_eq!(rep.rejects.len(), 7, "{:?}", rep.rejects);
    let rj = fs::read_to_string(rep.rejects_file.as_ref().unwrap()).unwrap();
    assert_eq!(rj.lines().count(), 7);
    let m = DataDir::open(&data)
        .unwrap()
        .manifest(&rep.snapshot)
        .unwrap();
    assert_eq!(m.rejected_rows, 4);
    let rejected: Vec<(String, u64, u64)> = m
        .sources
        .iter()
        .map(|s| (s.kind.clone(), s.rows_read, s.rows_rejected))
        .collect();
    assert_eq!(
        rejected,
        vec![("creators".into(), 5, 2), ("performance".into(), 4, 2)]
    );
    // Each source's checksum is its own file's (taken while reading).
    for src in &m.sources {
        let want = cloutdesk_engine::storage::file_sha256(std::path::Path::new(&src.path)).unwrap();
        assert_eq!(src.sha256, want, "{}", src.kind);
    }

    let mut strict = o.clone();
    strict.strict = true;
    let err = ingest(&strict, &NoProgress).unwrap_err();
    assert!(matches!(err, IngestError::Strict { count: 4, .. }), "{err}");
}

#[test]
fn a_prepayment_is_accepted_and_counts_as_zero_days_to_pay() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let creators = "creator_id,handle,platform,followers\nc1,one,instagram,1000\n";
    // o1 paid 20 and 30 days before the invoice, and 10 days after it.
    let pays = format!(
        "{PAY_HEAD}\
         o1,c1,cmp-1,100,2026-03-21,2026-03-01\n\
         o1,c1,cmp-2,100,2026-04-30,2026-03-31\n\
         o1,c1,cmp-3,100,2026-05-01,2026-05-11\n"
    );
    let o = small_load(&data, tmp.path(), Some(creators), None, Some(&pays));
    let rep = ingest(&o, &NoProgress).unwrap();
    assert_eq!(rep.rejected_rows, 0, "{:?}", rep.rejects);
    assert_eq!(rep.payments_total, 3);
    let s = Snapshot::open(&DataDir::open(&data).unwrap()).unwrap();
    let k = s.orgs.org_id.iter().position(|x| x == "o1").unwrap();
    assert_eq!(s.orgs.invoices[k], 3);
    // Delays 0, 0, 10 (the prepayments clamped to 0): median 0.
    assert_eq!(s.orgs.median_days_to_pay[k], Some(0.0));
    assert_eq!(s.orgs.unpaid_after_60_share[k], Some(0.0));
}

#[test]
fn a_load_whose_every_creator_row_is_bad_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let o = small_load(
        &data,
        tmp.path(),
        Some("creator_id,handle,platform,followers\nc-1,a,instagram,12k\nc-2,b,Instagram,100\n"),
        None,
        None,
    );
    let e = ingest(&o, &NoProgress).unwrap_err().to_string();
    assert!(e.contains("nothing to publish"), "{e}");
    assert!(e.contains("2 row(s) rejected"), "{e}");
    assert!(
        e.contains("row 1: followers") && e.contains("row 2: platform"),
        "{e}"
    );
}

/// `e` and its sources, as an error chain prints them (`{:#}`).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut at = e.source();
    while let Some(x) = at {
        s.push_str(": ");
        s.push_str(&x.to_string());
        at = x.source();
    }
    s
}

#[test]
fn a_data_dir_is_only_ever_a_data_dir_and_readers_create_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    world(&src, 40, FileFormat::Csv);
    let data = tmp.path().join("data");
    let first = ingest(&opts(&data, &src, "csv"), &NoProgress).unwrap();
    let snap_dir = data.join("snapshots").join(&first.snapshot);
    // A snapshot's directory, or the snapshots directory, is refused as a
    // data dir, for reading and for loading, and nothing is written there.
    let before: Vec<_> = fs::read_dir(&snap_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    for (wrong, says) in [
        (snap_dir.clone(), "snapshot's directory"),
        (data.join("snapshots"), "`snapshots` directory"),
    ] {
        let e = DataDir::open(&wrong).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
        let e = ingest(&opts(&wrong, &src, "csv"), &NoProgress)
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "{e}");
    }
    let after: Vec<_> = fs::read_dir(&snap_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after);
    assert!(!data.join("snapshots").join("snapshots").exists());
    // A mistyped data dir: "no snapshot", and it is not created.
    let typo = tmp.path().join("typo");
    let e = Snapshot::open(&DataDir::open(&typo).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no snapshot published"), "{e}");
    let e = cloutdesk_ingest::pipeline::index_vectors(&typo, Default::default(), 3, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no snapshot to index"), "{e}");
    assert!(!typo.exists());
    // Reading a published snapshot writes nothing into it (tantivy's
    // reader lock file included: a read-only data dir can be matched).
    let text = snap_dir.join("text");
    for e in fs::read_dir(&text).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().ends_with(".lock") {
            fs::remove_file(p).unwrap();
        }
    }
    Snapshot::open(&DataDir::open(&data).unwrap()).unwrap();
    for e in fs::read_dir(&text).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().to_string();
        assert!(!name.ends_with(".lock"), "{name} written by a reader");
    }
    // A second writer's error says so once (not prefixed and repeated).
    let held = DataDir::open(&data).unwrap().begin().unwrap();
    let e = ingest(&opts(&data, &src, "csv"), &NoProgress).unwrap_err();
    let text = chain(&e);
    assert_eq!(text.matches("another writer holds").count(), 1, "{text}");
    drop(held);
}

#[test]
fn a_snapshot_never_published_is_removed_not_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    world(&src, 40, FileFormat::Csv);
    let data = tmp.path().join("data");
    ingest(&opts(&data, &src, "csv"), &NoProgress).unwrap();
    let v2 = ingest(&opts(&data, &src, "csv"), &NoProgress)
        .unwrap()
        .snapshot;
    // A writer killed between renaming its snapshot into place and
    // switching CURRENT leaves one newer than CURRENT (here: a copy).
    let snaps = data.join("snapshots");
    let orphan = snaps.join("v000003");
    fs::create_dir_all(&orphan).unwrap();
    for e in fs::read_dir(snaps.join(&v2)).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), orphan.join(e.file_name())).unwrap();
        }
    }
    let mut o = opts(&data, &src, "csv");
    o.keep = 2;
    let v3 = ingest(&o, &NoProgress).unwrap().snapshot;
    let dd = DataDir::open(&data).unwrap();
    let kept: Vec<String> = dd.snapshots().unwrap().into_iter().map(|x| x.1).collect();
    // Two published snapshots kept: the orphan neither counted nor kept.
    assert_eq!(kept, vec![v2.clone(), v3.clone()]);
    assert_eq!(v3, "v000003");
    let m = dd.manifest(&v3).unwrap();
    assert_eq!(
        (m.id.as_str(), m.parent.as_deref()),
        ("v000003", Some(v2.as_str()))
    );
}
