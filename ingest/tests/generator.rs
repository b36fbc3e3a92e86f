//! Tests of the seeded generator: determinism, thread-count independence, realistic shape, contract validity and the committed sample.
//!
//! Invariant: `datasets/sample/` is exactly what `GenConfig::default()`
//! writes; `regenerate_sample` (ignored) is the only thing that rewrites it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cloutdesk_ingest::contract::{self, FileFormat};
use cloutdesk_ingest::generate::{
    generate_world, read_truth, realized_value, write_truth, write_world, GenConfig, World,
    ER_BY_BAND, NICHES, NICHE_WORDS, REFERENCE_DATE,
};
use cloutdesk_ingest::records::CreatorRecord;

const SAMPLE_FILES: [&str; 5] = [
    "creators.csv",
    "performance.csv",
    "payments.csv",
    "briefs.jsonl",
    "truth.csv",
];

fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/sample")
}

fn cfg(creators: usize, briefs: usize, seed: u64) -> GenConfig {
    GenConfig {
        creators,
        briefs,
        seed,
        ..GenConfig::default()
    }
}

/// A world big enough for shape statistics, generated once.
fn big_world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| generate_world(&cfg(30_000, 200, 7)))
}

const REFERENCE_DAY: i64 = 20_758; // 2026-11-01

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Rewrites the committed sample: `cargo test -p cloutdesk-ingest --test
/// generator -- --ignored regenerate_sample`.
#[test]
#[ignore]
fn regenerate_sample() {
    let cfg = GenConfig::default();
    let world = generate_world(&cfg);
    let files = write_world(&world, &cfg, &sample_dir()).unwrap();
    println!("wrote {files:?}");
}

#[test]
fn sample_is_reproducible() {
    let cfg = GenConfig::default();
    let world = generate_world(&cfg);
    let dir = tempfile::tempdir().unwrap();
    write_world(&world, &cfg, dir.path()).unwrap();
    for name in SAMPLE_FILES {
        let committed = std::fs::read(sample_dir().join(name)).unwrap_or_else(|e| {
            panic!(
                "datasets/sample/{name}: {e}; run `cargo test -p cloutdesk-ingest --test generator -- --ignored regenerate_sample`"
            )
        });
        let fresh = std::fs::read(dir.path().join(name)).unwrap();
        if committed != fresh {
            let line = committed
                .split(|&b| b == b'\n')
                .zip(fresh.split(|&b| b == b'\n'))
                .position(|(a, b)| a != b)
                .map_or(0, |i| i + 1);
            panic!("datasets/sample/{name} differs from a fresh generation (first at line {line})");
        }
    }
}

#[test]
fn generator_same_seed_same_world() {
    let a = generate_world(&cfg(5_000, 10, 11));
    let b = generate_world(&cfg(5_000, 10, 11));
    assert!(a == b);
}

#[test]
fn generator_different_seed_different_world() {
    let a = generate_world(&cfg(2_000, 10, 11));
    let b = generate_world(&cfg(2_000, 10, 12));
    assert_ne!(a.creators, b.creators);
    assert_ne!(a.truth, b.truth);
    assert_ne!(a.briefs, b.briefs);
}

#[test]
fn generator_independent_of_thread_count() {
    let c = GenConfig {
        embedding_dim: Some(8),
        ..cfg(10_000, 5, 3)
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let one = pool.install(|| generate_world(&c));
    let many = generate_world(&c);
    assert!(one == many);
    // A prefix world is a prefix of the bigger one (streams are per creator).
    let small = generate_world(&cfg(5_000, 5, 3));
    assert_eq!(
        small.creators[..],
        many.creators[..5_000]
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.embedding = None;
                r
            })
            .collect::<Vec<_>>()[..]
    );
}

#[test]
fn generator_follower_shape() {
    let w = big_world();
    let n = w.creators.len() as f64;
    let share = |lo: u64, hi: u64| {
        w.creators
            .iter()
            .filter(|c| c.followers >= lo && c.followers < hi)
            .count() as f64
            / n
    };
    let under_1k = share(0, 1_000);
    let k1_10k = share(1_000, 10_000);
    let k1_100k = share(1_000, 100_000);
    let over_1m = share(1_000_000, u64::MAX);
    println!(
        "followers: <1k {under_1k:.3}, 1k-10k {k1_10k:.3}, 1k-100k {k1_100k:.3}, >1M {over_1m:.4}"
    );
    assert!((0.03..0.08).contains(&under_1k), "{under_1k}");
    assert!((0.55..0.66).contains(&k1_10k), "{k1_10k}");
    assert!(k1_100k > 0.8, "{k1_100k}");
    assert!(over_1m >= 0.005, "{over_1m}");
}

