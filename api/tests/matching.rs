//! Matching on generated snapshots: hard rules, budget and count are never
//! broken (proptest over random briefs); results are deterministic and
//! independent of the thread count; `select_many` equals one at a time; the
//! candidate stage keeps the portfolio's value; golden results on the
//! committed datasets sample.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use cloutdesk::briefs::{read_brief_values, validate_all};
use cloutdesk_engine::brief::{BriefContext, CampaignBrief};
use cloutdesk_engine::candidates::{gather, CandidateOptions};
use cloutdesk_engine::filter::{check_one, eligible, eligible_many};
use cloutdesk_engine::matcher::{score_creator, MatchOptions, MatchResult, Matcher};
use cloutdesk_engine::signals::BriefScorer;
use cloutdesk_engine::snapshot::Snapshot;
use cloutdesk_engine::storage::DataDir;
use cloutdesk_ingest::contract::FileFormat;
use cloutdesk_ingest::generate::{generate_world, write_world, GenConfig, World};
use cloutdesk_ingest::{ingest, IngestOptions, NoProgress, VectorIndexMode};
use proptest::prelude::*;
use serde_json::{json, Value};

struct Fixture {
    /// The source files and data dir; `None` once removed (the shared
    /// fixture's, see [`fixture`]).
    _tmp: Option<tempfile::TempDir>,
    snap: Arc<Snapshot>,
}

fn build(creators: usize, seed: u64, hnsw: bool) -> Fixture {
    build_edited(creators, seed, hnsw, |_| {})
}

/// A generated world, changed by `edit` before it is written and ingested.
fn build_edited(creators: usize, seed: u64, hnsw: bool, edit: impl FnOnce(&mut World)) -> Fixture {
    build_world(creators, seed, hnsw, None, edit)
}

/// [`build_edited`], with creator embeddings of length `embedding_dim`
/// when given (the user's own vectors).
fn build_world(
    creators: usize,
    seed: u64,
    hnsw: bool,
    embedding_dim: Option<usize>,
    edit: impl FnOnce(&mut World),
) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let cfg = GenConfig {
        creators,
        briefs: 5,
        seed,
        format: FileFormat::Csv,
        embedding_dim,
    };
    let mut world = generate_world(&cfg);
    edit(&mut world);
    write_world(&world, &cfg, &src).unwrap();
    let data = tmp.path().join("data");
    let mut o = IngestOptions::new(&data);
    o.creators = Some(src.join("creators.csv"));
    o.performance = Some(src.join("performance.csv"));
    o.payments = Some(src.join("payments.csv"));
    o.as_of_day = cloutdesk_engine::schema::parse_date("2026-11-01");
    o.vector_index = if hnsw {
        VectorIndexMode::Always
    } else {
        VectorIndexMode::Never
    };
    ingest(&o, &NoProgress).unwrap();
    let snap = Snapshot::open(&DataDir::open(&data).unwrap()).unwrap();
    Fixture {
        _tmp: Some(tmp),
        snap,
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        // A static is never dropped, so its temporary directory would be
        // left behind by every run: remove it now. The snapshot no longer
        // needs it (tables and graph are in memory, the text index is
        // mapped and never reloaded).
        let mut f = build(3000, 5, true);
        if let Some(t) = f._tmp.take() {
            t.close().expect("remove the fixture's directory");
        }
        f
    })
}

fn ctx(s: &Snapshot) -> BriefContext<'_> {
    cloutdesk::briefs::context(s)
}

/// Strips the one non-deterministic field (wall time).
fn stable(r: &MatchResult) -> MatchResult {
    let mut r = r.clone();
    r.stats.took_ms = 0.0;
    r
}

fn assert_valid(s: &Snapshot, b: &CampaignBrief, r: &MatchResult) {
    assert!(r.selected.len() <= b.creators_wanted as usize);
    let cents: u64 = r
        .selected
        .iter()
        .map(|c| (c.fee_usd * 100.0).round() as u64)
        .sum();
    assert!(
        cents <= b.budget_cents(),
        "{} > {}",
        cents,
        b.budget_cents()
    );
    assert!(r.totals.fee_usd <= b.budget_usd);
    let mut seen = std::collections::HashSet::new();
    for c in &r.selected {
        assert!(seen.insert(c.ordinal), "duplicate creator");
        let broken = check_one(b, s, c.ordinal as usize);
        assert!(broken.is_empty(), "{} breaks {broken:?}", c.creator_id);
        for (name, v) in c.signals.named() {
            assert!((0.0..=1.0).contains(&v), "{name} = {v}");
        }
        assert!((0.0..=1.0).contains(&c.score));
        assert!(!c.reasons.is_empty() && c.reasons.len() <= 3);
        let floor = s.creators.min_fee_usd[c.ordinal as usize];
        assert!(floor.is_none_or(|f| c.fee_usd >= f));
    }
}

