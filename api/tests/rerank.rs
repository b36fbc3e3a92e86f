//! The nightly re-rank end to end on a small generated world: creator
//! limits across campaigns, the feed's floors and usage rights, declines,
//! byte-identical output whatever the thread count, and kill -9 at every
//! step of publishing a generation.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cloutdesk::declines::DeclineLog;
use cloutdesk::rerank::{
    creator_feed, current_generation, read_diff, read_feeds, read_manifest, read_selections,
    rerank, FeedIndex, RerankOptions,
};
use cloutdesk_engine::brief::CampaignBrief;
use cloutdesk_engine::feed::{build_feeds, Exclusion, FeedHistory, FeedOptions, Offer};
use cloutdesk_engine::filter::check_one;
use cloutdesk_engine::snapshot::Snapshot;
use cloutdesk_engine::storage::DataDir;
use cloutdesk_ingest::contract::FileFormat;
use cloutdesk_ingest::generate::{generate_world, write_world, GenConfig, REFERENCE_DAY};
use cloutdesk_ingest::{ingest, IngestOptions, NoProgress};

const TODAY: &str = "2026-11-01";

struct World {
    _tmp: tempfile::TempDir,
    src: PathBuf,
    campaigns: PathBuf,
}

fn world(creators: usize, briefs: usize, seed: u64) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let cfg = GenConfig {
        creators,
        briefs,
        seed,
        format: FileFormat::Csv,
        embedding_dim: None,
    };
    let w = generate_world(&cfg);
    write_world(&w, &cfg, &src).unwrap();
    World {
        campaigns: src.join("briefs.jsonl"),
        src,
        _tmp: tmp,
    }
}

fn ingest_into(w: &World, data: &Path) {
    let mut o = IngestOptions::new(data.to_path_buf());
    o.creators = Some(w.src.join("creators.csv"));
    o.performance = Some(w.src.join("performance.csv"));
    o.payments = Some(w.src.join("payments.csv"));
    o.as_of_day = Some(REFERENCE_DAY);
    ingest(&o, &NoProgress).unwrap();
}

fn opts(max_new: u32) -> RerankOptions {
    RerankOptions {
        max_new_offers: max_new,
        today: Some(TODAY.into()),
        pool_min: 500,
        ..RerankOptions::default()
    }
}

fn run(data: &Path, campaigns: &Path, o: &RerankOptions) -> String {
    let raw = cloutdesk::rerank::read_campaigns(data, Some(campaigns)).unwrap();
    rerank(data, &raw, o, &NoProgress).unwrap().generation
}

fn briefs_of(s: &Snapshot, campaigns: &Path) -> HashMap<String, CampaignBrief> {
    let raw = cloutdesk::briefs::read_brief_values(campaigns).unwrap();
    cloutdesk::briefs::validate_all(s, &raw)
        .unwrap()
        .into_iter()
        .map(|b| (b.campaign_id.clone(), b))
        .collect()
}

/// A generated world ingested into a fresh data dir, with its snapshot
/// and briefs (bind `_tmp` for as long as the data dir is used).
struct Ingested {
    w: World,
    _tmp: tempfile::TempDir,
    data: PathBuf,
    s: std::sync::Arc<Snapshot>,
    briefs: HashMap<String, CampaignBrief>,
}

impl Ingested {
    /// (world, temp dir to keep, data dir, snapshot, briefs by id).
    fn parts(
        self,
    ) -> (
        World,
        tempfile::TempDir,
        PathBuf,
        std::sync::Arc<Snapshot>,
        HashMap<String, CampaignBrief>,
    ) {
        (self.w, self._tmp, self.data, self.s, self.briefs)
    }
}

fn ingested(creators: usize, briefs: usize, seed: u64) -> Ingested {
    let w = world(creators, briefs, seed);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ingest_into(&w, &data);
    let s = Snapshot::open(&DataDir::open(&data).unwrap()).unwrap();
    let briefs = briefs_of(&s, &w.campaigns);
    Ingested {
        w,
        _tmp: tmp,
        data,
        s,
        briefs,
    }
}

#[test]
fn capacity_and_offer_caps_hold_across_campaigns() {
    let (w, _keep, data, s, briefs) = ingested(3000, 40, 7).parts();

    let g1 = run(&data, &w.campaigns, &opts(2));
    let sel1 = read_selections(&data, &g1).unwrap();
    assert!(
        sel1.len() > 500,
        "too few pairs to mean anything: {}",
        sel1.len()
    );
    let mut per_creator: HashMap<&str, usize> = HashMap::new();
    let mut per_campaign: HashMap<&str, (usize, f64)> = HashMap::new();
    for r in &sel1 {
        *per_creator.entry(&r.creator_id).or_default() += 1;
        let e = per_campaign.entry(&r.campaign_id).or_default();
        e.0 += 1;
        e.1 += r.fee_usd;
        let o = s.ordinal(&r.creator_id).unwrap() as usize;
        let b = &briefs[&r.campaign_id];
        assert!(
            check_one(b, &s, o).is_empty(),
            "{} breaks a rule of {}",
            r.creator_id,
            b.campaign_id
        );
    }
    let mut contested = 0;
    for (c, n) in &per_creator {
        let o = s.ordinal(c).unwrap() as usize;
        if let Some(cap) = s.creators.capacity[o] {
            assert!(*n <= cap as usize, "{c}: {n} campaigns > capacity {cap}");
        }
        // First generation: every pair is a new offer.
        assert!(*n <= 2, "{c}: {n} new offers > 2");
        contested += (*n == 2) as usize;
    }
    assert!(
        contested > 0,
        "no creator reached the offer cap: the test proves nothing"
    );
    for (c, (n, fees)) in &per_campaign {
        let b = &briefs[*c];
        assert!(*n <= b.creators_wanted as usize);
        assert!(
            *fees <= b.budget_usd + 1e-6,
            "{c}: fees {fees} > budget {}",
            b.budget_usd
        );
    }
    let m = read_manifest(&data, &g1).unwrap();
    assert!(
        m.alone.overcommitted_offers > 0,
        "alone plans should overcommit here"
    );
    // The manifest's size and sha256 of each file are the file's.
    assert_eq!(m.files.len(), 4, "{:?}", m.files.keys());
    for (name, (len, sha)) in &m.files {
        let bytes =
            std::fs::read(cloutdesk::rerank::generation_dir(&data, &g1).join(name)).unwrap();
        assert_eq!(bytes.len() as u64, *len, "{name}");
        assert_eq!(
            &cloutdesk_engine::storage::hex_sha256(&bytes),
            sha,
            "{name}"
        );
    }
    let jsonl = std::fs::read_to_string(
        cloutdesk::rerank::generation_dir(&data, &g1).join("match_results.jsonl"),
    )
    .unwrap();
    assert_eq!(jsonl.lines().count(), m.campaigns, "one line a campaign");
    assert!(jsonl.ends_with('\n'));
    assert!(
        m.total_value >= m.alone.feasible_value,
        "global {} < feasible alone {}",
        m.total_value,
        m.alone.feasible_value
    );

    // Second run: pairs kept from the first are not new offers; new ones stay <= 2.
    let g2 = run(&data, &w.campaigns, &opts(2));
    let prev: HashSet<(String, String)> = sel1
        .iter()
        .map(|r| (r.campaign_id.clone(), r.creator_id.clone()))
        .collect();
    let mut all: HashMap<String, usize> = HashMap::new();
    let mut new: HashMap<String, usize> = HashMap::new();
    for r in read_selections(&data, &g2).unwrap() {
        *all.entry(r.creator_id.clone()).or_default() += 1;
        if !prev.contains(&(r.campaign_id.clone(), r.creator_id.clone())) {
            *new.entry(r.creator_id.clone()).or_default() += 1;
        }
    }
    for (c, n) in &all {
        let o = s.ordinal(c).unwrap() as usize;
        if let Some(cap) = s.creators.capacity[o] {
            assert!(*n <= cap as usize);
        }
        assert!(new.get(c).copied().unwrap_or(0) <= 2);
    }
    assert_eq!(
        read_manifest(&data, &g2).unwrap().parent.as_deref(),
        Some(g1.as_str())
    );
}