#[test]
fn generator_engagement_rate_by_band() {
    let w = big_world();
    let followers: BTreeMap<&str, u64> = w
        .creators
        .iter()
        .map(|c| (c.creator_id.as_str(), c.followers))
        .collect();
    let mut rates: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for p in &w.performance {
        let f = followers[p.creator_id.as_str()];
        rates
            .entry(p.creator_id.as_str())
            .or_default()
            .push(p.engagements as f64 / f as f64);
    }
    let mut by_band: Vec<Vec<f64>> = vec![Vec::new(); ER_BY_BAND.len()];
    for (id, mut r) in rates {
        let f = followers[id];
        let band = ER_BY_BAND.iter().position(|(hi, _)| f < *hi).unwrap();
        by_band[band].push(median(&mut r));
    }
    for (band, mut v) in by_band.into_iter().enumerate() {
        let want = ER_BY_BAND[band].1;
        let got = median(&mut v);
        println!(
            "band {band}: {} creators, median ER {got:.4} (published {want})",
            v.len()
        );
        assert!(
            (got / want - 1.0).abs() < 0.25,
            "band {band}: median ER {got} vs {want}"
        );
    }
}

#[test]
fn generator_history_and_payments_shape() {
    let w = big_world();
    let per_creator = w.performance.len() as f64 / w.creators.len() as f64;
    println!("performance rows per creator: {per_creator:.3}");
    assert!((2.2..2.8).contains(&per_creator), "{per_creator}");
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &w.performance {
        *counts.entry(p.creator_id.as_str()).or_default() += 1;
        let day = p.posted_at.div_euclid(86_400);
        assert!((REFERENCE_DAY - 365..REFERENCE_DAY).contains(&day), "{day}");
        assert!(p.fee_usd > 0.0);
    }
    assert!(counts.values().all(|&c| c <= 12));
    let no_history = w.creators.len() - counts.len();
    assert!(no_history > 0);

    let orgs: BTreeSet<&str> = w.payments.iter().map(|p| p.org_id.as_str()).collect();
    assert!(orgs.len() <= 50 && orgs.len() >= 40, "{}", orgs.len());
    let unpaid =
        w.payments.iter().filter(|p| p.paid_at.is_none()).count() as f64 / w.payments.len() as f64;
    println!("payments: {} rows, unpaid {unpaid:.3}", w.payments.len());
    assert!((0.02..0.3).contains(&unpaid), "{unpaid}");
    for p in &w.payments {
        assert!(i64::from(p.invoiced_at) < REFERENCE_DAY);
        if let Some(paid) = p.paid_at {
            assert!(paid > p.invoiced_at && i64::from(paid) <= REFERENCE_DAY);
        }
    }
}