fn arb_brief() -> impl Strategy<Value = Value> {
    let niches = prop::sample::subsequence(
        vec![
            "fitness", "beauty", "gaming", "travel", "tech", "cooking", "finance", "pets",
        ],
        0..3,
    );
    let platforms = prop::option::of(prop::sample::subsequence(
        vec!["instagram", "tiktok", "youtube", "twitch", "x", "other"],
        1..4,
    ));
    let countries = prop::option::of(prop::sample::subsequence(
        vec!["US", "GB", "CA", "DE", "FR", "BR", "IN", "ES", "MX"],
        1..4,
    ));
    let langs = prop::option::of(prop::sample::subsequence(
        vec!["en", "es", "de", "pt", "fr"],
        1..3,
    ));
    (
        niches,
        platforms,
        countries,
        langs,
        (
            prop::option::of(0u64..20_000),
            prop::option::of(20_000u64..2_000_000),
        ),
        (
            prop::option::of(0.0f64..0.06),
            prop::option::of(0.5f64..0.95),
        ),
        (100u32..200_000, 1u32..400),
        prop::option::of((0u32..400, 0u32..3000)),
        (
            any::<bool>(),
            prop::sample::subsequence(
                vec!["Brightfield Goods", "Amberly Bank", "Quill Press"],
                0..2,
            ),
        ),
        prop::option::of((0.1f32..1.0, 0.1f32..1.0)),
    )
        .prop_map(
            |(
                niches,
                platforms,
                countries,
                langs,
                (fmin, fmax),
                (er, q),
                (budget, wanted),
                fee,
                (paid, excl),
                div,
            )| {
                let mut b = json!({
                    "campaign_id": "cmp-prop", "org_id": "org-prop", "brand": "Prop Brand",
                    "title": "Property test campaign", "niches": niches,
                    "keywords": ["daily", "tips"], "budget_usd": budget, "creators_wanted": wanted,
                    "exclude_brands": excl,
                    "usage_rights": {"days": 30, "paid_usage": paid},
                });
                if let Some(p) = platforms {
                    b["platforms"] = json!(p);
                }
                let mut target = json!({});
                if let Some(c) = countries {
                    target["countries"] = json!(c);
                }
                if let Some(l) = langs {
                    target["languages"] = json!(l);
                }
                b["target"] = target;
                let mut f = json!({});
                if let Some(x) = fmin {
                    f["followers_min"] = json!(x);
                }
                if let Some(x) = fmax {
                    f["followers_max"] = json!(x);
                }
                if let Some(x) = er {
                    f["min_engagement_rate"] = json!(x);
                }
                if let Some(x) = q {
                    f["min_audience_quality"] = json!(x);
                }
                b["creator_filters"] = f;
                if let Some((lo, span)) = fee {
                    b["fee_range_usd"] = json!([lo, lo + span]);
                }
                if let Some((n, c)) = div {
                    b["diversity"] = json!({"max_share_per_niche": n, "max_share_per_country": c});
                }
                b
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn no_selection_breaks_a_rule_the_budget_or_the_count(v in arb_brief()) {
        let f = fixture();
        let b = CampaignBrief::from_json(&v, &ctx(&f.snap)).unwrap();
        // Both candidate modes: exact scoring and the union of retrievers.
        for exact_limit in [usize::MAX, 0] {
            let m = Matcher::new(MatchOptions {
                candidates: CandidateOptions { exact_limit, min_per_source: 50, ..CandidateOptions::default() },
                force_exact: false,
            });
            let r = m.select(&f.snap, &b);
            assert_valid(&f.snap, &b, &r);
        }
    }
}

fn sample_briefs(s: &Snapshot) -> Vec<CampaignBrief> {
    let p = sample_dir().join("briefs.jsonl");
    validate_all(s, &read_brief_values(&p).unwrap()).unwrap()
}

fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/sample")
}

#[test]
fn results_do_not_depend_on_thread_count_and_batches_equal_singles() {
    let f = fixture();
    let raw: Vec<(String, Value)> = read_brief_values(&sample_dir().join("briefs.jsonl")).unwrap();
    let briefs = validate_all(&f.snap, &raw).unwrap();
    let m = Matcher::new(MatchOptions {
        candidates: CandidateOptions {
            exact_limit: 300,
            min_per_source: 100,
            ..CandidateOptions::default()
        },
        force_exact: false,
    });
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| m.select_many(&f.snap, &briefs))
            .iter()
            .map(stable)
            .collect::<Vec<_>>()
    };
    let one = run(1);
    let three = run(3);
    assert_eq!(one, three);
    let singles: Vec<MatchResult> = briefs
        .iter()
        .map(|b| stable(&m.select(&f.snap, b)))
        .collect();
    assert_eq!(one, singles);
    for (b, r) in briefs.iter().zip(&one) {
        assert_valid(&f.snap, b, r);
    }
}

/// The union's retrievers hand scoring the cosines and evidence they
/// computed (`Candidates::known`); a candidate scored from them is the
/// very `Scored` that scoring it from scratch gives (the re-rank
/// re-scores its chosen creators from scratch and relies on it).
#[test]
fn what_the_retrievers_computed_scores_as_scoring_from_scratch() {
    let f = fixture();
    let opts = CandidateOptions {
        exact_limit: 0,
        min_per_source: 100,
        ..CandidateOptions::default()
    };
    let m = Matcher::new(MatchOptions {
        candidates: opts,
        force_exact: false,
    });
    let (mut cosines, mut evidence) = (0usize, 0usize);
    for b in sample_briefs(&f.snap) {
        let sc = BriefScorer::new(&b, &f.snap);
        let el = eligible(&b, &f.snap);
        let c = gather(&sc, &el.bits, el.count, &opts);
        assert_eq!(c.known.len(), c.ordinals.len(), "{}", b.campaign_id);
        cosines += c.known.iter().filter(|k| k.cosine.is_some()).count();
        evidence += c.known.iter().filter(|k| k.evidence.is_some()).count();
        for x in m.score_pool(&f.snap, &b).scored {
            assert_eq!(
                score_creator(&sc, x.ordinal, x.signals.text),
                x,
                "{} creator {}",
                b.campaign_id,
                x.ordinal
            );
        }
    }
    assert!(cosines > 0 && evidence > 0, "{cosines} {evidence}");
}

#[test]
fn candidate_stage_keeps_the_portfolio_value() {
    let f = fixture();
    let briefs = sample_briefs(&f.snap);
    let exact = Matcher::new(MatchOptions {
        force_exact: true,
        ..MatchOptions::default()
    });
    let union = Matcher::new(MatchOptions {
        candidates: CandidateOptions {
            exact_limit: 0,
            min_per_source: 150,
            per_wanted: 4,
            ..CandidateOptions::default()
        },
        force_exact: false,
    });
    let (mut ve, mut vu) = (0.0, 0.0);
    for b in &briefs {
        let e = exact.select(&f.snap, b);
        let u = union.select(&f.snap, b);
        assert!(u.stats.candidates <= e.stats.candidates);
        ve += e.totals.value;
        vu += u.totals.value;
    }
    assert!(
        vu >= 0.99 * ve,
        "union keeps {:.4} of the exact value",
        vu / ve
    );
}

#[test]
fn golden_results_on_the_datasets_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sample_dir();
    let data = tmp.path().join("data");
    let mut o = IngestOptions::new(&data);
    o.creators = Some(dir.join("creators.csv"));
    o.performance = Some(dir.join("performance.csv"));
    o.payments = Some(dir.join("payments.csv"));
    o.as_of_day = cloutdesk_engine::schema::parse_date("2026-11-01");
    o.vector_index = VectorIndexMode::Never;
    ingest(&o, &NoProgress).unwrap();
    let s = Snapshot::open(&DataDir::open(&data).unwrap()).unwrap();
    let briefs = sample_briefs(&s);
    let results = Matcher::default().select_many(&s, &briefs);
    let mut got = String::new();
    for r in &results {
        let ids: Vec<String> = r
            .selected
            .iter()
            .map(|c| format!("{}@{:.2}", c.creator_id, c.fee_usd))
            .collect();
        got.push_str(&format!(
            "{} eligible={} selected={} fee={:.2} engagements={:.0}\n  {}\n",
            r.campaign_id,
            r.stats.eligible,
            r.totals.creators,
            r.totals.fee_usd,
            r.totals.expected_engagements,
            ids.join(" ")
        ));
    }
    let golden = dir.join("expected/matches.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &got).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_else(|_| {
        panic!(
            "{} missing: run `UPDATE_GOLDEN=1 cargo test -p cloutdesk --test matching golden`",
            golden.display()
        )
    });
    assert_eq!(
        got, want,
        "golden results changed (UPDATE_GOLDEN=1 to accept)"
    );
}

