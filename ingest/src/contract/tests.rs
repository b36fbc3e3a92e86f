//! Tests of the contract readers and writers: round trips through all three
//! formats, one test per contract rule (the reject names file, row and
//! field, and the good rows around it still land), and file-level faults.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int64Builder, ListBuilder, MapBuilder, StringBuilder, StructBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Fields, Schema};
use cloutdesk_engine::schema::{Deliverable, Platform};

use super::*;
use crate::records::Reject;

fn full_creator(id: &str) -> CreatorRecord {
    CreatorRecord {
        creator_id: id.to_string(),
        handle: format!("{id}_handle"),
        platform: Platform::Tiktok,
        bio: Some("Vegan recipes, \"quoted\", commas, and\nnewlines; ünïcödé 🌱".to_string()),
        niches: Some(vec!["vegan-food".into(), "fitness".into()]),
        country: Some("US".into()),
        languages: Some(vec!["en".into(), "es".into()]),
        followers: 12_000,
        avg_views: Some(3_400),
        audience_countries: Some(vec![
            ("US".into(), 0.41),
            ("CA".into(), 0.2),
            ("GB".into(), 0.09),
        ]),
        audience_ages: Some([0.05, 0.4, 0.3, 0.0, 0.1]),
        audience_female: Some(0.61),
        audience_quality: Some(1.0 / 3.0),
        rate_usd: Some(420.5),
        min_fee_usd: Some(0.1 + 0.2),
        accepts_usage_rights: Some(false),
        capacity: Some(3),
        brands_worked_with: Some(vec!["Acme Oats".into(), "Rival, Inc.".into()]),
        embedding: Some(vec![0.013, -0.207, 1e-30, -0.0, 3.402_823_5e38, 0.1]),
    }
}

fn bare_creator(id: &str) -> CreatorRecord {
    CreatorRecord {
        creator_id: id.to_string(),
        handle: "x".into(),
        platform: Platform::X,
        bio: None,
        niches: None,
        country: None,
        languages: None,
        followers: 0,
        avg_views: None,
        audience_countries: None,
        audience_ages: None,
        audience_female: None,
        audience_quality: None,
        rate_usd: None,
        min_fee_usd: None,
        accepts_usage_rights: None,
        capacity: None,
        brands_worked_with: None,
        embedding: None,
    }
}

fn performances() -> Vec<PerformanceRecord> {
    vec![
        PerformanceRecord {
            creator_id: "c-1".into(),
            campaign_id: "cmp.2026_01".into(),
            brand: "Acme Oats".into(),
            niche: Some("vegan-food".into()),
            posted_at: 1_772_368_215,
            deliverable: Some(Deliverable::Reel),
            fee_usd: 1_234.567_890_123_4,
            impressions: Some(u64::MAX),
            engagements: 1890,
            clicks: Some(12),
            conversions: Some(0),
            on_time: Some(true),
            revisions: Some(2),
        },
        PerformanceRecord {
            creator_id: "c-2".into(),
            campaign_id: "cmp-2".into(),
            brand: "B".into(),
            niche: None,
            posted_at: -86_400,
            deliverable: None,
            fee_usd: 0.0,
            impressions: None,
            engagements: 0,
            clicks: None,
            conversions: None,
            on_time: None,
            revisions: None,
        },
    ]
}

fn payments() -> Vec<PaymentRecord> {
    vec![
        PaymentRecord {
            org_id: "acme-agency".into(),
            creator_id: "c-1".into(),
            campaign_id: "cmp-1".into(),
            amount_usd: 60_000.25,
            invoiced_at: 20_000,
            paid_at: Some(20_031),
        },
        PaymentRecord {
            org_id: "o".into(),
            creator_id: "c-2".into(),
            campaign_id: "cmp-1".into(),
            amount_usd: 5e-324,
            invoiced_at: -5,
            paid_at: None,
        },
    ]
}

fn rows_of<T>(l: &LoadedFile<T>) -> Vec<T>
where
    T: Clone,
{
    l.rows.iter().map(|(_, r)| r.clone()).collect()
}

fn row_numbers<T>(l: &LoadedFile<T>) -> Vec<usize> {
    l.rows.iter().map(|(n, _)| *n).collect()
}

const EXTS: [&str; 4] = ["csv", "jsonl", "ndjson", "parquet"];