#[test]
fn generator_creator_fields_shape() {
    let w = big_world();
    let n = w.creators.len() as f64;
    let frac =
        |f: &dyn Fn(&CreatorRecord) -> bool| w.creators.iter().filter(|c| f(c)).count() as f64 / n;
    let rate_missing = frac(&|c| c.rate_usd.is_none());
    let min_fee_missing = frac(&|c| c.min_fee_usd.is_none());
    let cap_zero = frac(&|c| c.capacity == Some(0));
    let cap_missing = frac(&|c| c.capacity.is_none());
    let no_usage = frac(&|c| c.accepts_usage_rights == Some(false));
    let no_niches = frac(&|c| c.niches.is_none());
    println!(
        "rate missing {rate_missing:.3}, min_fee missing {min_fee_missing:.3}, capacity 0 {cap_zero:.3} / missing {cap_missing:.3}, usage refused {no_usage:.3}, no niches {no_niches:.3}"
    );
    assert!((0.22..0.28).contains(&rate_missing));
    assert!((0.36..0.44).contains(&min_fee_missing));
    assert!((0.08..0.12).contains(&cap_zero));
    assert!((0.13..0.17).contains(&cap_missing));
    assert!((0.18..0.22).contains(&no_usage));
    assert!(no_niches > 0.01 && no_niches < 0.08);
    let bought = w.truth.iter().filter(|t| t.real_share < 0.75).count() as f64 / n;
    assert!((0.065..0.095).contains(&bought), "{bought}");
    for c in &w.creators {
        if let Some(rate) = c.rate_usd {
            assert!(rate >= 25.0);
        }
        if let Some(bio) = &c.bio {
            let words = bio.split_whitespace().count();
            assert!((20..=70).contains(&words), "{words}: {bio}");
        }
        if let Some(a) = &c.audience_countries {
            assert!(a.iter().map(|x| f64::from(x.1)).sum::<f64>() <= 1.01);
        }
        if let Some(a) = &c.audience_ages {
            assert!(a.iter().map(|&x| f64::from(x)).sum::<f64>() <= 1.01);
        }
    }
    for t in &w.truth {
        let home = &t.audience_countries[0];
        assert_eq!(home.0, t.home);
        assert!((0.4..=0.85).contains(&home.1));
        assert!(t.audience_countries.iter().map(|x| x.1).sum::<f64>() <= 1.0 + 1e-9);
        assert!(!t.niches.is_empty());
    }
}

#[test]
fn generator_briefs_follow_the_contract() {
    let w = big_world();
    let pay_orgs: BTreeSet<&str> = w.payments.iter().map(|p| p.org_id.as_str()).collect();
    let mut incomplete = 0;
    let mut paid_usage = 0;
    for (i, b) in w.briefs.iter().enumerate() {
        let o = b.as_object().unwrap();
        for k in [
            "campaign_id",
            "org_id",
            "brand",
            "title",
            "budget_usd",
            "creators_wanted",
        ] {
            assert!(o.contains_key(k), "brief {i} lacks {k}");
        }
        assert!(!o.contains_key("embedding"));
        assert_eq!(o["campaign_id"], format!("cmp-{:06}", i + 1));
        assert!(pay_orgs.contains(o["org_id"].as_str().unwrap()));
        let budget = o["budget_usd"].as_f64().unwrap();
        assert!((5_000.0..=120_000.0).contains(&budget));
        let wanted = o["creators_wanted"].as_u64().unwrap();
        assert!((20..=500).contains(&wanted));
        let niches = o["niches"].as_array().unwrap();
        assert!((1..=3).contains(&niches.len()));
        for n in niches {
            assert!(NICHES.contains(&n.as_str().unwrap()));
        }
        let vocab: BTreeSet<&str> = NICHE_WORDS.iter().flat_map(|w| w.iter().copied()).collect();
        for k in o["keywords"].as_array().unwrap() {
            assert!(vocab.contains(k.as_str().unwrap()));
        }
        if [
            "deliverables",
            "usage_rights",
            "timeline",
            "revision_rounds",
            "payment_terms_days",
        ]
        .iter()
        .any(|k| !o.contains_key(*k))
        {
            incomplete += 1;
        }
        if let Some(t) = o.get("timeline") {
            for d in t.as_object().unwrap().values() {
                assert!(d.as_str().unwrap() > REFERENCE_DATE);
            }
        }
        if o.get("usage_rights")
            .and_then(|u| u["paid_usage"].as_bool())
            == Some(true)
        {
            paid_usage += 1;
        }
        if let Some(fr) = o.get("fee_range_usd") {
            let fr = fr.as_array().unwrap();
            assert!(fr[0].as_f64().unwrap() <= fr[1].as_f64().unwrap());
            assert!(fr[1].as_f64().unwrap() <= budget);
        }
        if let Some(ac) = o.get("target").and_then(|t| t.get("audience_countries")) {
            let sum: f64 = ac
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_f64().unwrap())
                .sum();
            assert!(sum <= 1.0);
        }
    }
    let n = w.briefs.len() as f64;
    println!("briefs: incomplete {incomplete}, paid usage {paid_usage} of {n}");
    assert!((0.2..0.4).contains(&(incomplete as f64 / n)));
    assert!((0.15..0.45).contains(&(paid_usage as f64 / n)));
}