/// The eligible bitmap equals the row-by-row rules (`check_one`) on every
/// creator, for briefs that probe each rule's edges.
fn assert_rules_equal_row_by_row(s: &Snapshot, briefs: &[Value]) {
    for v in briefs {
        let b = CampaignBrief::from_json(v, &ctx(s)).unwrap();
        let el = eligible(&b, s);
        for i in 0..s.len() {
            assert_eq!(
                el.bits.get(i),
                check_one(&b, s, i).is_empty(),
                "creator {} ({} followers, fee {} cents) under brief {v}",
                s.creators.creator_id[i],
                s.hot.followers[i],
                s.hot.fee_cents[i]
            );
        }
        assert_eq!(el.count, el.bits.count());
    }
}

fn edge_briefs() -> Vec<Value> {
    let base = |f: Value, fee: Option<Value>| {
        let mut b = json!({
            "campaign_id": "cmp-edge", "org_id": "org-edge", "brand": "Edge Brand",
            "title": "Edge campaign", "budget_usd": 100_000_000u64, "creators_wanted": 50,
            "creator_filters": f,
        });
        if let Some(fee) = fee {
            b["fee_range_usd"] = fee;
        }
        b
    };
    let max32 = u32::MAX as u64;
    vec![
        base(json!({}), None),
        base(json!({"followers_min": 5_000_000_000u64}), None),
        base(json!({"followers_min": max32}), None),
        base(
            json!({"followers_min": max32 - 1, "followers_max": max32}),
            None,
        ),
        base(json!({"followers_max": max32 - 1}), None),
        base(json!({"followers_max": max32 + 1}), None),
        base(
            json!({"followers_min": 10_000, "followers_max": 6_000_000_000u64}),
            None,
        ),
        base(json!({}), Some(json!([40_000_000, 70_000_000]))),
        base(json!({}), Some(json!([0, 42_949_672.95]))),
        base(json!({}), Some(json!([42_949_672.94, 42_949_672.96]))),
        base(json!({}), Some(json!([100, 2000]))),
    ]
}

#[test]
fn rules_hold_for_long_and_empty_country_and_platform_lists() {
    // Up to 8 countries and 6 platforms are tested by equality with a
    // padded code list; longer lists by a table; countries no creator has
    // (a valid ISO code unknown to the snapshot) leave nobody.
    let f = fixture();
    let s = &f.snap;
    let mut known: Vec<String> = s.dicts.countries.clone();
    known.sort();
    assert!(known.len() > 9, "the fixture has {} countries", known.len());
    // The rule reads the 8-bit country column (any ISO snapshot has one).
    assert!(!s.hot.country_8.is_empty());
    let brief = |countries: Vec<String>, platforms: Value| {
        json!({
            "campaign_id": "cmp-lists", "org_id": "org-lists", "brand": "Lists Brand",
            "title": "Lists campaign", "budget_usd": 100_000, "creators_wanted": 50,
            "platforms": platforms, "target": {"countries": countries},
        })
    };
    let all_platforms = json!(["instagram", "tiktok", "youtube", "twitch", "x", "other"]);
    let briefs = vec![
        brief(known[..8].to_vec(), all_platforms.clone()),
        brief(known[..9].to_vec(), json!(["youtube"])),
        brief(known.clone(), json!(["instagram", "tiktok"])),
        brief(vec![known[0].clone(), known[0].clone()], json!(["x", "x"])),
        brief(vec!["AQ".into()], all_platforms),
    ];
    assert!(!known.contains(&"AQ".to_string()));
    assert_rules_equal_row_by_row(s, &briefs);
    let none = CampaignBrief::from_json(&briefs[4], &ctx(s)).unwrap();
    assert_eq!(eligible(&none, s).count, 0);
}

#[test]
fn rules_hold_for_languages_past_64_codes() {
    // The language rule reads the first 64-bit word of the mask while a
    // brief names only codes under 64, and the whole 192-bit mask beyond:
    // briefs naming early, late and mixed codes must agree with the
    // row-by-row rules on snapshots of few and of many languages.
    use cloutdesk_engine::codes::LANGUAGES;
    for distinct in [12usize, 40, 100] {
        let f = build_edited(600, 17, false, |w| {
            for (i, c) in w.creators.iter_mut().enumerate() {
                c.languages = (i % 9 != 0).then(|| {
                    vec![
                        LANGUAGES[i % distinct].to_string(),
                        LANGUAGES[(i * 7 + 3) % distinct].to_string(),
                    ]
                });
            }
        });
        let s = &f.snap;
        assert_eq!(s.dicts.languages.len(), distinct);
        // Codes are given out in order of first appearance: the dictionary
        // says which names are early and which late.
        let code = |k: usize| s.dicts.languages[k.min(distinct - 1)].clone();
        let briefs: Vec<Value> = [
            vec![code(0)],
            vec![code(5), code(11)],
            vec![code(15)],
            vec![code(39)],
            vec![code(63), code(64)],
            vec![code(2), code(99)],
        ]
        .into_iter()
        .map(|langs| {
            json!({
                "campaign_id": "cmp-langs", "org_id": "org-langs", "brand": "Langs Brand",
                "title": "Languages campaign", "budget_usd": 100_000, "creators_wanted": 50,
                "target": {"languages": langs},
            })
        })
        .collect();
        assert_rules_equal_row_by_row(s, &briefs);
    }
}