#[test]
fn round_trip_all_formats() {
    let dir = tempfile::tempdir().unwrap();
    let creators = vec![
        full_creator("c-1"),
        bare_creator("c-2"),
        full_creator("c-3"),
    ];
    let perf = performances();
    let pay = payments();
    for ext in EXTS {
        let p = dir.path().join(format!("creators.{ext}"));
        write_creators(&p, &creators).unwrap();
        let back = read_creators(&p).unwrap();
        assert!(back.rejects.is_empty(), "{ext}: {:?}", back.rejects);
        assert_eq!(back.rows_read, 3);
        assert_eq!(row_numbers(&back), vec![1, 2, 3], "{ext}");
        let got = rows_of(&back);
        assert_eq!(got, creators, "{ext}");
        // Bit-exact floats (PartialEq would accept -0.0 == 0.0).
        let bits = |v: &[CreatorRecord]| -> Vec<u32> {
            v.iter()
                .flat_map(|c| c.embedding.iter().flatten().map(|x| x.to_bits()))
                .collect()
        };
        assert_eq!(bits(&got), bits(&creators), "{ext}");

        let p = dir.path().join(format!("performance.{ext}"));
        write_performance(&p, &perf).unwrap();
        let back = read_performance(&p).unwrap();
        assert!(back.rejects.is_empty(), "{ext}: {:?}", back.rejects);
        assert_eq!(rows_of(&back), perf, "{ext}");

        let p = dir.path().join(format!("payments.{ext}"));
        write_payments(&p, &pay).unwrap();
        let back = read_payments(&p).unwrap();
        assert!(back.rejects.is_empty(), "{ext}: {:?}", back.rejects);
        assert_eq!(rows_of(&back), pay, "{ext}");
    }
}

#[test]
fn round_trip_empty_and_without_embeddings() {
    let dir = tempfile::tempdir().unwrap();
    for ext in EXTS {
        let p = dir.path().join(format!("empty.{ext}"));
        write_creators(&p, &[]).unwrap();
        let back = read_creators(&p).unwrap();
        assert!(back.rows.is_empty() && back.rejects.is_empty(), "{ext}");

        let p = dir.path().join(format!("bare.{ext}"));
        let rows = vec![bare_creator("a"), bare_creator("b")];
        write_creators(&p, &rows).unwrap();
        assert_eq!(rows_of(&read_creators(&p).unwrap()), rows, "{ext}");
    }
    let p = dir.path().join("bare.csv");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.starts_with("creator_id,handle,platform,bio,niches,"));
    assert!(!text.contains("embedding"));
}

#[test]
fn csv_writer_uses_the_contract_encodings() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.csv");
    write_creators(&p, &[full_creator("c-1")]).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains("US:0.41|CA:0.2|GB:0.09"), "{text}");
    assert!(
        text.contains("13-17:0.05|18-24:0.4|25-34:0.3|45+:0.1"),
        "{text}"
    );
    assert!(text.contains("vegan-food|fitness"), "{text}");
    let p = dir.path().join("p.csv");
    write_performance(&p, &performances()).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains("2026-03-01T12:30:15Z"), "{text}");
    let p = dir.path().join("pay.csv");
    write_payments(&p, &payments()).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(
        text.starts_with("org_id,creator_id,campaign_id,amount_usd,invoiced_at,paid_at\n"),
        "{text}"
    );
    assert!(text.contains("2024-10-04,2024-11-04"), "{text}");
}

// ---------------------------------------------------------------------------
// Row-level rules

fn file(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// The single reject of `row`, checked to name `path` and `field`.
fn reject_at<'a, T>(l: &'a LoadedFile<T>, path: &Path, row: usize, field: &str) -> &'a Reject {
    let found: Vec<&Reject> = l.rejects.iter().filter(|r| r.row == row).collect();
    assert_eq!(found.len(), 1, "row {row}: {:?}", l.rejects);
    let r = found[0];
    assert_eq!(r.field, field, "{r}");
    assert_eq!(r.file, path.display().to_string());
    assert!(
        r.to_string().contains(&format!("row {row}: {field}: ")),
        "{r}"
    );
    r
}

const CREATOR_HEAD: &str = "creator_id,handle,platform,followers";

/// A creators CSV with the required columns plus `col`, one row per value
/// of `vals` (ids c1, c2, ...).
fn creators_with(dir: &Path, col: &str, vals: &[&str]) -> (PathBuf, LoadedFile<CreatorRecord>) {
    let mut s = format!("{CREATOR_HEAD},{col}\n");
    for (i, v) in vals.iter().enumerate() {
        let v = if v.contains(',') || v.contains('"') {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v.to_string()
        };
        s.push_str(&format!("c{n},h{n},instagram,100,{v}\n", n = i + 1));
    }
    let p = file(dir, &format!("{col}.csv"), &s);
    let l = read_creators(&p).unwrap();
    (p, l)
}

#[test]
fn bad_number_is_rejected_and_neighbours_land() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(
        dir.path(),
        "c.csv",
        "creator_id,handle,platform,followers\nc1,a,tiktok,10\nc2,b,tiktok,12k\nc3,c,tiktok,12000.0\nc4,d,tiktok,-3\n",
    );
    let l = read_creators(&p).unwrap();
    let r = reject_at(&l, &p, 2, "followers");
    assert!(
        r.reason.contains("\"12k\" is not a non-negative integer"),
        "{r}"
    );
    let r = reject_at(&l, &p, 4, "followers");
    assert!(r.reason.contains("negative"), "{r}");
    assert_eq!(row_numbers(&l), vec![1, 3]);
    assert_eq!(l.rows[1].1.followers, 12_000);
    assert_eq!(l.rows_read, 4);
}

