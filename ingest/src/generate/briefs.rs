//! Synthetic campaign briefs (contract: campaign brief) and their canonical JSON text.
//!
//! Invariant: brief `b` is drawn from its own stream `Rng::stream(seed,
//! TAG_BRIEF, b)` and only reads the shared context, the sorted list of orgs
//! that appear in payments and the creator count; its JSON text has a fixed
//! key order, whatever `serde_json` map implementation is compiled in.

use serde_json::{json, Map, Value};

use super::rng::Rng;
use super::vocab::{
    brand_org, COUNTRIES, NICHES, NICHE_FEMALE_SHARE, NICHE_WEIGHTS, NICHE_WORDS, RELATED_NICHES,
};
use super::world::{Context, TAG_BRIEF};
use super::{format_date, REFERENCE_DAY};

const SEASONS: &[&str] = &[
    "spring",
    "summer",
    "autumn",
    "holiday",
    "winter",
    "new year",
    "back to school",
    "evergreen",
];
const CAMPAIGN_KINDS: &[&str] = &["launch", "push", "series", "collab", "drive", "challenge"];
const PLATFORMS: &[&str] = &["instagram", "tiktok", "youtube", "twitch", "x", "other"];
const PLATFORM_WEIGHTS: &[f64] = &[0.42, 0.30, 0.17, 0.04, 0.05, 0.02];