#[test]
fn rules_hold_for_values_too_wide_for_the_32_bit_columns() {
    // Two creators beyond 32 bits (followers, fee in cents), two at the
    // edge: the rule pass must fall back to the 64-bit columns.
    let f = build_edited(800, 11, false, |w| {
        w.creators[0].followers = 6_000_000_000;
        w.creators[1].rate_usd = Some(60_000_000.0);
        w.creators[1].min_fee_usd = None;
        w.creators[2].followers = u32::MAX as u64;
        w.creators[3].followers = u32::MAX as u64 - 1;
        w.creators[4].rate_usd = Some(42_949_672.95);
        w.creators[4].min_fee_usd = None;
    });
    let s = &f.snap;
    assert!(s.hot.followers_u32.is_empty());
    assert!(s.hot.fee_cents_u32.is_empty());
    assert_rules_equal_row_by_row(s, &edge_briefs());
    // Just inside 32 bits: the narrow columns are used, same answers.
    let g = build_edited(800, 11, false, |w| {
        w.creators[0].followers = u32::MAX as u64 - 1;
        w.creators[1].rate_usd = Some(42_949_672.94);
        w.creators[1].min_fee_usd = None;
    });
    assert!(!g.snap.hot.followers_u32.is_empty());
    assert!(!g.snap.hot.fee_cents_u32.is_empty());
    assert_rules_equal_row_by_row(&g.snap, &edge_briefs());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// The one-pass niche and geography signals equal the entry-by-entry
    /// definitions bit for bit, for every creator.
    #[test]
    fn one_pass_signals_equal_their_definitions(
        v in arb_brief(),
        aud in prop::collection::btree_map(
            prop::sample::select(vec!["US", "GB", "DE", "BR", "IN", "ZZ", "FR", "JP"]),
            0.05f64..0.24,
            0..4,
        ),
    ) {
        let f = fixture();
        let mut v = v;
        if !aud.is_empty() {
            v["target"]["audience_countries"] = json!(aud);
        }
        let Ok(b) = CampaignBrief::from_json(&v, &ctx(&f.snap)) else {
            // ZZ is no country: validation says so, nothing to compare.
            prop_assert!(aud.contains_key("ZZ"));
            return Ok(());
        };
        let sc = BriefScorer::new(&b, &f.snap);
        for i in 0..f.snap.len() {
            let ev = sc.niche_evidence(i);
            let (er, posts) = sc.predicted_er(i);
            prop_assert_eq!(ev.er.to_bits(), er.to_bits());
            prop_assert_eq!(ev.posts, posts);
            prop_assert_eq!(ev.fit.to_bits(), sc.niche_fit(i).to_bits());
            if sc.has_geo_target() {
                prop_assert_eq!(
                    sc.geo_fit(i).unwrap().to_bits(),
                    sc.geo_fit_by_entry(i).to_bits()
                );
            }
        }
    }
}

/// Random briefs for the batch tests: the property-test strategy's
/// briefs, every third with `similar_to` seeds, ids made distinct.
fn random_briefs(s: &Snapshot, count: usize, seed: u64) -> Vec<CampaignBrief> {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let strategy = arb_brief();
    (0..count)
        .map(|k| {
            let mut v = strategy.new_tree(&mut runner).unwrap().current();
            v["campaign_id"] = json!(format!("cmp-batch-{k}"));
            if k % 3 == 0 {
                let seeds: Vec<String> = (0..3)
                    .map(|j| s.creators.creator_id[(k * 37 + j * 101) % s.len()].clone())
                    .collect();
                v["similar_to"] = json!(seeds);
            }
            CampaignBrief::from_json(&v, &ctx(s)).unwrap()
        })
        .collect()
}

#[test]
fn batched_candidate_scans_equal_one_brief_at_a_time() {
    use cloutdesk_engine::candidates::{gather, gather_many, gather_many_sharing, Mode};
    use cloutdesk_engine::matcher::BATCH_BRIEFS;
    let f = fixture();
    let s = &f.snap;
    // More briefs than one batch holds, so batches are cut too.
    let briefs = random_briefs(s, BATCH_BRIEFS + 13, 11);
    // Union mode for most briefs (small depth so the retrievers choose);
    // briefs with at most 25 eligible are scored exactly.
    let opts = CandidateOptions {
        exact_limit: 25,
        min_per_source: 60,
        per_wanted: 2,
        ..CandidateOptions::default()
    };
    let scorers: Vec<BriefScorer<'_>> = briefs.iter().map(|b| BriefScorer::new(b, s)).collect();
    let els: Vec<_> = briefs.iter().map(|b| eligible(b, s)).collect();
    // The snapshot's value bound holds for every brief and creator (the
    // value scan skips creators by it).
    let mut tighter = 0usize;
    for sc in &scorers {
        for i in 0..s.len() {
            let v = sc.quick_value_per_dollar(i);
            let bound = s.hot.bound_words[i].value_bound;
            assert!(!v.is_finite() || v <= bound, "creator {i}: {v} > {bound}");
            // The brief's own bound, tighter, holds too.
            let tight = sc.value_bound(i);
            assert!(tight <= bound, "creator {i}: {tight} > {bound}");
            assert!(!v.is_finite() || v <= tight, "creator {i}: {v} > {tight}");
            tighter += usize::from(tight < bound);
        }
    }
    // The random briefs' geography and niches do tighten it.
    assert!(tighter > 0);
    // The rules of many briefs in one pass equal one brief at a time.
    let refs: Vec<&CampaignBrief> = briefs.iter().collect();
    for threads in [1usize, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let many = pool.install(|| eligible_many(&refs, s));
        assert_eq!(many.len(), els.len());
        for (j, (got, want)) in many.iter().zip(&els).enumerate() {
            assert_eq!(got.bits.words(), want.bits.words(), "brief {j}");
            assert_eq!(got.count, want.count, "brief {j}");
        }
    }
    for threads in [1usize, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        // As the CPU has it, and with the shared pass whatever the CPU.
        let many = pool.install(|| gather_many(&scorers, &els, &opts));
        let sharing = pool.install(|| gather_many_sharing(&scorers, &els, &opts));
        let (mut union, mut exact) = (0, 0);
        for (j, (got, shared)) in many.iter().zip(&sharing).enumerate() {
            assert_eq!(shared.ordinals, got.ordinals, "brief {j}, shared pass");
            assert_eq!(shared.bm25, got.bm25, "brief {j}, shared pass");
            assert_eq!(shared.mode, got.mode, "brief {j}, shared pass");
            let want = gather(&scorers[j], &els[j].bits, els[j].count, &opts);
            if want.mode == Mode::Union {
                assert_eq!(
                    want.ordinals,
                    union_by_definition(&scorers[j], &els[j].bits, &opts),
                    "brief {j}"
                );
            }
            assert_eq!(got.ordinals, want.ordinals, "brief {j}, {threads} threads");
            assert_eq!(got.bm25, want.bm25, "brief {j}, {threads} threads");
            assert_eq!(got.mode, want.mode, "brief {j}");
            match got.mode {
                Mode::Union => union += 1,
                Mode::Exact => exact += 1,
            }
        }
        assert!(
            union >= 10 && exact >= 1,
            "both modes: {union} union, {exact} exact"
        );
    }
    // The whole matcher: a batch equals one brief at a time.
    let m = Matcher::new(MatchOptions {
        candidates: opts,
        force_exact: false,
    });
    let batch: Vec<MatchResult> = m.select_many(s, &briefs).iter().map(stable).collect();
    for (b, r) in briefs.iter().zip(&batch) {
        assert_eq!(r, &stable(&m.select(s, b)), "{}", b.campaign_id);
        assert_valid(s, b, r);
    }
}