#[test]
fn csv_rows_across_parallel_chunks_keep_their_numbers_and_order() {
    // More rows than one tokenised chunk (16,384), with bad rows at and
    // around the chunk and piece edges, a ragged row and a quoted bio
    // spanning lines.
    let dir = tempfile::tempdir().unwrap();
    let n = 40_000;
    let bad = [1usize, 1_024, 1_025, 16_384, 16_385, 32_769, 40_000];
    let mut s = String::from("creator_id,handle,platform,followers,bio\n");
    for i in 1..=n {
        if i == 20_000 {
            s.push_str("c20000,h,tiktok\n");
        } else if bad.contains(&i) {
            s.push_str(&format!("c{i},h{i},tiktok,lots,\n"));
        } else if i == 30_000 {
            s.push_str(&format!("c{i},h{i},tiktok,{i},\"two\nlines\"\n"));
        } else {
            s.push_str(&format!("c{i},h{i},tiktok,{i},\n"));
        }
    }
    let p = file(dir.path(), "many.csv", &s);
    let l = read_creators(&p).unwrap();
    assert_eq!(l.rows_read, n);
    for &b in &bad {
        reject_at(&l, &p, b, "followers");
    }
    reject_at(&l, &p, 20_000, "<row>");
    let expect: Vec<usize> = (1..=n)
        .filter(|i| !bad.contains(i) && *i != 20_000)
        .collect();
    assert_eq!(row_numbers(&l), expect);
    assert!(l
        .rows
        .iter()
        .all(|(row, r)| r.creator_id == format!("c{row}") && r.followers == *row as u64));
    let multi = l.rows.iter().find(|(row, _)| *row == 30_000).unwrap();
    assert_eq!(multi.1.bio.as_deref(), Some("two\nlines"));
    // Rejects in row order, as a sequential read reports them.
    let rows: Vec<usize> = l.rejects.iter().map(|r| r.row).collect();
    assert!(rows.windows(2).all(|w| w[0] < w[1]), "{rows:?}");
}

#[test]
fn unknown_platform() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(
        dir.path(),
        "c.csv",
        "followers,platform,handle,creator_id,extra\n1,youtube,a,c1,z\n1,myspace,b,c2,z\n1,Instagram,c,c3,z\n1,x,d,c4,z\n",
    );
    let l = read_creators(&p).unwrap();
    assert!(reject_at(&l, &p, 2, "platform")
        .reason
        .contains("\"myspace\""));
    reject_at(&l, &p, 3, "platform");
    assert_eq!(row_numbers(&l), vec![1, 4]);
    assert_eq!(l.rows[1].1.platform, Platform::X);
}

#[test]
fn lower_case_country() {
    let dir = tempfile::tempdir().unwrap();
    let (p, l) = creators_with(dir.path(), "country", &["US", "us", "XK", "GB", ""]);
    assert!(reject_at(&l, &p, 2, "country")
        .reason
        .contains("upper case"));
    assert!(reject_at(&l, &p, 3, "country").reason.contains("\"XK\""));
    assert_eq!(row_numbers(&l), vec![1, 4, 5]);
    assert_eq!(l.rows[2].1.country, None);
}

#[test]
fn languages_and_niches() {
    let dir = tempfile::tempdir().unwrap();
    let (p, l) = creators_with(dir.path(), "languages", &["en|fr", "EN", "en|xx", "en||fr"]);
    assert!(reject_at(&l, &p, 2, "languages")
        .reason
        .contains("lower case"));
    reject_at(&l, &p, 3, "languages");
    assert!(reject_at(&l, &p, 4, "languages")
        .reason
        .contains("empty item"));
    assert_eq!(row_numbers(&l), vec![1]);
    let (_, l) = creators_with(dir.path(), "niches", &[" Fitness | Vegan-Food "]);
    assert_eq!(
        l.rows[0].1.niches,
        Some(vec!["fitness".to_string(), "vegan-food".to_string()])
    );
    // Listed twice, in any case: once, at its first place.
    let (_, l) = creators_with(dir.path(), "niches", &["tech|Vegan-Food|Tech|TECH"]);
    assert_eq!(
        l.rows[0].1.niches,
        Some(vec!["tech".to_string(), "vegan-food".to_string()])
    );
    let (_, l) = creators_with(dir.path(), "languages", &["en|fr|en"]);
    assert_eq!(
        l.rows[0].1.languages,
        Some(vec!["en".to_string(), "fr".to_string()])
    );
}