/// Generates brief number `b` (0-based).
pub fn generate_brief(ctx: &Context, b: usize, orgs: &[usize], n_creators: usize) -> Value {
    let mut rng = Rng::stream(ctx.seed, TAG_BRIEF, b as u64);
    let org = *rng.pick(orgs);
    let org_brands: Vec<usize> = (0..ctx.brands.len())
        .filter(|&br| brand_org(br) == org)
        .collect();
    let brand_idx = *rng.pick(&org_brands);
    let brand = ctx.brands[brand_idx].as_str();
    let primary = brand_idx / super::vocab::BRANDS_PER_NICHE;

    let mut niches = vec![primary];
    let n_niches = 1 + rng.categorical(&[0.45, 0.40, 0.15]);
    while niches.len() < n_niches {
        let related: Vec<usize> = RELATED_NICHES[primary]
            .iter()
            .copied()
            .filter(|n| !niches.contains(n))
            .collect();
        let n = if !related.is_empty() && rng.chance(0.7) {
            *rng.pick(&related)
        } else {
            rng.categorical(NICHE_WEIGHTS)
        };
        if !niches.contains(&n) {
            niches.push(n);
        }
    }
    let n_kw = rng.int_in(2, 5) as usize;
    let mut keywords: Vec<&str> = Vec::with_capacity(n_kw);
    while keywords.len() < n_kw {
        let n = if rng.chance(0.7) {
            primary
        } else {
            *rng.pick(&niches)
        };
        let w = *rng.pick(NICHE_WORDS[n]);
        if !keywords.contains(&w) {
            keywords.push(w);
        }
    }

    let mut m = Map::new();
    m.insert("campaign_id".into(), json!(format!("cmp-{:06}", b + 1)));
    m.insert("org_id".into(), json!(super::vocab::org_id(org)));
    m.insert("brand".into(), json!(brand));
    let season = *rng.pick(SEASONS);
    let kind = *rng.pick(CAMPAIGN_KINDS);
    m.insert(
        "title".into(),
        json!(format!("{brand} {season} {} {kind}", keywords[0])),
    );

    let platforms: Option<Vec<&str>> = rng.chance(0.7).then(|| {
        let k = 1 + rng.categorical(&[0.5, 0.35, 0.15]);
        let mut w = PLATFORM_WEIGHTS.to_vec();
        (0..k)
            .map(|_| {
                let p = rng.categorical(&w);
                w[p] = 0.0;
                PLATFORMS[p]
            })
            .collect()
    });
    let lead_platform = platforms.as_ref().map_or("instagram", |p| p[0]);
    m.insert(
        "description".into(),
        json!(format!(
            "{brand} is looking for {} creators to make {season} {} content featuring {}.",
            NICHES[primary],
            lead_platform,
            keywords.join(", ")
        )),
    );
    m.insert(
        "niches".into(),
        json!(niches.iter().map(|&n| NICHES[n]).collect::<Vec<_>>()),
    );
    m.insert("keywords".into(), json!(keywords));
    if let Some(p) = &platforms {
        m.insert("platforms".into(), json!(p));
    }

    // Target: hard country / language filters and soft audience preferences.
    let mut target = Map::new();
    let country_weights: Vec<f64> = COUNTRIES.iter().map(|c| c.weight).collect();
    let countries: Option<Vec<usize>> = rng.chance(0.6).then(|| {
        let k = 1 + rng.categorical(&[0.55, 0.3, 0.15]);
        let mut w = country_weights.clone();
        (0..k)
            .map(|_| {
                let c = rng.categorical(&w);
                w[c] = 0.0;
                c
            })
            .collect()
    });
    if let Some(cs) = &countries {
        target.insert(
            "countries".into(),
            json!(cs.iter().map(|&c| COUNTRIES[c].code).collect::<Vec<_>>()),
        );
    }
    if rng.chance(0.75) {
        let langs: Vec<&str> = match &countries {
            Some(cs) if rng.chance(0.6) => {
                let mut l: Vec<&str> = Vec::new();
                for &c in cs {
                    if !l.contains(&COUNTRIES[c].language) {
                        l.push(COUNTRIES[c].language);
                    }
                }
                l
            }
            _ if rng.chance(0.85) => vec!["en"],
            _ => vec![COUNTRIES[rng.categorical(&country_weights)].language],
        };
        target.insert("languages".into(), json!(langs));
    }
    if rng.chance(0.5) {
        let keys: Vec<usize> = match &countries {
            Some(cs) => cs.clone(),
            None => {
                let k = 1 + rng.below(2);
                rng.distinct(k, COUNTRIES.len())
            }
        };
        let mut left = 0.9;
        let mut ac = Map::new();
        for (k, &c) in keys.iter().enumerate() {
            let s = if k == 0 {
                rng.range(0.4, 0.7)
            } else {
                rng.range(0.05, 0.2)
            };
            let s = ((s.min(left) * 100.0).floor() / 100.0).max(0.01);
            left -= s;
            ac.insert(COUNTRIES[c].code.into(), json!(s));
        }
        target.insert("audience_countries".into(), Value::Object(ac));
    }
    if rng.chance(0.4) {
        let buckets = ["13-17", "18-24", "25-34", "35-44", "45+"];
        let first = 1 + rng.below(3);
        let mut ages = Map::new();
        ages.insert(
            buckets[first].into(),
            json!(((rng.range(0.3, 0.5)) * 100.0).round() / 100.0),
        );
        if rng.chance(0.6) {
            ages.insert(
                buckets[first + 1].into(),
                json!(((rng.range(0.2, 0.4)) * 100.0).round() / 100.0),
            );
        }
        target.insert("audience_ages".into(), Value::Object(ages));
    }
    if rng.chance(0.35) {
        let f = (NICHE_FEMALE_SHARE[primary] + 0.1 * rng.normal()).clamp(0.1, 0.9);
        target.insert("audience_female".into(), json!((f * 100.0).round() / 100.0));
    }
    if !target.is_empty() {
        m.insert("target".into(), Value::Object(target));
    }

    let mut filters = Map::new();
    let followers_min = rng
        .chance(0.5)
        .then(|| *rng.pick(&[1_000u64, 2_000, 5_000, 10_000, 20_000]));
    if let Some(f) = followers_min {
        filters.insert("followers_min".into(), json!(f));
    }
    if rng.chance(0.4) {
        let max = *rng.pick(&[50_000u64, 100_000, 250_000, 1_000_000]);
        filters.insert(
            "followers_max".into(),
            json!(max.max(followers_min.unwrap_or(0) * 5)),
        );
    }
    if rng.chance(0.45) {
        let er = (rng.range(0.01, 0.03) * 1000.0).round() / 1000.0;
        filters.insert("min_engagement_rate".into(), json!(er));
    }
    if rng.chance(0.45) {
        let q = (rng.range(0.6, 0.85) * 100.0).round() / 100.0;
        filters.insert("min_audience_quality".into(), json!(q));
    }
    if !filters.is_empty() {
        m.insert("creator_filters".into(), Value::Object(filters));
    }

    let deliverable_type = match lead_platform {
        "tiktok" => "short",
        "youtube" => "video",
        "twitch" => "stream",
        "x" | "other" => "post",
        _ => *rng.pick(&["reel", "post", "story"]),
    };
    let specs: &[&str] = match deliverable_type {
        "reel" | "short" => &["15-30 s, vertical", "30-60 s, vertical"],
        "post" => &["single image, 4:5", "carousel of 3-5 images"],
        "story" => &["3 frames with a link sticker", "2 frames, vertical"],
        "video" => &["60-90 s integration", "5-10 min dedicated video"],
        _ => &["20 min sponsored segment", "overlay and 2 shout-outs"],
    };
    let mut deliverables = vec![json!({
        "type": deliverable_type,
        "count": rng.int_in(1, 3),
        "specs": format!("{}, about {}", rng.pick(specs), keywords[0]),
    })];
    if lead_platform == "instagram" && deliverable_type != "story" && rng.chance(0.4) {
        deliverables.push(json!({
            "type": "story",
            "count": rng.int_in(1, 4),
            "specs": "link sticker to the product page",
        }));
    }
    m.insert("deliverables".into(), Value::Array(deliverables));
    let paid_usage = rng.chance(0.4);
    let channels: &[&str] = if paid_usage {
        &["organic", "paid_social"]
    } else {
        &["organic"]
    };
    m.insert(
        "usage_rights".into(),
        json!({
            "days": *rng.pick(&[30u32, 60, 90, 180]),
            "paid_usage": paid_usage,
            "channels": channels,
        }),
    );
    let due = REFERENCE_DAY + rng.int_in(10, 60) as i32;
    let from = due + rng.int_in(3, 10) as i32;
    let until = from + rng.int_in(7, 30) as i32;
    m.insert(
        "timeline".into(),
        json!({
            "content_due": format_date(due),
            "post_from": format_date(from),
            "post_until": format_date(until),
        }),
    );
    m.insert("revision_rounds".into(), json!(rng.int_in(1, 3)));

    let budget = ((rng.log_uniform(5_000.0, 120_000.0) / 500.0).round() * 500.0) as u64;
    let wanted = ((budget as f64 / rng.range(150.0, 400.0)).round() as u64).clamp(20, 500);
    m.insert("budget_usd".into(), json!(budget));
    if rng.chance(0.85) {
        let lo = *rng.pick(&[25u64, 50, 75, 100, 150, 200]);
        let typical = budget as f64 / wanted as f64 * rng.range(2.0, 6.0);
        let hi = (((typical / 50.0).round() * 50.0) as u64)
            .max(lo * 4)
            .min(budget);
        m.insert("fee_range_usd".into(), json!([lo, hi]));
    }
    m.insert("creators_wanted".into(), json!(wanted));
    m.insert(
        "payment_terms_days".into(),
        json!(*rng.pick(&[15u32, 30, 30, 45, 60])),
    );
    if rng.chance(0.35) {
        let rivals: Vec<usize> = (0..super::vocab::BRANDS_PER_NICHE)
            .map(|j| primary * super::vocab::BRANDS_PER_NICHE + j)
            .filter(|&r| r != brand_idx)
            .collect();
        let k = 1 + rng.below(2);
        let ex: Vec<&str> = rng
            .distinct(k, rivals.len())
            .into_iter()
            .map(|i| ctx.brands[rivals[i]].as_str())
            .collect();
        m.insert("exclude_brands".into(), json!(ex));
    }
    if n_creators > 0 && rng.chance(0.1) {
        let k = 1 + rng.below(3);
        let ex: Vec<String> = rng
            .distinct(k, n_creators)
            .into_iter()
            .map(|i| format!("c-{:07}", i + 1))
            .collect();
        m.insert("exclude_creators".into(), json!(ex));
    }

    // About 30% of briefs lack one or two of the completeness fields.
    if rng.chance(0.3) {
        let optional = [
            "deliverables",
            "usage_rights",
            "timeline",
            "revision_rounds",
            "payment_terms_days",
        ];
        let k = 1 + rng.below(2);
        for i in rng.distinct(k, optional.len()) {
            m.remove(optional[i]);
        }
    }
    Value::Object(m)
}

/// Key order of the written JSON: the contract's order, then alphabetical.
const KEY_ORDER: &[&str] = &[
    "campaign_id",
    "org_id",
    "brand",
    "title",
    "description",
    "niches",
    "keywords",
    "platforms",
    "target",
    "countries",
    "languages",
    "audience_countries",
    "audience_ages",
    "audience_female",
    "creator_filters",
    "followers_min",
    "followers_max",
    "min_engagement_rate",
    "min_audience_quality",
    "deliverables",
    "type",
    "count",
    "specs",
    "usage_rights",
    "days",
    "paid_usage",
    "channels",
    "timeline",
    "content_due",
    "post_from",
    "post_until",
    "revision_rounds",
    "budget_usd",
    "fee_range_usd",
    "creators_wanted",
    "payment_terms_days",
    "exclude_brands",
    "exclude_creators",
    "embedding",
];

/// Compact JSON text with a deterministic key order (see [`KEY_ORDER`]).
pub fn canonical_json(v: &Value, out: &mut String) {
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| {
                (
                    KEY_ORDER
                        .iter()
                        .position(|o| o == k)
                        .unwrap_or(KEY_ORDER.len()),
                    k.as_str(),
                )
            });
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(&map[k.as_str()], out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}