/// The re-rank keeps only compact pools through the assignment and
/// recomputes the chosen creators' signals afterwards: they must equal, bit
/// for bit, what the matcher's scoring pass gives the same creator for the
/// same brief (score, fee, expected engagements, value).
#[test]
fn selected_creators_carry_the_scoring_passs_figures() {
    let (w, _keep, data, s, briefs) = ingested(2000, 24, 11).parts();
    let g = run(&data, &w.campaigns, &opts(3));
    let sel = read_selections(&data, &g).unwrap();
    assert!(sel.len() > 200, "too few pairs: {}", sel.len());
    let matcher = cloutdesk_engine::matcher::Matcher::default();
    let mut pools: HashMap<&str, HashMap<u32, cloutdesk_engine::signals::Scored>> = HashMap::new();
    for r in &sel {
        let pool = pools.entry(r.campaign_id.as_str()).or_insert_with(|| {
            matcher
                .score_pool(&s, &briefs[&r.campaign_id])
                .scored
                .into_iter()
                .map(|x| (x.ordinal, x))
                .collect()
        });
        let o = s.ordinal(&r.creator_id).unwrap();
        let x = &pool[&o];
        assert_eq!(
            r.score.to_bits(),
            x.score.to_bits(),
            "{} in {}",
            r.creator_id,
            r.campaign_id
        );
        assert_eq!(r.fee_usd, x.fee_cents as f64 / 100.0);
        assert_eq!(
            r.expected_engagements.to_bits(),
            x.expected_engagements.to_bits()
        );
        assert_eq!(r.value.to_bits(), x.value.to_bits());
    }
}

#[test]
fn feed_never_shows_an_item_below_the_floor_or_against_usage_rights() {
    let (w, _keep, data, s, briefs) = ingested(2000, 25, 3).parts();
    let g = run(&data, &w.campaigns, &opts(3));
    let feeds = read_feeds(&data, &g).unwrap();
    assert!(!feeds.is_empty());
    let mut per_creator: HashMap<&str, usize> = HashMap::new();
    for f in &feeds {
        let o = s.ordinal(&f.creator_id).unwrap() as usize;
        if let Some(m) = s.creators.min_fee_usd[o] {
            assert!(f.fee_usd + 1e-9 >= m, "{} item below floor", f.creator_id);
        }
        let b = &briefs[&f.campaign_id];
        if b.usage_rights.as_ref().is_some_and(|u| u.paid_usage) {
            assert_eq!(s.creators.accepts_usage_rights[o], Some(true));
        }
        assert_eq!(
            f.missing,
            b.missing()
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
        );
        assert!(!f.reasons.is_empty());
        *per_creator.entry(&f.creator_id).or_default() += 1;
    }
    // Fatigue: the default is 5 new items per creator per day.
    assert!(per_creator.values().all(|&n| n <= 5));

    // The feed itself refuses such offers even if an assignment made them:
    // offer every brief to creators with a floor above the fee, or who
    // refuse usage rights.
    let list: Vec<CampaignBrief> = {
        let mut v: Vec<CampaignBrief> = briefs.values().cloned().collect();
        v.sort_by(|a, b| a.campaign_id.cmp(&b.campaign_id));
        v
    };
    let mut offers = Vec::new();
    for i in 0..s.len() {
        for (c, b) in list.iter().enumerate() {
            let refuses = s.creators.accepts_usage_rights[i] == Some(false)
                && b.usage_rights.as_ref().is_some_and(|u| u.paid_usage);
            if let Some(m) = s.creators.min_fee_usd[i] {
                offers.push(Offer {
                    campaign: c as u32,
                    ordinal: i as u32,
                    fee_cents: ((m - 1.0).max(0.0) * 100.0) as u64,
                    niche_fit: 1.0,
                });
            }
            if refuses {
                offers.push(Offer {
                    campaign: c as u32,
                    ordinal: i as u32,
                    fee_cents: 100_000_000,
                    niche_fit: 1.0,
                });
            }
        }
    }
    assert!(offers.len() > 100);
    let no = |_: &str, _: &str, _: &str| false;
    let never = |_: &str, _: &str, _: &str| None;
    let fopts = FeedOptions {
        today: REFERENCE_DAY,
        per_day: 1000,
        max_items: 1000,
        ..FeedOptions::default()
    };
    let out = build_feeds(
        &s,
        &list,
        &offers,
        &FeedHistory {
            declined: &no,
            first_shown: &never,
            shown_today: &|_| 0,
        },
        &fopts,
    );
    let mut excluded: HashMap<Exclusion, usize> = HashMap::new();
    for f in &out {
        for it in &f.items {
            let o = it.ordinal as usize;
            let b = &list[it.campaign as usize];
            assert!(s.creators.min_fee_usd[o].is_none_or(|m| it.fee_usd >= m));
            assert!(
                !(b.usage_rights.as_ref().is_some_and(|u| u.paid_usage)
                    && s.creators.accepts_usage_rights[o] != Some(true))
            );
        }
        for (_, e) in &f.excluded {
            *excluded.entry(*e).or_default() += 1;
        }
    }
    assert!(excluded.get(&Exclusion::BelowFloor).copied().unwrap_or(0) > 0);
    assert!(
        excluded
            .get(&Exclusion::RefusesUsageRights)
            .copied()
            .unwrap_or(0)
            > 0
    );

    // Fatigue: 2 new items per day. Offer every brief, at a fee the
    // creator accepts, to creators who take anything.
    let open: Vec<usize> = (0..s.len())
        .filter(|&i| s.creators.accepts_usage_rights[i] == Some(true))
        .take(50)
        .collect();
    let offers: Vec<Offer> = open
        .iter()
        .flat_map(|&i| {
            (0..list.len()).map(move |c| Offer {
                campaign: c as u32,
                ordinal: i as u32,
                fee_cents: 100_000_000,
                niche_fit: 0.5,
            })
        })
        .collect();
    let day1 = FeedOptions {
        per_day: 2,
        ..fopts
    };
    let d1 = build_feeds(
        &s,
        &list,
        &offers,
        &FeedHistory {
            declined: &no,
            first_shown: &never,
            shown_today: &|_| 0,
        },
        &day1,
    );
    let mut shown: HashMap<(String, String), i32> = HashMap::new();
    for f in &d1 {
        assert_eq!(f.items.len(), 2);
        assert!(f.deferred > 0);
        for it in &f.items {
            shown.insert(
                (
                    s.creators.creator_id[it.ordinal as usize].clone(),
                    list[it.campaign as usize].campaign_id.clone(),
                ),
                it.first_shown_day,
            );
        }
    }
    let seen =
        |cr: &str, _org: &str, ca: &str| shown.get(&(cr.to_string(), ca.to_string())).copied();
    // The same day again: nothing more.
    let again = build_feeds(
        &s,
        &list,
        &offers,
        &FeedHistory {
            declined: &no,
            first_shown: &seen,
            shown_today: &|_| 0,
        },
        &day1,
    );
    assert!(again.iter().all(|f| f.items.len() == 2));
    // The next day: the two kept, two more new.
    let day2 = FeedOptions {
        today: REFERENCE_DAY + 1,
        ..day1
    };
    let d2 = build_feeds(
        &s,
        &list,
        &offers,
        &FeedHistory {
            declined: &no,
            first_shown: &seen,
            shown_today: &|_| 0,
        },
        &day2,
    );
    for f in &d2 {
        assert_eq!(f.items.len(), 4);
        assert_eq!(
            f.items
                .iter()
                .filter(|i| i.first_shown_day == REFERENCE_DAY + 1)
                .count(),
            2
        );
    }
}