#[test]
fn broken_share_maps() {
    let dir = tempfile::tempdir().unwrap();
    let (p, l) = creators_with(
        dir.path(),
        "audience_countries",
        &[
            "US:0.41|CA:0.20",
            "ZZ:0.1",
            "US:0.5",
            "US:1.5",
            "US:0.6|CA:0.5",
            "US0.5",
            "US:0.4|US:0.1",
            "US:0.41|CA:0.6",
            "US:x",
        ],
    );
    assert!(reject_at(&l, &p, 2, "audience_countries")
        .reason
        .contains("\"ZZ\""));
    assert!(reject_at(&l, &p, 4, "audience_countries")
        .reason
        .contains("[0, 1]"));
    assert!(reject_at(&l, &p, 5, "audience_countries")
        .reason
        .contains("sum"));
    assert!(reject_at(&l, &p, 6, "audience_countries")
        .reason
        .contains("':'"));
    assert!(reject_at(&l, &p, 7, "audience_countries")
        .reason
        .contains("duplicate"));
    reject_at(&l, &p, 9, "audience_countries");
    assert_eq!(row_numbers(&l), vec![1, 3, 8]);
    assert_eq!(
        l.rows[0].1.audience_countries,
        Some(vec![("US".to_string(), 0.41), ("CA".to_string(), 0.2)])
    );
}

#[test]
fn bad_age_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let (p, l) = creators_with(
        dir.path(),
        "audience_ages",
        &["18-24:0.5|45+:0.2", "18-25:0.3", "13-17:0.5|18-24:0.6"],
    );
    assert!(reject_at(&l, &p, 2, "audience_ages")
        .reason
        .contains("\"18-25\""));
    assert!(reject_at(&l, &p, 3, "audience_ages").reason.contains("sum"));
    assert_eq!(row_numbers(&l), vec![1]);
    assert_eq!(l.rows[0].1.audience_ages, Some([0.0, 0.5, 0.0, 0.0, 0.2]));
}

#[test]
fn bad_ids_and_handles() {
    let dir = tempfile::tempdir().unwrap();
    let long = "a".repeat(65);
    let p = file(
        dir.path(),
        "c.csv",
        &format!(
            "creator_id,handle,platform,followers\nok.1,a,x,1\nc 1,a,x,1\n{long},a,x,1\n,a,x,1\nc5,@anna,x,1\nc6,,x,1\nc_7,b,x,1\n"
        ),
    );
    let l = read_creators(&p).unwrap();
    assert!(reject_at(&l, &p, 2, "creator_id")
        .reason
        .contains("not a valid id"));
    reject_at(&l, &p, 3, "creator_id");
    assert!(reject_at(&l, &p, 4, "creator_id")
        .reason
        .contains("required"));
    assert!(reject_at(&l, &p, 5, "handle").reason.contains('@'));
    assert!(reject_at(&l, &p, 6, "handle").reason.contains("required"));
    assert_eq!(row_numbers(&l), vec![1, 7]);
}

#[test]
fn bio_too_long() {
    let dir = tempfile::tempdir().unwrap();
    let ok = "é".repeat(4000);
    let long = "b".repeat(4001);
    let (p, l) = creators_with(dir.path(), "bio", &[&ok, &long, "short"]);
    let r = reject_at(&l, &p, 2, "bio");
    assert!(r.reason.contains("4001") && r.reason.len() < 200, "{r}");
    assert_eq!(row_numbers(&l), vec![1, 3]);
}

#[test]
fn embedding_length_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let (p, l) = creators_with(
        dir.path(),
        "embedding",
        &[
            "",
            "0.1|0.2|0.3",
            "0.1|0.2",
            "0.4|0.5|0.6",
            "0.1|nan|0.2",
            "1e39|0|0",
        ],
    );
    let r = reject_at(&l, &p, 3, "embedding");
    assert!(r.reason.contains('2') && r.reason.contains('3'), "{r}");
    reject_at(&l, &p, 5, "embedding");
    reject_at(&l, &p, 6, "embedding");
    assert_eq!(row_numbers(&l), vec![1, 2, 4]);

    // The length most rows have is the load's, even against the first row.
    let (_, l) = creators_with(dir.path(), "embedding", &["0.1", "0.1|0.2", "0.3|0.4"]);
    assert_eq!(row_numbers(&l), vec![2, 3]);
    let p = file(
        dir.path(),
        "e.csv",
        "creator_id,handle,platform,followers,embedding\nc1,a,x,bad,0.1\nc2,a,x,1,0.1|0.2\nc3,a,x,1,0.3|0.4\n",
    );
    let l = read_creators(&p).unwrap();
    assert_eq!(row_numbers(&l), vec![2, 3]);
}