/// The sixteen-rows-at-a-time AVX-512 pass of one brief collects what the
/// scalar definitions give: each shortlist the top-k of the int8
/// estimates, each row's bound the bucket of `value_bound`, over random
/// briefs (geography, niches, seeds) on their eligible rows and on every
/// row. On a CPU without AVX-512 VNNI the kernel never runs, and this
/// checks nothing (it says so).
#[test]
fn the_avx512_pass_collects_what_the_scalar_definitions_give() {
    use cloutdesk_engine::bitset::Bitset;
    use cloutdesk_engine::pass512::differs_from_scalar;
    let s = &fixture().snap;
    // Random briefs (target countries, niches, every third with seeds),
    // audience shares with the home country and others, and every niche
    // at once (more than the 32 summary bits: folds that coincide).
    let mut briefs = random_briefs(s, 40, 23);
    let every_niche: Vec<&String> = s.dicts.niches.iter().collect();
    briefs.push(brief_with(
        s,
        json!({"target": {"audience_countries": {"US": 0.6, "CA": 0.2, "GB": 0.1}}}),
    ));
    briefs.push(brief_with(
        s,
        json!({"niches": every_niche, "target": {"audience_countries": {"BR": 0.05}}}),
    ));
    let all = Bitset::full(s.len());
    let mut checked = 0;
    for b in &briefs {
        let sc = BriefScorer::new(b, s);
        let mut queries: Vec<&[f32]> = vec![&b.query_vector];
        for id in &b.similar_to {
            queries.push(s.vectors.row(s.ordinal(id).unwrap() as usize));
        }
        queries.retain(|q| q.len() == s.vectors.dim);
        let el = eligible(b, s);
        for bits in [&el.bits, &all] {
            for k in [1, 37, 500] {
                match differs_from_scalar(&sc, &queries, k, bits) {
                    None => {
                        eprintln!("no AVX-512 VNNI here: the kernel is not run, nothing checked");
                        return;
                    }
                    Some(Some(d)) => panic!("{}, k {k}: {d}", b.campaign_id),
                    Some(None) => checked += 1,
                }
            }
        }
    }
    assert!(checked >= 6 * briefs.len());
}

/// The union's candidates straight from its definition, each retriever on
/// its own: BM25 top-n, the int8 scan of the brief's and seeds' vectors,
/// the value-per-dollar top-n; eligible, sorted, distinct.
fn union_by_definition(
    sc: &BriefScorer<'_>,
    el: &cloutdesk_engine::bitset::Bitset,
    opts: &CandidateOptions,
) -> Vec<u32> {
    use cloutdesk_engine::candidates::best_per_dollar;
    use cloutdesk_engine::quant::scan_top_k_many;
    use cloutdesk_engine::topk::TopK;
    let (s, b) = (sc.s, sc.b);
    let n = opts
        .min_per_source
        .max(opts.per_wanted * b.creators_wanted as usize);
    let mut pool: Vec<u32> = Vec::new();
    if let (Some(text), Some(q)) = (
        &s.text,
        s.text.as_ref().and_then(|t| t.build_query(&b.text_query)),
    ) {
        let mut t = TopK::new(n);
        for (score, o) in text.scores(q.as_ref(), el) {
            t.push(score, o);
        }
        pool.extend(t.into_sorted().into_iter().map(|x| x.1));
    }
    let mut queries: Vec<&[f32]> = vec![&b.query_vector];
    for id in &b.similar_to {
        queries.push(s.vectors.row(s.ordinal(id).unwrap() as usize));
    }
    for found in scan_top_k_many(&s.qvectors, &s.vectors, &queries, n, Some(el)) {
        pool.extend(found.into_iter().map(|x| x.1));
    }
    // The value retriever by its definition: the estimate of every
    // eligible creator (non-finite as 0) through one top-n.
    let by_definition = |n: usize| {
        let mut t = TopK::new(n);
        for i in el.iter_ones() {
            let v = sc.quick_value_per_dollar(i);
            t.push(if v.is_finite() { v } else { 0.0 }, i as u32);
        }
        t.into_sorted()
    };
    let by_value = by_definition(n);
    // `best_per_dollar` (the graph path's) is that, in order; also for
    // depths small enough that it stops long before the last bound.
    for depth in [1, 3, 10, n] {
        assert_eq!(
            best_per_dollar(sc, el, depth),
            by_definition(depth),
            "{}, depth {depth}",
            b.campaign_id
        );
    }
    pool.extend(by_value.into_iter().map(|x| x.1));
    pool.retain(|&o| el.get(o as usize));
    pool.sort_unstable();
    pool.dedup();
    pool
}

/// The selection's groups, recorded by the scorer, are the creator's own:
/// first declared niche (unknown when none), country and size band, and
/// the overlap cell made of the first two.
#[test]
fn selection_groups_are_the_snapshots() {
    use cloutdesk_engine::snapshot::UNKNOWN_CODE;
    let s = &fixture().snap;
    let m = Matcher::default();
    let mut seen = 0usize;
    for b in random_briefs(s, 12, 23) {
        let pool = m.score_pool(s, &b);
        let items = Matcher::items(&pool.scored);
        assert_eq!(items.len(), pool.scored.len());
        for (it, x) in items.iter().zip(&pool.scored) {
            let i = x.ordinal as usize;
            let niche = s.niches_of(i).first().copied().unwrap_or(UNKNOWN_CODE);
            assert_eq!(it.ordinal, x.ordinal);
            assert_eq!(it.niche, niche, "creator {i}: niche");
            assert_eq!(it.country, s.hot.country[i], "creator {i}: country");
            assert_eq!(it.tier, s.hot.band[i], "creator {i}: size band");
            assert_eq!(it.cell, ((niche as u32) << 16) | s.hot.country[i] as u32);
            assert_eq!(it.cost_cents, s.hot.fee_cents[i]);
            seen += 1;
        }
    }
    assert!(seen > 0, "the random briefs scored someone");
}