#[test]
fn generator_exclusions_bite() {
    let w = big_world();
    let excluded: BTreeSet<String> = w
        .briefs
        .iter()
        .filter_map(|b| b.get("exclude_brands"))
        .flat_map(|e| e.as_array().unwrap().iter())
        .map(|v| v.as_str().unwrap().to_lowercase())
        .collect();
    assert!(!excluded.is_empty());
    let hits = w
        .creators
        .iter()
        .filter(|c| {
            c.brands_worked_with
                .iter()
                .flatten()
                .any(|b| excluded.contains(&b.to_lowercase()))
        })
        .count();
    assert!(hits > 100, "{hits}");
}

#[test]
fn generator_realized_value_rewards_the_truth() {
    let w = big_world();
    let primary = w.briefs[0]["niches"][0].as_str().unwrap();
    let brief = &serde_json::json!({"niches": [primary]});
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for (c, t) in w.creators.iter().zip(&w.truth) {
        let v = realized_value(t, c.followers, brief) / c.followers as f64;
        assert!(v >= 0.0 && v.is_finite());
        if t.niches[0] == primary {
            on.push(v);
        } else if !t
            .niches
            .iter()
            .any(|n| brief["niches"].as_array().unwrap().iter().any(|b| b == n))
        {
            off.push(v);
        }
    }
    assert!(median(&mut on) > 3.0 * median(&mut off));
}

#[test]
fn generator_truth_round_trips() {
    let w = generate_world(&cfg(500, 1, 5));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truth.csv");
    write_truth(&path, &w.truth).unwrap();
    assert_eq!(read_truth(&path).unwrap(), w.truth);
}

#[test]
fn generator_output_passes_the_contract() {
    for format in [FileFormat::Csv, FileFormat::Jsonl, FileFormat::Parquet] {
        let c = GenConfig {
            format,
            embedding_dim: Some(16),
            ..cfg(3_000, 5, 9)
        };
        let w = generate_world(&c);
        let dir = tempfile::tempdir().unwrap();
        let files = write_world(&w, &c, dir.path()).unwrap();
        let creators = contract::read_creators(&files.creators).unwrap();
        let performance = contract::read_performance(&files.performance).unwrap();
        let payments = contract::read_payments(&files.payments).unwrap();
        assert!(
            creators.rejects.is_empty(),
            "{format:?}: {:?}",
            &creators.rejects[..creators.rejects.len().min(5)]
        );
        assert!(
            performance.rejects.is_empty(),
            "{format:?}: {:?}",
            &performance.rejects[..performance.rejects.len().min(5)]
        );
        assert!(
            payments.rejects.is_empty(),
            "{format:?}: {:?}",
            &payments.rejects[..payments.rejects.len().min(5)]
        );
        let back: Vec<_> = creators.rows.into_iter().map(|r| r.1).collect();
        assert_eq!(back.len(), w.creators.len());
        // A share map is a map: JSON objects need not keep the pair order.
        let by_key = |c: &CreatorRecord| {
            let mut c = c.clone();
            if let Some(a) = &mut c.audience_countries {
                a.sort_by(|x, y| x.0.cmp(&y.0));
            }
            c
        };
        for (a, b) in back.iter().zip(&w.creators) {
            assert_eq!(
                by_key(a),
                by_key(b),
                "{format:?}: creators changed in the round trip"
            );
        }
        let back: Vec<_> = performance.rows.into_iter().map(|r| r.1).collect();
        for (a, b) in back.iter().zip(&w.performance) {
            assert_eq!(a, b, "{format:?}: performance changed in the round trip");
        }
        let back: Vec<_> = payments.rows.into_iter().map(|r| r.1).collect();
        for (a, b) in back.iter().zip(&w.payments) {
            assert_eq!(a, b, "{format:?}: payments changed in the round trip");
        }
        let briefs = std::fs::read_to_string(&files.briefs).unwrap();
        let parsed: Vec<serde_json::Value> = briefs
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(parsed, w.briefs);
    }
}

/// `cargo test --release -p cloutdesk-ingest --test generator -- --ignored --nocapture generator_million`
#[test]
#[ignore]
fn generator_million_creators_timing() {
    let c = cfg(1_000_000, 100, 42);
    let t = std::time::Instant::now();
    let w = generate_world(&c);
    let took = t.elapsed();
    println!(
        "1M creators: {:.2?} on {} threads; {} performance rows, {} payments",
        took,
        rayon::current_num_threads(),
        w.performance.len(),
        w.payments.len()
    );
}