#[test]
fn malformed_dates_and_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(
        dir.path(),
        "p.csv",
        "creator_id,campaign_id,brand,posted_at,fee_usd,engagements\n\
         c1,k,B,2026-03-01T12:30:15+02:00,10,5\n\
         c1,k,B,2026-13-01,10,5\n\
         c1,k,B,2026-03-01,10,5\n\
         c1,k,B,yesterday,10,5\n",
    );
    let l = read_performance(&p).unwrap();
    reject_at(&l, &p, 2, "posted_at");
    assert!(reject_at(&l, &p, 4, "posted_at")
        .reason
        .contains("RFC 3339"));
    assert_eq!(row_numbers(&l), vec![1, 3]);
    assert_eq!(l.rows[0].1.posted_at, 1_772_361_015);
    assert_eq!(l.rows[1].1.posted_at, 1_772_323_200);

    let p = file(
        dir.path(),
        "pay.csv",
        "org_id,creator_id,campaign_id,amount_usd,invoiced_at,paid_at\n\
         o,c1,k,10,2026-01-10,2026-02-01\n\
         o,c1,k,10,01/02/2026,\n\
         o,c1,k,10,2026-01-10,2026-01-09\n\
         o,c1,k,10,2026-01-10,\n",
    );
    let l = read_payments(&p).unwrap();
    assert!(reject_at(&l, &p, 2, "invoiced_at")
        .reason
        .contains("\"01/02/2026\""));
    // A payment before its invoice (a prepayment) is valid: the contract
    // sets no order between the two dates.
    assert_eq!(l.rejects.len(), 1, "{:?}", l.rejects);
    assert_eq!(row_numbers(&l), vec![1, 3, 4]);
    assert_eq!(l.rows[0].1.paid_at, Some(l.rows[0].1.invoiced_at + 22));
    assert_eq!(l.rows[1].1.paid_at, Some(l.rows[1].1.invoiced_at - 1));
}

#[test]
fn negative_money() {
    let dir = tempfile::tempdir().unwrap();
    let (p, l) = creators_with(dir.path(), "rate_usd", &["420.5", "-5", "1e3", "$5"]);
    assert!(reject_at(&l, &p, 2, "rate_usd").reason.contains("negative"));
    reject_at(&l, &p, 4, "rate_usd");
    assert_eq!(row_numbers(&l), vec![1, 3]);
    assert_eq!(l.rows[1].1.rate_usd, Some(1000.0));
}

#[test]
fn bad_bool() {
    let dir = tempfile::tempdir().unwrap();
    let (p, l) = creators_with(
        dir.path(),
        "accepts_usage_rights",
        &["TRUE", "yes", "0", "False"],
    );
    assert!(reject_at(&l, &p, 2, "accepts_usage_rights")
        .reason
        .contains("\"yes\""));
    assert_eq!(row_numbers(&l), vec![1, 3, 4]);
    let got: Vec<_> = l.rows.iter().map(|(_, r)| r.accepts_usage_rights).collect();
    assert_eq!(got, vec![Some(true), Some(false), Some(false)]);
}

#[test]
fn every_bad_field_of_a_row_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(
        dir.path(),
        "c.csv",
        "creator_id,handle,platform,followers,country,capacity\nc1,a,x,1,US,1\nbad id,a,tv,-1,usa,5000000000\nc3,a,x,1,,\n",
    );
    let l = read_creators(&p).unwrap();
    let mut fields: Vec<&str> = l.rejects.iter().map(|r| r.field.as_str()).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        vec!["capacity", "country", "creator_id", "followers", "platform"]
    );
    assert!(l.rejects.iter().all(|r| r.row == 2));
    assert_eq!(row_numbers(&l), vec![1, 3]);
}

#[test]
fn duplicate_ids_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(
        dir.path(),
        "c.csv",
        "creator_id,handle,platform,followers\nc1,a,x,1\nc1,b,x,2\n",
    );
    let l = read_creators(&p).unwrap();
    assert!(l.rejects.is_empty());
    assert_eq!(l.rows.len(), 2);
}

#[test]
fn csv_ragged_row() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(
        dir.path(),
        "c.csv",
        "creator_id,handle,platform,followers\nc1,a,x,1\nc2,a,x\nc3,a,x,1,extra\n\"c4\",\"a, b\",x,1\n",
    );
    let l = read_creators(&p).unwrap();
    assert!(reject_at(&l, &p, 2, "<row>").reason.contains("3 fields"));
    reject_at(&l, &p, 3, "<row>");
    assert_eq!(row_numbers(&l), vec![1, 4]);
    assert_eq!(l.rows[1].1.handle, "a, b");
    assert_eq!(l.rows_read, 4);
}

#[test]
fn csv_non_utf8_cell_is_a_row_reject() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.csv");
    let mut bytes = b"creator_id,handle,platform,followers,bio\nc1,a,x,1,ok\nc2,a,x,1,".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, b'\n']);
    bytes.extend_from_slice(b"c3,a,x,1,\n");
    std::fs::write(&p, bytes).unwrap();
    let l = read_creators(&p).unwrap();
    assert!(reject_at(&l, &p, 2, "bio").reason.contains("UTF-8"));
    assert_eq!(row_numbers(&l), vec![1, 3]);
}