#[test]
fn declined_items_never_come_back() {
    let w = world(2000, 25, 5);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ingest_into(&w, &data);
    let g1 = run(&data, &w.campaigns, &opts(3));
    let feeds = read_feeds(&data, &g1).unwrap();
    // Decline every item of the first 20 creators with a feed.
    let mut creators: Vec<&str> = feeds.iter().map(|f| f.creator_id.as_str()).collect();
    creators.dedup();
    let chosen: HashSet<&str> = creators.into_iter().take(20).collect();
    let log = DeclineLog::open(&data).unwrap();
    let mut declined = HashSet::new();
    for f in feeds
        .iter()
        .filter(|f| chosen.contains(f.creator_id.as_str()))
    {
        assert!(log
            .decline(&f.creator_id, Some(&f.org_id), &f.campaign_id)
            .unwrap());
        declined.insert((
            f.creator_id.clone(),
            f.org_id.clone(),
            f.campaign_id.clone(),
        ));
    }
    drop(log);
    assert!(declined.len() >= 20);
    // At once: the served feed hides them.
    for c in &chosen {
        let (_, rows) = creator_feed(&data, c).unwrap();
        assert!(rows.iter().all(|r| !declined.contains(&(
            r.creator_id.clone(),
            r.org_id.clone(),
            r.campaign_id.clone()
        ))));
    }
    // In the next runs: never selected again for that campaign, never in a feed.
    for _ in 0..2 {
        let g = run(&data, &w.campaigns, &opts(3));
        for r in read_selections(&data, &g).unwrap() {
            assert!(!declined.contains(&(
                r.creator_id.clone(),
                r.org_id.clone(),
                r.campaign_id.clone()
            )));
        }
        for r in read_feeds(&data, &g).unwrap() {
            assert!(!declined.contains(&(
                r.creator_id.clone(),
                r.org_id.clone(),
                r.campaign_id.clone()
            )));
        }
    }
    // The first re-rank after the declines says why they left.
    let gens: Vec<String> = {
        let mut v: Vec<String> = std::fs::read_dir(data.join("rerank"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with('g'))
            .collect();
        v.sort();
        v
    };
    let diff = read_diff(&data, &gens[1]).unwrap();
    let left_declined = diff
        .iter()
        .filter(|d| d.change == "left" && d.why == "the creator declined")
        .count();
    assert_eq!(left_declined, declined.len());
}

#[test]
fn an_item_keeps_the_day_it_was_first_shown() {
    let t = ingested(1500, 20, 9);
    let (data, campaigns) = (&t.data, &t.w.campaigns);
    let g1 = run(data, campaigns, &opts(3));
    let next_day = RerankOptions {
        today: Some("2026-11-02".into()),
        ..opts(3)
    };
    let g2 = run(data, campaigns, &next_day);
    let key = |r: &cloutdesk::rerank::FeedRow| {
        (
            r.creator_id.clone(),
            r.org_id.clone(),
            r.campaign_id.clone(),
        )
    };
    let first: HashMap<_, String> = read_feeds(data, &g1)
        .unwrap()
        .iter()
        .map(|r| (key(r), r.first_shown.clone()))
        .collect();
    assert!(first.values().all(|d| d == TODAY));
    let (mut kept, mut new) = (0, 0);
    for r in read_feeds(data, &g2).unwrap() {
        match first.get(&key(&r)) {
            // Shown yesterday too: still the day it was first shown.
            Some(d) => {
                assert_eq!(&r.first_shown, d, "{:?}", key(&r));
                kept += 1;
            }
            None => {
                assert_eq!(r.first_shown, "2026-11-02", "{:?}", key(&r));
                new += 1;
            }
        }
    }
    assert!(kept > 20, "{kept} items kept");
    assert!(new > 0, "{new} new items");
}

#[test]
fn the_feed_index_gives_each_creator_the_rows_read_feeds_gives() {
    let t = ingested(1200, 15, 11);
    let g = run(&t.data, &t.w.campaigns, &opts(3));
    let all = read_feeds(&t.data, &g).unwrap();
    let index = FeedIndex::read(&t.data, &g).unwrap();
    let mut creators: Vec<&str> = all.iter().map(|r| r.creator_id.as_str()).collect();
    creators.sort_unstable();
    creators.dedup();
    assert!(
        creators.len() > 50,
        "{} creators with a feed",
        creators.len()
    );
    let mut served = 0;
    for c in creators {
        let want: Vec<_> = all.iter().filter(|r| r.creator_id == c).cloned().collect();
        let got = index.rows_of(c);
        assert_eq!(got, want, "{c}");
        served += got.len();
    }
    assert_eq!(served, all.len());
    assert!(index.rows_of("no-such-creator").is_empty());
}

#[test]
fn briefs_validate_in_parallel_but_report_in_input_order() {
    let t = ingested(600, 40, 13);
    let mut raw = cloutdesk::briefs::read_brief_values(&t.w.campaigns).unwrap();
    assert!(raw.len() >= 30, "{} briefs", raw.len());
    // Every third brief broken twice over.
    for (k, (_, v)) in raw.iter_mut().enumerate() {
        if k % 3 == 1 {
            v["budget_usd"] = serde_json::json!(-1);
            v["creators_wanted"] = serde_json::json!(0);
        }
    }
    let (valid, errors) = cloutdesk::briefs::validate_each(&t.s, &raw);
    let want_ids: Vec<&str> = raw
        .iter()
        .enumerate()
        .filter(|(k, _)| k % 3 != 1)
        .map(|(_, (_, v))| v["campaign_id"].as_str().unwrap())
        .collect();
    let got_ids: Vec<&str> = valid.iter().map(|b| b.campaign_id.as_str()).collect();
    assert_eq!(got_ids, want_ids);
    // Two problems per broken brief, brief by brief in input order.
    let broken: Vec<&str> = raw
        .iter()
        .enumerate()
        .filter(|(k, _)| k % 3 == 1)
        .map(|(_, (at, _))| at.as_str())
        .collect();
    assert_eq!(errors.len(), 2 * broken.len(), "{errors:?}");
    for (pair, at) in errors.chunks(2).zip(&broken) {
        assert!(
            pair.iter().all(|e| e.starts_with(&format!("{at}: "))),
            "{pair:?}"
        );
    }
}

fn generation_files(data: &Path, g: &str) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(data.join("rerank").join(g))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != "manifest.json")
        .map(|e| {
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn output_is_identical_whatever_the_thread_count() {
    let w = world(2500, 30, 9);
    let tmp = tempfile::tempdir().unwrap();
    let mut outs = Vec::new();
    for threads in [1, 2] {
        let data = tmp.path().join(format!("data{threads}"));
        ingest_into(&w, &data);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        // Two runs: the second has a parent (diff, carried feed items).
        let gens: Vec<String> =
            pool.install(|| (0..2).map(|_| run(&data, &w.campaigns, &opts(2))).collect());
        outs.push(
            gens.iter()
                .map(|g| generation_files(&data, g))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(outs[0].len(), 2);
    for (night, (a, b)) in outs[0].iter().zip(&outs[1]).enumerate() {
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        // The second run is on the same day: it writes the day's counts.
        assert_eq!(a.len(), [4, 5][night], "{:?}", a.keys());
        for (k, v) in a {
            assert!(v == &b[k], "{k} differs between 1 and 2 threads");
        }
    }
}

fn rerank_cmd(data: &Path, campaigns: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cloutdesk"));
    c.args(["rerank", "--data"])
        .arg(data)
        .arg("--campaigns")
        .arg(campaigns)
        .args(["--today", TODAY, "--pool-min", "300", "--json"]);
    c
}

#[test]
fn kill_9_mid_rerank_leaves_the_previous_generation_served() {
    let w = world(800, 12, 13);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ingest_into(&w, &data);
    assert!(rerank_cmd(&data, &w.campaigns)
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success());
    let first = current_generation(&data).unwrap().unwrap();
    let some_creator = read_feeds(&data, &first).unwrap()[0].creator_id.clone();
    for (point, published) in [
        ("rerank_after_begin", false),
        ("rerank_after_files", false),
        ("rerank_before_rename", false),
        ("rerank_before_current", false),
        ("rerank_after_current", true),
    ] {
        let before = current_generation(&data).unwrap().unwrap();
        let mut child = rerank_cmd(&data, &w.campaigns)
            .env("CLOUTDESK_FAILPOINT", point)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut reached = false;
        for line in BufReader::new(child.stderr.take().unwrap()).lines() {
            if line.unwrap().contains(&format!("FAILPOINT {point}")) {
                reached = true;
                break;
            }
        }
        assert!(reached, "child never reached {point}");
        child.kill().unwrap();
        child.wait().unwrap();
        let now = current_generation(&data).unwrap().unwrap();
        if published {
            assert_ne!(now, before, "{point}");
        } else {
            assert_eq!(now, before, "{point}: CURRENT must not move");
        }
        // Whatever is current is complete and readable.
        let m = read_manifest(&data, &now).unwrap();
        assert_eq!(m.id, now);
        read_selections(&data, &now).unwrap();
        let (g, _) = creator_feed(&data, &some_creator).unwrap();
        assert_eq!(g, now);
    }
    // The next run removes the crashed staging dirs and publishes.
    let before = current_generation(&data).unwrap().unwrap();
    assert!(rerank_cmd(&data, &w.campaigns)
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success());
    assert_ne!(current_generation(&data).unwrap().unwrap(), before);
    let names: Vec<String> = std::fs::read_dir(data.join("rerank"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with(".staging")),
        "{names:?}"
    );
    // The generation the kill before CURRENT left renamed into place was
    // never published: removed, so --keep 3 holds the three published
    // ones (the first, the one killed after CURRENT, the last).
    let mut gens: Vec<&String> = names.iter().filter(|n| n.starts_with('g')).collect();
    gens.sort();
    assert_eq!(gens.len(), 3, "{names:?}");
    assert_eq!(gens[0], &first, "{names:?}");
    // The feed CLI serves the new generation.
    let out = Command::new(env!("CARGO_BIN_EXE_cloutdesk"))
        .args(["feed", "--json", "--creator", &some_creator, "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["creator_id"], some_creator.as_str());
}

mod api_support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_reranks_in_the_background_and_serves_feeds_and_declines() {
    use api_support::{call, state, test_config};
    use axum::http::{Method, StatusCode};
    use serde_json::json;

    let w = api_support::world(1500, 21);
    let app = cloutdesk::server::app(state(&w, test_config()));
    let k = w.keys.clone();
    // No campaigns stored yet: a run would close every campaign and empty
    // every feed, so none starts.
    let r = call(
        &app,
        Method::POST,
        "/v1/rerank",
        Some(&k.admin),
        Some(&json!({"today": "2026-11-01"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], "no_campaigns", "{}", r.text);
    for (n, b) in w.briefs.iter().enumerate() {
        let mut b = b.clone();
        b["org_id"] = json!(w.org_a);
        b["campaign_id"] = json!(format!("cmp-{n}"));
        let r = call(
            &app,
            Method::POST,
            "/v1/campaigns",
            Some(&k.org_a),
            Some(&b),
        )
        .await;
        assert!(r.status.is_success(), "{}", r.text);
    }
    // Only admins start runs.
    let r = call(
        &app,
        Method::POST,
        "/v1/rerank",
        Some(&k.org_a),
        Some(&json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = call(
        &app,
        Method::POST,
        "/v1/rerank",
        Some(&k.admin),
        Some(&json!({"today": "2026-11-01", "bogus": 1})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // A run outside the server (`cloutdesk rerank`) holds the data dir's
    // lock: 409 now, not a run that fails in the background.
    let day = json!({"today": "2026-11-01"});
    let start = || call(&app, Method::POST, "/v1/rerank", Some(&k.admin), Some(&day));
    let held = cloutdesk::rerank::RunLock::take(&w.data).unwrap();
    let r = start().await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.text.contains("another re-rank is running"), "{}", r.text);
    drop(held);
    let r = start().await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let run_id = r.json()["run_id"].as_str().unwrap().to_string();
    let status = loop {
        let r = call(
            &app,
            Method::GET,
            &format!("/v1/rerank/{run_id}"),
            Some(&k.admin),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let v = r.json();
        if v["state"] != "running" {
            break v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(status["state"], "done", "{status}");
    let gen = status["generation"].as_str().unwrap().to_string();
    assert_eq!(status["summary"]["campaigns"], w.briefs.len());

    // A creator with items, read as admin; scopes enforced.
    let feeds = read_feeds(&w.data, &gen).unwrap();
    let who = feeds[0].creator_id.clone();
    let n_items = feeds.iter().filter(|f| f.creator_id == who).count();
    let url = format!("/v1/creators/{who}/feed");
    let r = call(&app, Method::GET, &url, Some(&k.admin), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = r.json();
    assert_eq!(v["generation"], gen.as_str());
    assert_eq!(v["items"].as_array().unwrap().len(), n_items);
    let first = v["items"][0].clone();
    assert!(!first["reasons"].as_array().unwrap().is_empty());
    assert!(first["missing"].is_array());
    assert_eq!(
        call(&app, Method::GET, &url, Some(&k.org_a), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let other = if who == w.creator_x {
        &k.creator_y
    } else {
        &k.creator_x
    };
    assert_eq!(
        call(&app, Method::GET, &url, Some(other), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let own = format!("/v1/creators/{}/feed", w.creator_x);
    assert_eq!(
        call(&app, Method::GET, &own, Some(&k.creator_x), None)
            .await
            .status,
        StatusCode::OK
    );

    // Decline the top item: gone at once, and from the next run.
    let cid = first["campaign_id"].as_str().unwrap().to_string();
    let durl = format!("/v1/creators/{who}/feed/{cid}/decline");
    let r = call(&app, Method::POST, &durl, Some(&k.admin), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["newly_declined"], true);
    // A creator id the snapshot does not hold: 404, as its feed, and
    // nothing logged.
    let r = call(
        &app,
        Method::POST,
        &format!("/v1/creators/no-such-creator/feed/{cid}/decline"),
        Some(&k.admin),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let log = cloutdesk::declines::read(&w.data).unwrap();
    assert!(!log.contains("no-such-creator", first["org_id"].as_str().unwrap(), &cid));
    let v = call(&app, Method::GET, &url, Some(&k.admin), None)
        .await
        .json();
    assert!(v["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["campaign_id"] != cid.as_str()));
    // Recorded as a decline of the offering org's campaign only (the org
    // taken from the creator's feed item).
    let org = first["org_id"].as_str().unwrap();
    let log = cloutdesk::declines::read(&w.data).unwrap();
    assert!(log.contains(&who, org, &cid));
    assert!(!log.contains(&who, "another-org", &cid));
    let m = call(&app, Method::GET, "/metrics", Some(&k.admin), None).await;
    assert!(
        m.text.contains("cloutdesk_rerank_runs_total 1"),
        "{}",
        m.text
    );
    assert!(m.text.contains("cloutdesk_feed_declines_total 1"));

    // A campaign deleted since the run leaves every feed at once (not at
    // the next run).
    let left = read_feeds(&w.data, &gen)
        .unwrap()
        .into_iter()
        .find(|f| f.campaign_id != cid)
        .unwrap();
    let r = call(
        &app,
        Method::DELETE,
        &format!("/v1/campaigns/{}", left.campaign_id),
        Some(&k.org_a),
        None,
    )
    .await;
    assert!(r.status.is_success(), "{}", r.text);
    let v = call(
        &app,
        Method::GET,
        &format!("/v1/creators/{}/feed", left.creator_id),
        Some(&k.admin),
        None,
    )
    .await
    .json();
    assert!(v["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["campaign_id"] != left.campaign_id.as_str()));
    // A creator the served snapshot does not hold: 404, not an empty feed.
    let r = call(
        &app,
        Method::GET,
        "/v1/creators/no-such-creator/feed",
        Some(&k.admin),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
}

#[test]
fn a_served_item_below_a_raised_floor_is_stale() {
    let t = ingested(1500, 10, 23);
    let (data, s) = (&t.data, &t.s);
    let g = run(data, &t.w.campaigns, &opts(3));
    let floor_of = |r: &cloutdesk::rerank::FeedRow| {
        s.creators.min_fee_usd[s.ordinal(&r.creator_id).unwrap() as usize]
    };
    let now = |r: &cloutdesk::rerank::FeedRow| {
        cloutdesk::rerank::CreatorNow::in_snapshot(Some(s), &r.creator_id)
    };
    // An item of a creator with a floor.
    let row = read_feeds(data, &g)
        .unwrap()
        .into_iter()
        .find(|r| floor_of(r).is_some())
        .unwrap();
    assert_eq!(
        cloutdesk::rerank::stale_reason(&row, now(&row), None, None),
        None
    );
    // As if the creator's floor had been raised above the fee since.
    let mut below = row.clone();
    below.fee_usd = floor_of(&row).unwrap() - 0.01;
    assert_eq!(
        cloutdesk::rerank::stale_reason(&below, now(&below), None, None),
        Some("below the creator's floor")
    );
    let mut gone = row.clone();
    gone.creator_id = "c-9999999".into();
    assert_eq!(
        cloutdesk::rerank::stale_reason(&gone, now(&gone), None, None),
        Some("creator no longer in the data")
    );
    // A deadline that became infeasible since the run hides the item: the
    // feed is judged on the run's day plus the days elapsed since.
    let m = read_manifest(data, &g).unwrap();
    let clock = cloutdesk::rerank::FeedClock::of(&m).unwrap();
    assert_eq!(
        clock.day(),
        cloutdesk_engine::schema::parse_date(TODAY).unwrap()
    );
    let dated = read_feeds(data, &g)
        .unwrap()
        .into_iter()
        .find(|r| r.content_due_day.is_some())
        .expect("an item with a content due date");
    let due = dated.content_due_day.unwrap();
    let brief = &t.briefs[&dated.campaign_id];
    assert_eq!(
        brief.timeline.as_ref().and_then(|x| x.content_due),
        Some(due)
    );
    assert_eq!(
        dated.content_due.as_deref(),
        Some(cloutdesk_engine::schema::format_date(due).as_str())
    );
    let lead = m.options.min_lead_days;
    let at = |days_later: i64| cloutdesk::rerank::FeedClock {
        now_unix: clock.run_unix + days_later * 86_400,
        ..clock
    };
    let now_d = now(&dated);
    let still = (due - clock.run_day - lead) as i64;
    assert!(still >= 0, "the run offered it with the lead to spare");
    assert_eq!(
        cloutdesk::rerank::stale_reason(&dated, now_d, None, Some(at(still))),
        None
    );
    assert_eq!(
        cloutdesk::rerank::stale_reason(&dated, now_d, None, Some(at(still + 1))),
        Some("deadline no longer feasible")
    );
    // The CLI's feed checks the published snapshot too: the creator raises
    // their floor above the item's fee (an upsert), and `cloutdesk feed`
    // no longer shows the item, before any new run.
    upsert_hides_the_item(
        &t,
        &row,
        "min_fee_usd",
        serde_json::json!(row.fee_usd + 0.01),
    );
    // A creator the snapshot does not have is an error, not an empty feed.
    let e = creator_feed(data, "c-9999999").unwrap_err().to_string();
    assert!(e.contains("no creator \"c-9999999\""), "{e}");
    // A generation whose manifest has no readable day is refused, not
    // served with its deadline re-check skipped.
    let mp = cloutdesk::rerank::generation_dir(data, &g).join("manifest.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&mp).unwrap()).unwrap();
    v["today"] = "sometime".into();
    std::fs::write(&mp, serde_json::to_vec(&v).unwrap()).unwrap();
    let e = format!("{:#}", creator_feed(data, &row.creator_id).unwrap_err());
    assert!(
        e.contains("manifest.json") && e.contains("`today` is \"sometime\""),
        "{e}"
    );
    let e = format!("{:#}", read_manifest(data, &g).unwrap_err());
    assert!(e.contains("not a YYYY-MM-DD date"), "{e}");
}

/// The world's campaigns plus a copy of the first under org `other-org`
/// (same campaign id); with the first's id and org.
fn campaigns_with_a_twin(t: &Ingested) -> (Vec<(String, serde_json::Value)>, String, String) {
    let mut raw = cloutdesk::briefs::read_brief_values(&t.w.campaigns).unwrap();
    let mut twin = raw[0].1.clone();
    twin["org_id"] = "other-org".into();
    raw.push(("twin".into(), twin));
    let field = |k: &str| raw[0].1[k].as_str().unwrap().to_string();
    let (id0, org0) = (field("campaign_id"), field("org_id"));
    (raw, id0, org0)
}

#[test]
fn campaigns_are_org_scoped_and_overdue_ones_are_left_out() {
    let t = ingested(2000, 12, 21);
    let data = &t.data;
    // Another org with the same campaign id: a second campaign (it used
    // to fail the whole run).
    let (mut raw, id0, org0) = campaigns_with_a_twin(&t);
    // Content due a month before the run: no offer of it could be shown.
    raw[1].1["timeline"] = serde_json::json!({"content_due": "2026-10-01"});
    let overdue = raw[1].1["campaign_id"].as_str().unwrap().to_string();
    // One campaign no longer valid: left out and reported, the run goes on.
    let mut bad = raw[2].1.clone();
    bad["campaign_id"] = "broken".into();
    bad["budget_usd"] = "lots".into();
    raw.push(("campaign store org/broken".into(), bad));
    let o = opts(3);
    let g1 = rerank(data, &raw, &o, &NoProgress).unwrap().generation;
    let m = read_manifest(data, &g1).unwrap();
    assert_eq!((m.campaigns, m.past_deadline), (12, 1));
    assert_eq!(m.invalid.len(), 1, "{:?}", m.invalid);
    assert!(
        m.invalid[0].contains("org/broken: budget_usd"),
        "{:?}",
        m.invalid
    );
    let sel = read_selections(data, &g1).unwrap();
    assert!(sel.iter().all(|r| r.campaign_id != overdue));
    let orgs_of_0: HashSet<&str> = sel
        .iter()
        .filter(|r| r.campaign_id == id0)
        .map(|r| r.org_id.as_str())
        .collect();
    assert_eq!(orgs_of_0, HashSet::from([org0.as_str(), "other-org"]));
    // The next run finds each org's previous selection: neither twin is
    // "new".
    let g2 = rerank(data, &raw, &o, &NoProgress).unwrap().generation;
    let diff = read_diff(data, &g2).unwrap();
    assert!(
        !diff.iter().any(|d| d.why.starts_with("new campaign")),
        "{diff:?}"
    );
    // A campaign that falls overdue leaves with that reason.
    let late = raw[3].1["campaign_id"].as_str().unwrap().to_string();
    let mut later = raw.clone();
    later[3].1["timeline"] = serde_json::json!({"content_due": "2026-10-01"});
    let g3 = rerank(data, &later, &o, &NoProgress).unwrap().generation;
    let gone: Vec<_> = read_diff(data, &g3)
        .unwrap()
        .into_iter()
        .filter(|d| d.campaign_id == late)
        .collect();
    assert!(!gone.is_empty());
    assert!(
        gone.iter()
            .all(|d| d.change == "left" && d.why == "the campaign's deadline has passed"),
        "{gone:?}"
    );
    // Every campaign invalid: nothing is published (every feed would go).
    let all_bad: Vec<(String, serde_json::Value)> = raw
        .iter()
        .map(|(at, v)| {
            let mut v = v.clone();
            v["budget_usd"] = "lots".into();
            (at.clone(), v)
        })
        .collect();
    let err = rerank(data, &all_bad, &o, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nothing was published"), "{err}");
    assert_eq!(current_generation(data).unwrap().unwrap(), g3);
    // A campaign twice in one org is still an input error, naming both.
    let mut dup = raw.clone();
    dup.push(("again".into(), raw[0].1.clone()));
    let err = rerank(data, &dup, &o, &NoProgress).unwrap_err().to_string();
    assert!(err.contains(&id0) && err.contains(&org0), "{err}");
    // Options a run cannot honour are refused by name.
    for bad in [
        RerankOptions {
            feed_max_items: 0,
            ..o.clone()
        },
        RerankOptions {
            min_lead_days: -1,
            ..o.clone()
        },
    ] {
        let err = rerank(data, &raw, &bad, &NoProgress)
            .unwrap_err()
            .to_string();
        assert!(err.contains("re-rank option"), "{err}");
    }
}

#[test]
fn a_decline_hides_one_orgs_campaign_not_another_orgs_of_the_same_id() {
    let t = ingested(2000, 6, 23);
    let data = &t.data;
    let (raw, id0, org0) = campaigns_with_a_twin(&t);
    let o = opts(3);
    let g1 = rerank(data, &raw, &o, &NoProgress).unwrap().generation;
    let chosen: HashSet<String> = read_selections(data, &g1)
        .unwrap()
        .into_iter()
        .filter(|r| r.campaign_id == id0 && r.org_id == org0)
        .map(|r| r.creator_id)
        .collect();
    assert!(!chosen.is_empty());
    let log = DeclineLog::open(data).unwrap();
    for c in &chosen {
        assert!(log.decline(c, Some(&org0), &id0).unwrap());
    }
    drop(log);
    let g2 = rerank(data, &raw, &o, &NoProgress).unwrap().generation;
    let sel = read_selections(data, &g2).unwrap();
    let mine = |r: &&cloutdesk::rerank::SelectionRow| r.campaign_id == id0 && r.org_id == org0;
    assert!(sel
        .iter()
        .filter(mine)
        .all(|r| !chosen.contains(&r.creator_id)));
    assert!(read_feeds(data, &g2)
        .unwrap()
        .iter()
        .all(|r| !(r.campaign_id == id0 && r.org_id == org0 && chosen.contains(&r.creator_id))));
    // The other org's campaign of the same id may still take them (it
    // used to lose every creator declined for the first).
    let kept = sel
        .iter()
        .filter(|r| r.campaign_id == id0 && r.org_id == "other-org")
        .filter(|r| chosen.contains(&r.creator_id))
        .count();
    assert!(kept > 0, "the twin campaign lost every declined creator");
}

#[test]
fn a_served_item_needing_usage_rights_the_creator_now_refuses_is_stale() {
    let t = ingested(1500, 10, 29);
    let data = &t.data;
    let g = run(data, &t.w.campaigns, &opts(3));
    let rows = read_feeds(data, &g).unwrap();
    // The feeds file says which briefs ask paid usage, as the briefs do.
    for r in &rows {
        let b = &t.briefs[&r.campaign_id];
        assert_eq!(
            r.paid_usage,
            b.usage_rights.as_ref().map(|u| u.paid_usage),
            "{r:?}"
        );
    }
    let row = rows
        .iter()
        .find(|r| r.paid_usage == Some(true))
        .expect("an item asking paid usage")
        .clone();
    // The rule on its own: the creator's answer as it is now.
    let terms = |accepts: Option<bool>| {
        cloutdesk::rerank::CreatorNow::Terms(cloutdesk_engine::table::CreatorTerms {
            min_fee_usd: None,
            capacity: None,
            accepts_usage_rights: accepts,
        })
    };
    let refused = Some("needs usage rights the creator refuses");
    let stale = |r: &cloutdesk::rerank::FeedRow, a| {
        cloutdesk::rerank::stale_reason(r, terms(a), None, None)
    };
    assert_eq!(stale(&row, Some(true)), None);
    assert_eq!(stale(&row, Some(false)), refused);
    assert_eq!(stale(&row, None), refused, "unknown does not accept");
    let mut silent = row.clone();
    silent.paid_usage = None;
    assert_eq!(stale(&silent, Some(false)), None);
    // End to end: the creator now refuses usage rights (an upsert), and
    // `cloutdesk feed` stops showing the item before any new run.
    upsert_hides_the_item(&t, &row, "accepts_usage_rights", serde_json::json!(false));
}

#[test]
fn a_run_while_another_holds_the_lock_is_refused_and_publishes_nothing() {
    let t = ingested(800, 6, 31);
    let data = &t.data;
    let g1 = run(data, &t.w.campaigns, &opts(3));
    // Another run (a CLI run, or the server's) between reading its parent
    // and publishing: the lock is held for all of that, so this run fails
    // at once instead of publishing a generation diffed against g1 after
    // the other one published g2.
    let held = cloutdesk::rerank::RunLock::take(data).unwrap();
    let raw = cloutdesk::rerank::read_campaigns(data, Some(&t.w.campaigns)).unwrap();
    let e = rerank(data, &raw, &opts(3), &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(e.contains("another re-rank is running"), "{e}");
    assert_eq!(
        current_generation(data).unwrap().as_deref(),
        Some(g1.as_str())
    );
    drop(held);
    // And a run holds the lock from before it reads its parent until it
    // has published: at each of its stages, another run could not start.
    struct Probe<'a> {
        data: &'a Path,
        free_at: std::sync::Mutex<Vec<(String, bool)>>,
    }
    impl cloutdesk_ingest::Progress for Probe<'_> {
        fn start(&self, stage: &str, _total: Option<u64>) {
            let free = cloutdesk::rerank::RunLock::take(self.data).is_ok();
            self.free_at.lock().unwrap().push((stage.to_string(), free));
        }
    }
    let probe = Probe {
        data,
        free_at: Default::default(),
    };
    let g2 = rerank(data, &raw, &opts(3), &probe).unwrap().generation;
    let free_at = probe.free_at.into_inner().unwrap();
    let stages: Vec<&str> = free_at.iter().map(|x| x.0.as_str()).collect();
    assert!(
        stages.contains(&"reading campaigns and history"),
        "{stages:?}"
    );
    for (stage, free) in &free_at {
        assert_eq!(*free, stage == "loading snapshot", "{stage}: {free_at:?}");
    }
    assert_ne!(g2, g1);
    assert_eq!(
        read_manifest(data, &g2).unwrap().parent.as_deref(),
        Some(g1.as_str())
    );
    assert!(cloutdesk::rerank::RunLock::take(data).is_ok(), "released");
}

#[test]
fn the_daily_limit_holds_across_runs_of_one_day_even_for_items_since_declined() {
    let w = world(2000, 25, 37);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ingest_into(&w, &data);
    let one_a_day = RerankOptions {
        feed_per_day: 1,
        ..opts(3)
    };
    let next_day = RerankOptions {
        today: Some("2026-11-02".into()),
        ..one_a_day.clone()
    };
    let shown_on = |g: &str, day: &str| -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for r in read_feeds(&data, g).unwrap() {
            if r.first_shown == day {
                *m.entry(r.creator_id).or_default() += 1;
            }
        }
        m
    };
    let g1 = run(&data, &w.campaigns, &one_a_day);
    let first = shown_on(&g1, TODAY);
    assert!(first.values().all(|&n| n == 1), "{first:?}");
    assert!(first.len() > 50, "{}", first.len());
    // Every creator declines the item they were shown today; runs later
    // the same day must not show them another new one (the declined item
    // was one of today's), not on the second run nor on a third.
    let log = DeclineLog::open(&data).unwrap();
    for r in read_feeds(&data, &g1).unwrap() {
        assert!(log
            .decline(&r.creator_id, Some(&r.org_id), &r.campaign_id)
            .unwrap());
    }
    drop(log);
    for _ in 0..2 {
        let g = run(&data, &w.campaigns, &one_a_day);
        let again = shown_on(&g, TODAY);
        assert!(
            again.keys().all(|c| !first.contains_key(c)),
            "a second new item today: {:?}",
            again
                .keys()
                .filter(|c| first.contains_key(*c))
                .take(5)
                .collect::<Vec<_>>()
        );
    }
    // The next day, the limit starts again.
    let g = run(&data, &w.campaigns, &next_day);
    let tomorrow = shown_on(&g, "2026-11-02");
    assert!(
        first.keys().filter(|c| tomorrow.contains_key(*c)).count() > first.len() / 2,
        "{} of {} shown a new item the next day",
        first.keys().filter(|c| tomorrow.contains_key(*c)).count(),
        first.len()
    );
}

#[test]
fn a_campaigns_file_listing_a_campaign_twice_or_nothing_publishes_nothing() {
    let t = ingested(600, 4, 41);
    let data = &t.data;
    let g1 = run(data, &t.w.campaigns, &opts(3));
    let lines: Vec<String> = std::fs::read_to_string(&t.w.campaigns)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    // Line 2 again as line 5 (the same org and campaign id).
    let dup = t.w.src.join("dup.jsonl");
    let mut text = lines[..4].join("\n");
    text.push('\n');
    text.push_str(&lines[1]);
    text.push('\n');
    std::fs::write(&dup, text).unwrap();
    let raw = cloutdesk::rerank::read_campaigns(data, Some(&dup)).unwrap();
    let e = rerank(data, &raw, &opts(3), &NoProgress)
        .unwrap_err()
        .to_string();
    let at = |line: usize| format!("{}:{line}", dup.display());
    assert!(
        e.contains(&format!("appears 2 times: {}, {}", at(2), at(5))),
        "{e}"
    );
    // An empty campaigns file would close every campaign: refused.
    let empty = t.w.src.join("empty.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    let e = cloutdesk::rerank::read_campaigns(data, Some(&empty))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no campaigns in the file; nothing was published"),
        "{e}"
    );
    // So would a run without --campaigns on a data dir whose campaign
    // store was never written (ranked from files so far).
    let e = cloutdesk::rerank::read_campaigns(data, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("holds no campaigns; nothing was published"),
        "{e}"
    );
    assert_eq!(
        current_generation(data).unwrap().as_deref(),
        Some(g1.as_str())
    );
}

#[test]
fn the_diff_tells_a_new_campaign_from_one_that_had_nobody() {
    let t = ingested(1500, 6, 43);
    let data = &t.data;
    let mut raw = cloutdesk::rerank::read_campaigns(data, Some(&t.w.campaigns)).unwrap();
    // Night 1: campaign 0 with no budget (ranked, nobody chosen), and
    // campaign 5 not listed yet.
    let budget0 = raw[0].1["budget_usd"].clone();
    raw[0].1["budget_usd"] = 0.into();
    let later = raw.pop().unwrap();
    let g1 = rerank(data, &raw, &opts(3), &NoProgress)
        .unwrap()
        .generation;
    let id = |k: &(String, serde_json::Value)| k.1["campaign_id"].as_str().unwrap().to_string();
    let (broke, fresh) = (id(&raw[0]), id(&later));
    assert!(read_selections(data, &g1)
        .unwrap()
        .iter()
        .all(|r| r.campaign_id != broke));
    // Night 2: its budget back, and campaign 5 listed.
    raw[0].1["budget_usd"] = budget0;
    raw.push(later);
    let g2 = rerank(data, &raw, &opts(3), &NoProgress)
        .unwrap()
        .generation;
    let diff = read_diff(data, &g2).unwrap();
    let why_of = |c: &str| -> Vec<&str> {
        diff.iter()
            .filter(|d| d.campaign_id == c && d.change == "entered")
            .map(|d| d.why.as_str())
            .collect()
    };
    let (a, b) = (why_of(&broke), why_of(&fresh));
    assert!(!a.is_empty() && !b.is_empty(), "{diff:?}");
    assert!(a.iter().all(|w| w.starts_with("chosen at rank")), "{a:?}");
    assert!(b.iter().all(|w| w.starts_with("new campaign")), "{b:?}");
}

/// Re-loads `row`'s creator with `field` set to `value` (an upsert of the
/// required fields and that one), and checks `cloutdesk feed` showed the
/// item before and no longer does, before any new run.
fn upsert_hides_the_item(
    t: &Ingested,
    row: &cloutdesk::rerank::FeedRow,
    field: &str,
    value: serde_json::Value,
) {
    let (data, s) = (&t.data, &t.s);
    let (_, before) = creator_feed(data, &row.creator_id).unwrap();
    assert!(before.iter().any(|r| r.campaign_id == row.campaign_id));
    let o = s.ordinal(&row.creator_id).unwrap() as usize;
    let upsert = t.w.src.join(format!("upsert-{field}.jsonl"));
    let mut line = serde_json::json!({
        "creator_id": row.creator_id,
        "handle": s.creators.handle[o],
        "platform": s.creators.platform[o].as_str(),
        "followers": s.creators.followers[o],
    });
    line[field] = value;
    std::fs::write(&upsert, format!("{line}\n")).unwrap();
    let mut io = IngestOptions::new(data.to_path_buf());
    io.creators = Some(upsert);
    io.as_of_day = Some(REFERENCE_DAY);
    ingest(&io, &NoProgress).unwrap();
    let (_, after) = creator_feed(data, &row.creator_id).unwrap();
    assert!(
        after.iter().all(|r| r.campaign_id != row.campaign_id),
        "{field}: {after:?}"
    );
}

#[test]
fn a_negative_lead_time_on_the_command_line_gets_the_options_refusal() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cloutdesk"))
        .args(["rerank", "--min-lead-days", "-1", "--data"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("re-rank option min_lead_days: must be 0 or more, got -1"),
        "{err}"
    );
}