/// A brief from `extra` merged over the required fields.
fn brief_with(s: &Snapshot, extra: Value) -> CampaignBrief {
    let mut v = json!({
        "campaign_id": "edge", "org_id": "org", "brand": "Brand", "title": "Edge case",
        "budget_usd": 100000, "creators_wanted": 50
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    CampaignBrief::from_json(&v, &ctx(s)).unwrap()
}

fn is_eligible(s: &Snapshot, b: &CampaignBrief, ordinal: u32) -> bool {
    eligible(b, s).bits.get(ordinal as usize)
}

#[test]
fn money_bounds_keep_their_cent() {
    // Planned fees from rate cards: 150.00, 100.01 and 1024.09 (whose
    // x100 is 102408.99999999999 in binary).
    let f = build_edited(600, 12, false, |w| {
        for (k, rate) in [(0, 150.0), (1, 100.01), (2, 1024.09)] {
            let c = &mut w.creators[k];
            c.rate_usd = Some(rate);
            c.min_fee_usd = None;
            c.capacity = None;
        }
    });
    let s = &f.snap;
    let id = |k: usize| s.ordinal(&format!("c-{:07}", k + 1)).unwrap();
    let range = |lo: f64, hi: f64| brief_with(s, json!({"fee_range_usd": [lo, hi]}));
    // A fee just outside the range is out, whichever way it would round.
    assert!(!is_eligible(s, &range(150.004, 1500.0), id(0)));
    assert!(is_eligible(s, &range(150.0, 1500.0), id(0)));
    assert!(!is_eligible(s, &range(0.0, 100.009), id(1)));
    assert!(is_eligible(s, &range(0.0, 100.01), id(1)));
    assert!(is_eligible(s, &range(1024.09, 1024.09), id(2)));
    for b in [range(150.004, 1500.0), range(0.0, 100.009)] {
        assert_valid(s, &b, &Matcher::default().select(s, &b));
    }
    // A fee equal to the whole budget fits it.
    let b = brief_with(
        s,
        json!({"fee_range_usd": [1024.09, 1024.09], "budget_usd": 1024.09, "creators_wanted": 1}),
    );
    let r = Matcher::default().select(s, &b);
    assert_eq!(r.selected.len(), 1, "{:?}", r.stats);
    assert_eq!(r.selected[0].fee_usd, 1024.09);
    assert_valid(s, &b, &r);
}

#[test]
fn a_creator_who_asks_nothing_can_be_chosen() {
    let f = build_edited(600, 13, false, |w| {
        let c = &mut w.creators[4];
        c.rate_usd = Some(0.0);
        c.min_fee_usd = None;
        c.capacity = None;
    });
    let s = &f.snap;
    let o = s.ordinal("c-0000005").unwrap();
    assert_eq!(s.hot.fee_cents[o as usize], 0);
    assert!(is_eligible(s, &brief_with(s, json!({})), o));
    // The only free creator, with a budget of nothing: chosen alone.
    let b = brief_with(
        s,
        json!({"fee_range_usd": [0, 0], "budget_usd": 0, "creators_wanted": 3}),
    );
    let r = Matcher::default().select(s, &b);
    assert_valid(s, &b, &r);
    assert_eq!(
        r.selected.iter().map(|c| c.ordinal).collect::<Vec<_>>(),
        vec![o]
    );
    assert_eq!(r.totals.fee_usd, 0.0);
}

#[test]
fn a_brief_without_embedding_is_placed_among_the_users_vectors() {
    // The creators carry the user's 8-value embeddings; the brief carries
    // none, so its niches place it (it used to index 64 values into 8).
    let f = build_world(1500, 14, false, Some(8), |_| {});
    let s = &f.snap;
    assert!(s.vectors.user_supplied && s.vectors.dim == 8);
    let niche = s.dicts.niches[0].clone();
    let b = brief_with(s, json!({"niches": [niche], "creators_wanted": 20}));
    assert_eq!(b.query_vector.len(), 8);
    let r = Matcher::default().select(s, &b);
    assert_valid(s, &b, &r);
    assert!(!r.selected.is_empty());
    assert!(r.selected.iter().any(|c| c.signals.semantic > 0.0));
    // No niche any creator declares: no vector, no semantic signal.
    let b = brief_with(
        s,
        json!({"niches": ["no-such-niche"], "creators_wanted": 20}),
    );
    assert!(b.query_vector.is_empty());
    let r = Matcher::default().select(s, &b);
    assert_valid(s, &b, &r);
    assert!(r.selected.iter().all(|c| c.signals.semantic == 0.0));
}

#[test]
fn a_brief_may_want_more_creators_than_there_are() {
    // `creators_wanted` has no upper limit: the candidate collectors are
    // sized by the snapshot, not by 8 x 4 billion.
    let f = fixture();
    let s = &f.snap;
    let b = brief_with(s, json!({"creators_wanted": u32::MAX, "budget_usd": 1e9}));
    let union = Matcher::new(MatchOptions {
        candidates: CandidateOptions {
            exact_limit: 0,
            ..CandidateOptions::default()
        },
        force_exact: false,
    });
    for m in [Matcher::default(), union] {
        let r = m.select(s, &b);
        assert_valid(s, &b, &r);
        assert!(r.selected.len() > 100, "{}", r.selected.len());
    }
}

#[test]
fn at_least_bounds_compare_the_values_as_given() {
    // 0.79999999 is 0.8 in 32 bits; a median rate of 39,999,999 /
    // 2,000,000,000 = 0.0199999995 is 0.02 in 32 bits. Neither is "at
    // least" 0.8 / 0.02; the values equal to the bounds are.
    let f = build_edited(600, 15, false, |w| {
        for c in &mut w.creators[5..9] {
            c.rate_usd = Some(100.0);
            c.min_fee_usd = None;
            c.capacity = None;
        }
        w.creators[5].audience_quality = Some(0.79999999);
        w.creators[6].audience_quality = Some(0.8);
        for (k, engagements) in [(7, 39_999_999), (8, 40_000_000)] {
            let id = w.creators[k].creator_id.clone();
            w.creators[k].followers = 2_000_000_000;
            w.performance.retain(|p| p.creator_id != id);
            let mut p = w.performance[0].clone();
            p.creator_id = id;
            p.engagements = engagements;
            w.performance.push(p);
        }
    });
    let s = &f.snap;
    let id = |k: usize| s.ordinal(&format!("c-{:07}", k + 1)).unwrap();
    let q = brief_with(s, json!({"creator_filters": {"min_audience_quality": 0.8}}));
    assert!(!is_eligible(s, &q, id(5)));
    assert!(is_eligible(s, &q, id(6)));
    let er = brief_with(s, json!({"creator_filters": {"min_engagement_rate": 0.02}}));
    assert_eq!(
        s.creators.engagement_rate[id(7) as usize],
        Some(0.0199999995)
    );
    assert!(!is_eligible(s, &er, id(7)));
    assert!(is_eligible(s, &er, id(8)));
    assert_rules_equal_row_by_row(
        s,
        &[
            json!({"campaign_id": "q", "org_id": "o", "brand": "b", "title": "t",
                   "budget_usd": 1000, "creators_wanted": 5,
                   "creator_filters": {"min_audience_quality": 0.8}}),
            json!({"campaign_id": "e", "org_id": "o", "brand": "b", "title": "t",
                   "budget_usd": 1000, "creators_wanted": 5,
                   "creator_filters": {"min_engagement_rate": 0.02}}),
        ],
    );
}

#[test]
fn diversity_caps_never_round_past_their_share() {
    let s = &fixture().snap;
    let caps = |share: f64, wanted: u32| {
        let b = brief_with(
            s,
            json!({"creators_wanted": wanted,
                   "diversity": {"max_share_per_country": share, "max_share_per_niche": share}}),
        );
        let c = Matcher::caps(&b);
        assert_eq!(c.per_country, c.per_niche);
        c.per_country.unwrap()
    };
    // 0.3 x 50 was 16 in 32 bits (15.000001 rounded up); 30% of 45 is 13.
    assert_eq!(caps(0.3, 50), 15);
    assert_eq!(caps(0.6, 25), 15);
    assert_eq!(caps(0.3, 90), 27);
    assert_eq!(caps(0.3, 45), 13);
    assert_eq!(caps(0.01, 50), 1, "at least one");
    for wanted in 1..=200u32 {
        for pct in 1..=100u32 {
            let share = pct as f64 / 100.0;
            let cap = caps(share, wanted) as u32;
            assert!(
                cap == 1 || cap * 100 <= pct * wanted,
                "{pct}% of {wanted}: {cap}"
            );
            assert!((cap + 1) * 100 > pct * wanted, "{pct}% of {wanted}: {cap}");
        }
    }
    let b = brief_with(
        s,
        json!({"creators_wanted": 50, "budget_usd": 1e7,
               "diversity": {"max_share_per_country": 0.3}}),
    );
    let r = Matcher::default().select(s, &b);
    assert_valid(s, &b, &r);
    let mut per_country = std::collections::HashMap::new();
    for c in &r.selected {
        *per_country
            .entry(s.hot.country[c.ordinal as usize])
            .or_insert(0) += 1;
    }
    assert!(per_country.values().all(|&n| n <= 15), "{per_country:?}");
}

/// The reference the match result's JSON must equal byte for byte: the
/// contract's shape built as a `serde_json::Value` tree (maps sort their
/// keys), as the wire format was produced before it was serialised
/// straight from the result.
fn match_result_as_value_tree(r: &MatchResult) -> Value {
    let round = |x: f64, places: i32| {
        let p = 10f64.powi(places);
        (x * p).round() / p
    };
    let selected: Vec<Value> = r
        .selected
        .iter()
        .map(|c| {
            let mut signals = serde_json::Map::new();
            for (name, v) in c.signals.named() {
                signals.insert(name.to_string(), json!(round(v as f64, 4)));
            }
            json!({
                "rank": c.rank,
                "creator_id": c.creator_id,
                "score": round(c.score as f64, 4),
                "fee_usd": round(c.fee_usd, 2),
                "expected_engagements": round(c.expected_engagements, 1),
                "signals": Value::Object(signals),
                "reasons": c.reasons,
            })
        })
        .collect();
    json!({
        "campaign_id": r.campaign_id,
        "snapshot": r.snapshot,
        "selected": selected,
        "totals": {
            "creators": r.totals.creators,
            "fee_usd": round(r.totals.fee_usd, 2),
            "expected_engagements": round(r.totals.expected_engagements, 1),
            "estimated_unique_reach": round(r.totals.estimated_unique_reach, 0),
            "budget_usd": r.totals.budget_usd,
        },
        "brief_missing": r.brief_missing,
        "stats": {
            "eligible": r.stats.eligible,
            "candidates": r.stats.candidates,
            "took_ms": round(r.stats.took_ms, 3),
            "mode": r.stats.mode.as_str(),
        }
    })
}

#[test]
fn match_result_json_is_the_value_trees_bytes() {
    use cloutdesk::dto::MatchResultJson;
    let f = fixture();
    let briefs = sample_briefs(&f.snap);
    let mut results = Matcher::default().select_many(&f.snap, &briefs);
    assert!(results.iter().any(|r| !r.selected.is_empty()));
    // A lookalike signal, a number that is not finite (null on the wire)
    // and an empty selection, beside the real results.
    let mut odd = results
        .iter()
        .find(|r| r.selected.len() >= 2)
        .unwrap()
        .clone();
    odd.selected[0].signals.lookalike = Some(0.123_456_7);
    odd.selected[1].score = f32::NAN;
    odd.totals.fee_usd = f64::INFINITY;
    let mut empty = results[0].clone();
    empty.selected.clear();
    results.extend([odd, empty]);
    for r in &results {
        let want = serde_json::to_vec(&match_result_as_value_tree(r)).unwrap();
        let got = serde_json::to_vec(&MatchResultJson::of(r)).unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(want).unwrap(),
            "{}",
            r.campaign_id
        );
        let pretty = serde_json::to_vec_pretty(&MatchResultJson::of(r)).unwrap();
        assert_eq!(
            pretty,
            serde_json::to_vec_pretty(&match_result_as_value_tree(r)).unwrap()
        );
    }
}

#[test]
fn briefs_written_to_out_need_distinct_campaign_ids() {
    use cloutdesk::briefs::distinct_campaign_ids;
    let f = fixture();
    let mut raw: Vec<(String, Value)> =
        read_brief_values(&sample_dir().join("briefs.jsonl")).unwrap();
    let briefs = validate_all(&f.snap, &raw).unwrap();
    distinct_campaign_ids(&raw, &briefs).unwrap();
    // The third brief again, for another org: same campaign id, so its
    // result file would overwrite the first one's.
    let mut again = raw[2].1.clone();
    again["org_id"] = Value::from("another-org");
    raw.push(("briefs.jsonl:99".into(), again));
    let briefs = validate_all(&f.snap, &raw).unwrap();
    let err = distinct_campaign_ids(&raw, &briefs)
        .unwrap_err()
        .to_string();
    let id = briefs[2].campaign_id.clone();
    assert!(
        err.contains(&format!("{id:?} at {}, briefs.jsonl:99", raw[2].0)),
        "{err}"
    );
}

#[test]
fn the_snapshot_summary_lists_its_sources() {
    let f = fixture();
    let text = cloutdesk::cli::snapshot_summary(&f.snap);
    assert!(!f.snap.manifest.sources.is_empty());
    for src in &f.snap.manifest.sources {
        let line = format!(
            "source {:<12} {} ({} rows read",
            src.kind, src.path, src.rows_read
        );
        assert!(text.contains(&line), "no {line:?} in\n{text}");
    }
    assert!(text.contains("as of "), "{text}");
}

#[test]
fn lookalike_seeds_are_never_selected_themselves() {
    let f = fixture();
    let raw = read_brief_values(&sample_dir().join("briefs.jsonl")).unwrap();
    let m = Matcher::default();
    let mut checked = 0;
    for (place, v) in &raw {
        let plain = validate_all(&f.snap, &[(place.clone(), v.clone())]).unwrap();
        let r = m.select(&f.snap, &plain[0]);
        let seeds: Vec<String> = r
            .selected
            .iter()
            .take(2)
            .map(|x| x.creator_id.clone())
            .collect();
        // Seeds out, others must be left to choose from.
        if seeds.is_empty() || r.stats.eligible < seeds.len() + 3 {
            continue;
        }
        checked += 1;
        let mut v = v.clone();
        v["similar_to"] = json!(seeds);
        let b = validate_all(&f.snap, &[(place.clone(), v)])
            .unwrap()
            .remove(0);
        let r = m.select(&f.snap, &b);
        assert!(!r.selected.is_empty(), "{place}: {:?}", r.stats);
        for x in &r.selected {
            assert!(
                !seeds.contains(&x.creator_id),
                "{place}: seed {} selected",
                x.creator_id
            );
        }
        let o = f.snap.ordinal(&seeds[0]).unwrap() as usize;
        assert!(cloutdesk_engine::filter::check_one(&b, &f.snap, o)
            .contains(&cloutdesk_engine::filter::Rule::LookalikeSeed));
        assert_eq!(
            r.stats.eligible,
            cloutdesk_engine::filter::eligible(&b, &f.snap).count
        );
    }
    assert!(checked >= 3, "{checked}");
}

/// A creator without history is expected to engage like its peers on its
/// own platform and in its size band (platforms differ by factors), and
/// the peers' median is taken only where there are enough of them.
#[test]
fn the_engagement_prior_is_per_platform_and_size_band() {
    let s = &fixture().snap;
    let (h, c) = (&s.hot, &s.creators);
    let mut cells = 0;
    for p in 0..cloutdesk_engine::schema::Platform::ALL.len() as u8 {
        for band in 0..cloutdesk_engine::vector::SIZE_BANDS as u8 {
            let mut v: Vec<f32> = (0..s.len())
                .filter(|&i| h.platform[i] == p && h.band[i] == band)
                .map(|i| h.er[i])
                .filter(|e| e.is_finite() && *e > 0.0)
                .collect();
            let prior = s.priors.er_prior(p, band);
            if v.len() < 20 {
                assert_eq!(prior, s.priors.er_by_band[band as usize]);
                continue;
            }
            cells += 1;
            // The priors take the upper middle of an even count.
            v.sort_by(f32::total_cmp);
            let median = v[v.len() / 2];
            assert_eq!(prior, median, "{p} {band}");
            for i in (0..s.len()).filter(|&i| h.platform[i] == p && h.band[i] == band) {
                if c.post_count[i] == 0 {
                    assert_eq!(h.overall_er[i], prior, "creator {i}");
                }
            }
        }
    }
    assert!(cells >= 6, "too few cells with 20 creators: {cells}");
}

/// BM25 term at a time (`union_scores`, what matching runs) gives every
/// allowed creator tantivy's own union score, to the bit and in the same
/// (segment, doc) order, whatever the share allowed and however the
/// documents are cut into jobs (small ranges make each job seek its
/// posting lists to its first document).
#[test]
fn bm25_term_at_a_time_equals_tantivys_union_scorer() {
    use cloutdesk_engine::bitset::Bitset;
    use cloutdesk_engine::text::TermUnion;
    let s = &fixture().snap;
    let text = s.text.as_ref().expect("the fixture has a text index");
    let mut checked = 0usize;
    for (k, b) in sample_briefs(s)
        .iter()
        .chain(&random_briefs(s, 24, 77))
        .enumerate()
    {
        let Some(q) = text.build_query(&b.text_query) else {
            continue;
        };
        let u = q
            .downcast_ref::<TermUnion>()
            .expect("a brief's query is a term union");
        for every in [1usize, 2, 5, 37] {
            let allowed = Bitset::from_fn(s.len(), |i| (i * 13 + k) % every == 0);
            let full = text.full_scores(q.as_ref(), &allowed);
            for range in [1usize, 64, 1000, usize::MAX] {
                let got = text
                    .union_scores_ranged(u, &allowed, range)
                    .expect("tantivy reads the index");
                let bits =
                    |v: &[(f32, u32)]| v.iter().map(|x| (x.0.to_bits(), x.1)).collect::<Vec<_>>();
                assert_eq!(
                    bits(&got),
                    bits(&full),
                    "brief {}, 1 in {every} allowed, ranges of {range}",
                    b.campaign_id
                );
            }
            // And what matching calls, whichever way it goes.
            let mut got = text.scores(q.as_ref(), &allowed);
            let mut want = full.clone();
            got.sort_by_key(|x| x.1);
            want.sort_by_key(|x| x.1);
            assert_eq!(got, want, "brief {}", b.campaign_id);
            checked += full.len();
        }
    }
    assert!(checked > 1000, "too few matches checked: {checked}");
}

/// A word the brief repeats (here "gym": a keyword, and in its
/// description) is one BM25 clause whose boost is the sum of its boosts:
/// every creator's score is, but for rounding, the sum of the scores of
/// the two phrases searched apart.
#[test]
fn a_repeated_word_scores_as_the_sum_of_its_boosts() {
    use cloutdesk_engine::bitset::Bitset;
    use cloutdesk_engine::text::TextQuery;
    let s = &fixture().snap;
    let text = s.text.as_ref().expect("the fixture has a text index");
    let all = Bitset::full(s.len());
    let scores = |phrases: &[(&str, f32)]| -> std::collections::HashMap<u32, f32> {
        let q = TextQuery {
            phrases: phrases.iter().map(|&(p, b)| (p.to_string(), b)).collect(),
            niches: Vec::new(),
        };
        let q = text.build_query(&q).expect("searchable words");
        text.full_scores(q.as_ref(), &all)
            .into_iter()
            .map(|(score, o)| (o, score))
            .collect()
    };
    let keyword = scores(&[("gym", 1.5)]);
    let description = scores(&[("gym protein", 1.0)]);
    let both = scores(&[("gym", 1.5), ("gym protein", 1.0)]);
    assert!(
        keyword.len() > 10,
        "the keyword matches bios: {}",
        keyword.len()
    );
    assert_eq!(
        both.len(),
        description.len(),
        "every keyword match is a description match"
    );
    for (o, &sum) in &both {
        let apart = description[o] + keyword.get(o).copied().unwrap_or(0.0);
        assert!(
            (sum - apart).abs() <= 1e-5 * apart.abs().max(1.0),
            "creator {o}: {sum} together, {apart} apart"
        );
    }
}