#[test]
fn jsonl_malformed_lines() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(
        dir.path(),
        "c.jsonl",
        concat!(
            "{\"creator_id\":\"c1\",\"handle\":\"a\",\"platform\":\"x\",\"followers\":1}\n",
            "{not json\n",
            "[1,2]\n",
            "\n",
            "{\"creator_id\":\"c5\",\"handle\":\"a\",\"platform\":\"x\",\"followers\":2.0,\"bio\":null,\"extra\":[1]}\n",
            "{\"creator_id\":\"c6\",\"handle\":\"a\",\"platform\":\"x\"}\n",
            "{\"creator_id\":\"c7\",\"handle\":\"a\",\"platform\":\"x\",\"followers\":\"9\",",
            "\"niches\":\"Fitness|food\",\"audience_countries\":{\"US\":0.5,\"CA\":0.25},",
            "\"audience_ages\":\"18-24:0.5\",\"languages\":[\"en\"],\"capacity\":2.5}\n",
            "{\"creator_id\":\"c8\",\"handle\":\"a\",\"platform\":\"x\",\"followers\":1,",
            "\"audience_countries\":{\"US\":1.5},\"languages\":[\"en\",null]}\n",
        ),
    );
    let l = read_creators(&p).unwrap();
    assert!(reject_at(&l, &p, 2, "<line>")
        .reason
        .contains("not valid JSON"));
    assert!(reject_at(&l, &p, 3, "<line>")
        .reason
        .contains("not a JSON object"));
    assert!(reject_at(&l, &p, 6, "followers")
        .reason
        .contains("required"));
    reject_at(&l, &p, 7, "capacity");
    let r8: Vec<&str> = l
        .rejects
        .iter()
        .filter(|r| r.row == 8)
        .map(|r| r.field.as_str())
        .collect();
    assert_eq!(r8, vec!["languages", "audience_countries"]);
    assert_eq!(row_numbers(&l), vec![1, 5]);
    assert_eq!(l.rows[1].1.followers, 2);
    assert_eq!(l.rows[1].1.bio, None);
    assert_eq!(l.rows_read, 7);
}

#[test]
fn jsonl_accepts_csv_encodings_as_strings() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(
        dir.path(),
        "c.ndjson",
        "{\"creator_id\":\"c7\",\"handle\":\"a\",\"platform\":\"x\",\"followers\":\"9\",\"niches\":\"Fitness|food\",\"audience_countries\":{\"US\":0.5,\"CA\":0.25},\"audience_ages\":\"18-24:0.5\",\"languages\":[\"en\"],\"embedding\":[1,0.5]}\n",
    );
    let l = read_creators(&p).unwrap();
    assert!(l.rejects.is_empty(), "{:?}", l.rejects);
    let c = &l.rows[0].1;
    assert_eq!(c.followers, 9);
    assert_eq!(c.niches, Some(vec!["fitness".into(), "food".into()]));
    assert_eq!(c.audience_ages, Some([0.0, 0.5, 0.0, 0.0, 0.0]));
    assert_eq!(c.embedding, Some(vec![1.0, 0.5]));
}

/// A Parquet creators file built with arrow directly: Int64 followers, a
/// Map column for audience_countries, list<struct<key, value>> for ages.
#[test]
fn parquet_foreign_types_and_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.parquet");
    let ids = ["c1", "c2", "c3"];
    let mut id_b = StringBuilder::new();
    let mut handle_b = StringBuilder::new();
    let mut platform_b = StringBuilder::new();
    let mut followers_b = Int64Builder::new();
    let mut countries_b = MapBuilder::new(None, StringBuilder::new(), Float64Builder::new());
    let entry = Fields::from(vec![
        Field::new("key", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]);
    let mut ages_b = ListBuilder::new(StructBuilder::from_fields(entry, 0));
    for (i, id) in ids.iter().enumerate() {
        id_b.append_value(id);
        handle_b.append_value("h");
        platform_b.append_value(if i == 1 { "vine" } else { "youtube" });
        followers_b.append_value(if i == 2 { -1 } else { 1000 });
        countries_b.keys().append_value("US");
        countries_b.values().append_value(0.5);
        countries_b.append(true).unwrap();
        let sb = ages_b.values();
        sb.field_builder::<StringBuilder>(0)
            .unwrap()
            .append_value("18-24");
        sb.field_builder::<Float64Builder>(1)
            .unwrap()
            .append_value(0.75);
        sb.append(true);
        ages_b.append(true);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(id_b.finish()),
        Arc::new(handle_b.finish()),
        Arc::new(platform_b.finish()),
        Arc::new(followers_b.finish()),
        Arc::new(countries_b.finish()),
        Arc::new(ages_b.finish()),
    ];
    let names = [
        "creator_id",
        "handle",
        "platform",
        "followers",
        "audience_countries",
        "audience_ages",
    ];
    let schema = Schema::new(
        names
            .iter()
            .zip(&cols)
            .map(|(n, c)| Field::new(*n, c.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    let batch = RecordBatch::try_new(Arc::new(schema), cols).unwrap();
    let f = std::fs::File::create(&p).unwrap();
    let mut w = ::parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();

    let l = read_creators(&p).unwrap();
    assert!(reject_at(&l, &p, 2, "platform").reason.contains("\"vine\""));
    assert!(reject_at(&l, &p, 3, "followers")
        .reason
        .contains("negative"));
    assert_eq!(row_numbers(&l), vec![1]);
    let c = &l.rows[0].1;
    assert_eq!(c.followers, 1000);
    assert_eq!(c.audience_countries, Some(vec![("US".into(), 0.5)]));
    assert_eq!(c.audience_ages, Some([0.0, 0.75, 0.0, 0.0, 0.0]));
}

/// Writes `cols` (name, array; all nullable) as a Parquet file.
fn write_parquet(
    p: &Path,
    cols: Vec<(&str, ArrayRef)>,
    props: Option<::parquet::file::properties::WriterProperties>,
) {
    let schema = Schema::new(
        cols.iter()
            .map(|(n, c)| Field::new(*n, c.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    let batch =
        RecordBatch::try_new(Arc::new(schema), cols.into_iter().map(|c| c.1).collect()).unwrap();
    let f = std::fs::File::create(p).unwrap();
    let mut w = ::parquet::arrow::ArrowWriter::try_new(f, batch.schema(), props).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// What pyarrow, pandas and polars write when asked for 32-bit floats,
/// narrow decimals and brotli: read as the decimals they print as (a
/// float32 150.1 is $150.10, not $150.1000061; 0.7 is 0.7, not 0.699999988).
#[test]
fn parquet_float32_decimals_and_brotli_read_as_written() {
    use ::parquet::basic::{BrotliLevel, Compression};
    use ::parquet::file::properties::WriterProperties;
    use arrow_array::{Decimal64Array, Float32Array, Int64Array, StringArray};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.parquet");
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("creator_id", Arc::new(StringArray::from(vec!["c1", "c2"]))),
        ("handle", Arc::new(StringArray::from(vec!["a", "b"]))),
        ("platform", Arc::new(StringArray::from(vec!["tiktok", "x"]))),
        ("followers", Arc::new(Int64Array::from(vec![12_000, 5_000]))),
        (
            "audience_quality",
            // The second is what a writer's f32 of 0.79999999 holds.
            Arc::new(Float32Array::from(vec![0.7f32, 0.8])),
        ),
        (
            "rate_usd",
            Arc::new(Float32Array::from(vec![150.1f32, 80.0])),
        ),
        (
            "min_fee_usd",
            Arc::new(
                Decimal64Array::from(vec![Some(15010i64), None])
                    .with_precision_and_scale(12, 2)
                    .unwrap(),
            ),
        ),
    ];
    let props = WriterProperties::builder()
        .set_compression(Compression::BROTLI(BrotliLevel::default()))
        .build();
    write_parquet(&p, cols, Some(props));

    let l = read_creators(&p).unwrap();
    assert!(l.rejects.is_empty(), "{:?}", l.rejects);
    let (c1, c2) = (&l.rows[0].1, &l.rows[1].1);
    assert_eq!(c1.audience_quality, Some(0.7));
    assert_eq!(c2.audience_quality, Some(0.8));
    assert_eq!((c1.rate_usd, c1.min_fee_usd), (Some(150.1), Some(150.1)));
    assert_eq!((c2.rate_usd, c2.min_fee_usd), (Some(80.0), None));
}

/// `posted_at` is written as a Parquet timestamp (milliseconds, UTC), so
/// other readers (pyarrow, pandas, DuckDB) see times, not bare integers.
#[test]
fn parquet_posted_at_is_a_timestamp_for_other_readers() {
    use ::parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.parquet");
    write_performance(&p, &performances()).unwrap();
    let r = SerializedFileReader::new(std::fs::File::open(&p).unwrap()).unwrap();
    let schema = r.metadata().file_metadata().schema_descr_ptr();
    let col = (0..schema.num_columns())
        .map(|i| schema.column(i))
        .find(|c| c.name() == "posted_at")
        .unwrap();
    let logical = format!("{:?}", col.logical_type_ref());
    assert!(
        logical.contains("Timestamp")
            && logical.to_lowercase().contains("millis")
            && logical.contains("true"),
        "{logical}"
    );
    // And it reads back to the same records.
    let back = read_performance(&p).unwrap();
    let times: Vec<i64> = back.rows.iter().map(|r| r.1.posted_at).collect();
    let want: Vec<i64> = performances().iter().map(|r| r.posted_at).collect();
    assert_eq!(times, want);
}

// ---------------------------------------------------------------------------
// File-level faults

fn file_error<T: std::fmt::Debug>(r: Result<T, IngestError>) -> String {
    match r {
        Err(e @ IngestError::File { .. }) => e.to_string(),
        other => panic!("expected a file error, got {other:?}"),
    }
}

#[test]
fn missing_required_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(
        dir.path(),
        "c.csv",
        "creator_id,handle,followers,bio\nc1,a,1,x\n",
    );
    let e = file_error(read_creators(&p));
    assert!(e.contains("platform") && e.contains("c.csv"), "{e}");

    let p = dir.path().join("p.parquet");
    write_creators(&p, &[bare_creator("c1")]).unwrap();
    let e = file_error(read_performance(&p));
    assert!(e.contains("campaign_id"), "{e}");

    let p = file(dir.path(), "empty.csv", "");
    file_error(read_creators(&p));
    let p = dir.path().join("h.csv");
    std::fs::write(&p, b"creator_id,handle,platform,followers,\xff\n").unwrap();
    assert!(file_error(read_creators(&p)).contains("UTF-8"));
}

#[test]
fn unknown_extension_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = file(dir.path(), "c.xlsx", "whatever");
    assert!(file_error(read_creators(&p)).contains("extension"));
    assert!(file_error(write_payments(&p, &[])).contains("extension"));
    file_error(read_creators(Path::new("no-such-file.json")));
    let e = file_error(read_creators(&dir.path().join("missing.csv")));
    assert!(e.contains("missing.csv"), "{e}");
    file_error(read_performance(&dir.path().join("missing.jsonl")));
    file_error(read_payments(&dir.path().join("missing.parquet")));
    assert_eq!(
        FileFormat::from_path(Path::new("a/b.NDJSON")).unwrap(),
        FileFormat::Jsonl
    );
    assert_eq!(FileFormat::Parquet.extension(), "parquet");
}

#[test]
fn truncated_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.parquet");
    let rows: Vec<_> = (0..200).map(|i| full_creator(&format!("c{i}"))).collect();
    write_creators(&p, &rows).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = file_error(read_creators(&p));
    assert!(e.contains("Parquet"), "{e}");
    std::fs::write(&p, b"PAR1 this is not parquet").unwrap();
    file_error(read_creators(&p));
}

#[test]
fn a_cell_that_is_not_utf8_is_one_reject() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.csv");
    std::fs::write(
        &p,
        b"creator_id,handle,platform,followers\nc1,\xff\xfe,x,10\nc2,ok,x,10\n",
    )
    .unwrap();
    let l = read_creators(&p).unwrap();
    let fields: Vec<(usize, &str)> = l
        .rejects
        .iter()
        .map(|r| (r.row, r.field.as_str()))
        .collect();
    assert_eq!(fields, vec![(1, "handle")], "{:?}", l.rejects);
    assert_eq!(row_numbers(&l), vec![2]);
}

/// Dates given as zoned timestamps (pandas' tz-aware columns) fall on the
/// day of their zone: local midnight of 5 March in Tokyo is 4 March in UTC.
#[test]
fn parquet_zoned_timestamps_give_their_zones_day() {
    use arrow_array::{Float64Array, StringArray, TimestampMicrosecondArray};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pay.parquet");
    let day = cloutdesk_engine::schema::parse_date("2026-03-05").unwrap() as i64;
    let local_midnight = |offset_hours: i64| (day * 86_400 - offset_hours * 3_600) * 1_000_000;
    let zoned = |zone: &str, v: i64| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(vec![v, v]).with_timezone(zone))
    };
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("org_id", Arc::new(StringArray::from(vec!["o", "o"]))),
        ("creator_id", Arc::new(StringArray::from(vec!["c1", "c2"]))),
        ("campaign_id", Arc::new(StringArray::from(vec!["k", "k"]))),
        ("amount_usd", Arc::new(Float64Array::from(vec![10.0, 20.0]))),
        ("invoiced_at", zoned("Asia/Tokyo", local_midnight(9))),
        ("paid_at", zoned("-05:00", local_midnight(-5))),
    ];
    write_parquet(&p, cols, None);
    let l = read_payments(&p).unwrap();
    assert!(l.rejects.is_empty(), "{:?}", l.rejects);
    for (_, r) in &l.rows {
        assert_eq!(
            (r.invoiced_at as i64, r.paid_at.map(i64::from)),
            (day, Some(day))
        );
    }
}

#[test]
fn the_embedding_length_most_rows_have_is_the_loads() {
    // The first row is the malformed one: it alone is rejected.
    let dir = tempfile::tempdir().unwrap();
    let row = |id: &str, e: &str| {
        format!("{{\"creator_id\":\"{id}\",\"handle\":\"h\",\"platform\":\"x\",\"followers\":5,\"embedding\":{e}}}\n")
    };
    let text = [
        row("c1", "[0.1,0.2,0.3]"),
        row("c2", "[0.1,0.2,0.3,0.4]"),
        row("c3", "[0.4,0.3,0.2,0.1]"),
        "{\"creator_id\":\"c4\",\"handle\":\"h\",\"platform\":\"x\",\"followers\":5}\n".to_string(),
    ]
    .concat();
    let p = file(dir.path(), "c.jsonl", &text);
    let l = read_creators(&p).unwrap();
    assert_eq!(row_numbers(&l), vec![2, 3, 4]);
    let r = reject_at(&l, &p, 1, "embedding");
    assert!(
        r.reason.contains("has 3 values") && r.reason.contains("have 4"),
        "{}",
        r.reason
    );
    assert_eq!(l.rows_read, 4);
}
