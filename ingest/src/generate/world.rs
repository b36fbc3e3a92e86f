//! Per-creator generation: the creator row, its hidden truth, its performance history and invoices.
//!
//! Invariant: everything about creator `i` is drawn from its own stream
//! `Rng::stream(seed, TAG_CREATOR, i)` plus the read-only [`Context`], so the
//! output for `i` never depends on other creators, chunking or thread count.

use cloutdesk_engine::schema::{Deliverable, Platform};

use super::rng::{exp, Rng};
use super::vocab::{
    brand_names, brand_org, Country, BIO_FILLER, BIO_OPENERS, BRANDS_PER_NICHE, COUNTRIES,
    HANDLE_NAMES, NICHES, NICHE_FEMALE_SHARE, NICHE_HANDLE_TAGS, NICHE_WEIGHTS, NICHE_WORDS,
    ORG_COUNT, RELATED_NICHES,
};
use super::{CreatorTruth, ER_BY_BAND, REFERENCE_DAY};
use crate::records::{CreatorRecord, PaymentRecord, PerformanceRecord};

/// Stream tags (one per purpose) under the world seed.
pub const TAG_CREATOR: u64 = 1;
pub const TAG_PAST: u64 = 2;
pub const TAG_ORG: u64 = 3;
pub const TAG_BRIEF: u64 = 4;
pub const TAG_EMBED: u64 = 5;

/// Observed engagement rate ≈ real_share × true_er × niche mix × noise; the
/// true rate is scaled up by this so that *observed* per-band medians land on
/// the published figures.
const ER_CALIBRATION: f64 = 1.28;

/// Platform mix: instagram, tiktok, youtube, twitch, x, other.
const PLATFORM_WEIGHTS: [f64; 6] = [0.40, 0.28, 0.15, 0.05, 0.08, 0.04];

/// log10(followers) is a mixture of normals: (weight, mean, sd).
const FOLLOWER_MIXTURE: [(f64, f64, f64); 3] =
    [(0.70, 3.55, 0.38), (0.27, 4.55, 0.55), (0.03, 5.9, 0.55)];

/// A past campaign creators' performance rows belong to.
#[derive(Debug, Clone)]
pub struct PastCampaign {
    pub id: String,
    pub niche: usize,
    pub brand: usize,
    pub org: usize,
    /// Days since 1970-01-01.
    pub start_day: i32,
}

/// How an org pays its invoices.
#[derive(Debug, Clone, Copy)]
pub struct OrgBehaviour {
    /// Median days from invoice to payment.
    pub median_days: f64,
    /// Log-normal spread of the delay.
    pub sigma: f64,
    /// Probability an invoice is never paid.
    pub unpaid: f64,
}

/// Read-only state shared by every creator's generation.
#[derive(Debug)]
pub struct Context {
    pub seed: u64,
    pub brands: Vec<String>,
    pub past: Vec<PastCampaign>,
    pub past_by_niche: Vec<Vec<u32>>,
    pub orgs: Vec<OrgBehaviour>,
    pub org_ids: Vec<String>,
    /// One unit-ish basis vector per niche when embeddings are wanted.
    pub embedding_basis: Option<Vec<Vec<f64>>>,
}

impl Context {
    pub fn new(seed: u64, creators: usize, embedding_dim: Option<usize>) -> Context {
        let brands = brand_names();
        let n_past = (creators / 40).clamp(250, 25_000);
        let mut past = Vec::with_capacity(n_past);
        let mut past_by_niche = vec![Vec::new(); NICHES.len()];
        for p in 0..n_past {
            let mut rng = Rng::stream(seed, TAG_PAST, p as u64);
            // The first two rounds cover every niche; the rest follow popularity.
            let niche = if p < 2 * NICHES.len() {
                p % NICHES.len()
            } else {
                rng.categorical(NICHE_WEIGHTS)
            };
            let brand = niche * BRANDS_PER_NICHE + rng.below(BRANDS_PER_NICHE);
            let start_day = REFERENCE_DAY - rng.int_in(25, 365) as i32;
            past_by_niche[niche].push(p as u32);
            past.push(PastCampaign {
                id: format!("pst-{:06}", p + 1),
                niche,
                brand,
                org: brand_org(brand),
                start_day,
            });
        }
        let orgs = (0..ORG_COUNT)
            .map(|o| {
                let mut rng = Rng::stream(seed, TAG_ORG, o as u64);
                match rng.categorical(&[0.70, 0.20, 0.10]) {
                    0 => OrgBehaviour {
                        median_days: rng.range(20.0, 45.0),
                        sigma: 0.25,
                        unpaid: 0.01,
                    },
                    1 => OrgBehaviour {
                        median_days: rng.range(60.0, 120.0),
                        sigma: 0.25,
                        unpaid: 0.04,
                    },
                    _ => OrgBehaviour {
                        median_days: rng.range(45.0, 100.0),
                        sigma: 0.35,
                        unpaid: rng.range(0.25, 0.5),
                    },
                }
            })
            .collect();
        let embedding_basis = embedding_dim.map(|dim| {
            (0..NICHES.len())
                .map(|n| {
                    let mut rng = Rng::stream(seed, TAG_EMBED, n as u64);
                    (0..dim).map(|_| rng.normal()).collect()
                })
                .collect()
        });
        Context {
            seed,
            brands,
            past,
            past_by_niche,
            orgs,
            org_ids: (0..ORG_COUNT).map(super::vocab::org_id).collect(),
            embedding_basis,
        }
    }
}

/// Everything generated for one contiguous range of creators, in index order.
#[derive(Debug, Default)]
pub struct Chunk {
    pub creators: Vec<CreatorRecord>,
    pub truth: Vec<CreatorTruth>,
    pub performance: Vec<PerformanceRecord>,
    pub payments: Vec<PaymentRecord>,
    /// Orgs with at least one invoice in this chunk.
    pub orgs_seen: Vec<bool>,
}

/// The published median engagement rate of a follower count's size band.
pub fn band_er(followers: u64) -> f64 {
    let band = match followers {
        0..=999 => 0,
        1_000..=9_999 => 1,
        10_000..=99_999 => 2,
        100_000..=999_999 => 3,
        _ => 4,
    };
    ER_BY_BAND[band].1
}

fn round_to(x: f64, scale: f64) -> f64 {
    (x * scale).round() / scale
}

fn floor_to(x: f64, scale: f64) -> f64 {
    (x * scale).floor() / scale
}

/// Generates creators `range` (half-open) into one chunk.
pub fn generate_chunk(ctx: &Context, start: usize, end: usize) -> Chunk {
    let mut chunk = Chunk {
        creators: Vec::with_capacity(end - start),
        truth: Vec::with_capacity(end - start),
        performance: Vec::with_capacity((end - start) * 3),
        payments: Vec::with_capacity((end - start) * 2),
        orgs_seen: vec![false; ORG_COUNT],
    };
    for i in start..end {
        generate_creator(ctx, i, &mut chunk);
    }
    chunk
}

fn pick_other_niche(rng: &mut Rng, taken: &[usize]) -> usize {
    loop {
        let n = rng.categorical(NICHE_WEIGHTS);
        if !taken.contains(&n) {
            return n;
        }
    }
}

fn generate_creator(ctx: &Context, i: usize, out: &mut Chunk) {
    let mut rng = Rng::stream(ctx.seed, TAG_CREATOR, i as u64);
    let creator_id = format!("c-{:07}", i + 1);

    // Who the creator is.
    let platform = Platform::ALL[rng.categorical(&PLATFORM_WEIGHTS)];
    let comp = rng.categorical(&FOLLOWER_MIXTURE.map(|c| c.0));
    let (_, mu, sd) = FOLLOWER_MIXTURE[comp];
    let log10_f = mu + sd * rng.normal();
    let followers = exp(log10_f * std::f64::consts::LN_10)
        .round()
        .clamp(50.0, 300_000_000.0) as u64;
    let home_idx = rng.categorical(&COUNTRIES.iter().map(|c| c.weight).collect::<Vec<_>>());
    let home = &COUNTRIES[home_idx];

    let n_niches = 1 + rng.categorical(&[0.45, 0.40, 0.15]);
    let mut niches = vec![rng.categorical(NICHE_WEIGHTS)];
    while niches.len() < n_niches {
        let related: Vec<usize> = RELATED_NICHES[niches[0]]
            .iter()
            .copied()
            .filter(|n| !niches.contains(n))
            .collect();
        let next = if !related.is_empty() && rng.chance(0.65) {
            *rng.pick(&related)
        } else {
            pick_other_niche(&mut rng, &niches)
        };
        niches.push(next);
    }
    let primary = niches[0];

    // Hidden truth.
    let bought = rng.chance(0.08);
    let real_share = round_to(
        if bought {
            rng.range(0.3, 0.7)
        } else {
            rng.range(0.85, 0.98)
        },
        1e4,
    );
    let true_er = round_to(
        (band_er(followers) * ER_CALIBRATION * rng.lognormal(0.0, 0.45)).clamp(0.0005, 0.6),
        1e6,
    );
    let true_audience = true_audience(&mut rng, home_idx);
    let chronically_late = rng.chance(0.10);
    let per_1k = rng.range(8.0, 15.0);
    let platform_price = match platform {
        Platform::Youtube => 1.5,
        Platform::Instagram => 1.0,
        Platform::Tiktok => 0.8,
        Platform::Twitch => 0.9,
        Platform::X => 0.6,
        Platform::Other => 0.7,
    };
    let rate_card =
        (followers as f64 / 1000.0 * per_1k * platform_price * rng.lognormal(0.0, 0.35))
            .max(25.0)
            .round();

    // What the creator row says.
    let reported_audience = if rng.chance(0.10) {
        None
    } else {
        Some(report_audience(&mut rng, &true_audience))
    };
    let languages = if rng.chance(0.08) {
        None
    } else {
        Some(languages_of(&mut rng, home))
    };
    let country = (!rng.chance(0.06)).then(|| home.code.to_string());
    let declared_niches = if rng.chance(0.04) {
        None
    } else {
        let mut d: Vec<usize> = niches.clone();
        if d.len() > 1 && rng.chance(0.08) {
            d.pop();
        }
        if rng.chance(0.10) {
            let extra = pick_other_niche(&mut rng, &d);
            d.push(extra);
        }
        Some(d.iter().map(|&n| NICHES[n].to_string()).collect())
    };
    let handle = make_handle(&mut rng, primary);
    let bio = (!rng.chance(0.08)).then(|| make_bio(&mut rng, &niches, home));
    let view_rate = match platform {
        Platform::Tiktok => 0.6,
        Platform::Youtube => 0.35,
        Platform::Instagram => 0.25,
        Platform::Twitch => 0.05,
        Platform::X => 0.15,
        Platform::Other => 0.2,
    };
    let avg_views = (!rng.chance(0.20)).then(|| {
        (followers as f64 * real_share * view_rate * rng.lognormal(0.0, 0.5)).round() as u64
    });
    let audience_ages = (!rng.chance(0.12)).then(|| audience_ages(&mut rng, platform, primary));
    let audience_female = (!rng.chance(0.12)).then(|| {
        round_to(
            (NICHE_FEMALE_SHARE[primary] + 0.08 * rng.normal()).clamp(0.02, 0.98),
            1e3,
        ) as f32
    });
    let audience_quality = (!rng.chance(0.10)).then(|| {
        let q = if !bought {
            real_share + 0.03 * rng.normal()
        } else if rng.chance(0.6) {
            rng.range(0.80, 0.95)
        } else {
            real_share + 0.12 * rng.normal()
        };
        round_to(q.clamp(0.0, 1.0), 1e3)
    });
    let rate_usd = (!rng.chance(0.25)).then_some(rate_card);
    let min_fee_usd = (!rng.chance(0.40)).then(|| (rate_card * rng.range(0.6, 0.9)).round());
    let accepts_usage_rights = match rng.categorical(&[0.70, 0.20, 0.10]) {
        0 => Some(true),
        1 => Some(false),
        _ => None,
    };
    let capacity = match rng.categorical(&[0.75, 0.10, 0.15]) {
        0 => Some(1 + rng.categorical(&[0.25, 0.25, 0.20, 0.12, 0.10, 0.08]) as u32),
        1 => Some(0),
        _ => None,
    };

    // Performance history and invoices.
    let n_posts = if rng.chance(0.22) {
        0
    } else {
        let mut n = 1;
        while n < 12 && !rng.chance(0.3125) {
            n += 1;
        }
        n
    };
    let mut history_brands: Vec<usize> = Vec::new();
    for _ in 0..n_posts {
        let niche = match rng.categorical(&[0.70, 0.22, 0.08]) {
            0 => primary,
            1 if niches.len() > 1 => niches[1 + rng.below(niches.len() - 1)],
            1 => primary,
            _ => pick_other_niche(&mut rng, &niches),
        };
        let list = &ctx.past_by_niche[niche];
        let camp = &ctx.past[list[rng.below(list.len())] as usize];
        if !history_brands.contains(&camp.brand) {
            history_brands.push(camp.brand);
        }
        let day = (camp.start_day + rng.int_in(0, 20) as i32).min(REFERENCE_DAY - 1);
        let posted_at = day as i64 * 86_400 + rng.int_in(7 * 3600, 23 * 3600);
        let kind = deliverable_for(&mut rng, platform);
        let fee_mult = match kind {
            Deliverable::Story => 0.6,
            Deliverable::Video => 1.5,
            Deliverable::Stream => 1.2,
            _ => 1.0,
        };
        let fee_usd = round_to(rate_card * fee_mult * rng.lognormal(0.0, 0.2), 100.0).max(5.0);
        let niche_mult = if niche == primary {
            1.0
        } else if niches.contains(&niche) {
            0.6
        } else {
            0.2
        };
        let mut eng =
            followers as f64 * real_share * true_er * niche_mult * rng.lognormal(0.0, 0.35);
        if rng.chance(0.01) {
            eng *= rng.range(3.0, 8.0);
        }
        let engagements = eng.round() as u64;
        let reach = view_rate.max(0.1) * rng.lognormal(0.0, 0.4);
        let impressions = (!rng.chance(0.15))
            .then(|| ((followers as f64 * real_share * reach).round() as u64).max(engagements));
        let clicks_true = engagements as f64 * rng.range(0.01, 0.08);
        let clicks = (!rng.chance(0.30)).then(|| clicks_true.round() as u64);
        let conversions =
            (!rng.chance(0.50)).then(|| (clicks_true * rng.range(0.01, 0.06)).round() as u64);
        let on_time =
            (!rng.chance(0.10)).then(|| rng.chance(if chronically_late { 0.5 } else { 0.94 }));
        let revisions =
            (!rng.chance(0.20)).then(|| rng.categorical(&[0.5, 0.3, 0.15, 0.05]) as u32);
        let niche_field = (!rng.chance(0.08)).then(|| NICHES[camp.niche].to_string());
        let deliverable = (!rng.chance(0.08)).then_some(kind);

        if rng.chance(0.75) {
            let org = &ctx.orgs[camp.org];
            let invoiced_at = (day + rng.int_in(0, 10) as i32).min(REFERENCE_DAY - 1);
            let paid_at = if rng.chance(org.unpaid) {
                None
            } else {
                let delay = (org.median_days * rng.lognormal(0.0, org.sigma))
                    .round()
                    .clamp(1.0, 240.0) as i32;
                let paid = invoiced_at + delay;
                (paid <= REFERENCE_DAY).then_some(paid)
            };
            out.orgs_seen[camp.org] = true;
            out.payments.push(PaymentRecord {
                org_id: ctx.org_ids[camp.org].clone(),
                creator_id: creator_id.clone(),
                campaign_id: camp.id.clone(),
                amount_usd: fee_usd,
                invoiced_at,
                paid_at,
            });
        }
        out.performance.push(PerformanceRecord {
            creator_id: creator_id.clone(),
            campaign_id: camp.id.clone(),
            brand: ctx.brands[camp.brand].clone(),
            niche: niche_field,
            posted_at,
            deliverable,
            fee_usd,
            impressions,
            engagements,
            clicks,
            conversions,
            on_time,
            revisions,
        });
    }

    let brands_worked_with = if rng.chance(0.30) {
        None
    } else {
        let k = rng.below(5);
        let mut list: Vec<usize> = Vec::with_capacity(k);
        for _ in 0..k {
            let b = if !history_brands.is_empty() && rng.chance(0.4) {
                *rng.pick(&history_brands)
            } else {
                let n = if rng.chance(0.8) {
                    *rng.pick(&niches)
                } else {
                    rng.below(NICHES.len())
                };
                n * BRANDS_PER_NICHE + rng.below(BRANDS_PER_NICHE)
            };
            if !list.contains(&b) {
                list.push(b);
            }
        }
        (!list.is_empty()).then(|| list.iter().map(|&b| ctx.brands[b].clone()).collect())
    };
    let embedding = ctx
        .embedding_basis
        .as_ref()
        .map(|basis| embed(&mut rng, basis, &niches));

    out.creators.push(CreatorRecord {
        creator_id: creator_id.clone(),
        handle,
        platform,
        bio,
        niches: declared_niches,
        country,
        languages,
        followers,
        avg_views,
        audience_countries: reported_audience
            .map(|a| a.into_iter().map(|(c, s)| (c, s as f32)).collect()),
        audience_ages,
        audience_female,
        audience_quality,
        rate_usd,
        min_fee_usd,
        accepts_usage_rights,
        capacity,
        brands_worked_with,
        embedding,
    });
    out.truth.push(CreatorTruth {
        creator_id,
        true_er,
        real_share,
        niches: niches.iter().map(|&n| NICHES[n].to_string()).collect(),
        home: home.code.to_string(),
        audience_countries: true_audience,
    });
}

/// The creator's true audience geography: 40-85% at home, 2-5 other
/// countries (same language / region preferred), the rest an unlisted tail.
/// Shares are floored to 3 decimals so they always sum to at most 1.
fn true_audience(rng: &mut Rng, home_idx: usize) -> Vec<(String, f64)> {
    let home = &COUNTRIES[home_idx];
    let home_share = floor_to(rng.range(0.40, 0.85), 1e3);
    let weights: Vec<f64> = COUNTRIES
        .iter()
        .enumerate()
        .map(|(j, c)| {
            if j == home_idx {
                0.0
            } else {
                let mut w = c.weight;
                if c.language == home.language {
                    w *= 3.0;
                }
                if c.region == home.region {
                    w *= 2.0;
                }
                w
            }
        })
        .collect();
    let k = rng.int_in(2, 5) as usize;
    let mut others: Vec<(usize, f64)> = Vec::with_capacity(k);
    let mut w = weights;
    for _ in 0..k {
        let j = rng.categorical(&w);
        w[j] = 0.0;
        others.push((j, rng.range(0.3, 1.0) * (1.0 + COUNTRIES[j].weight * 5.0)));
    }
    let listed = (1.0 - home_share) * rng.range(0.6, 0.95);
    let total: f64 = others.iter().map(|o| o.1).sum();
    let mut out = vec![(home.code.to_string(), home_share)];
    others.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (j, raw) in others {
        let s = floor_to(listed * raw / total, 1e3);
        if s > 0.0 {
            out.push((COUNTRIES[j].code.to_string(), s));
        }
    }
    out
}

/// The self-reported audience map: the truth with a few percent of noise.
fn report_audience(rng: &mut Rng, truth: &[(String, f64)]) -> Vec<(String, f64)> {
    let noisy: Vec<f64> = truth
        .iter()
        .map(|(_, s)| s * rng.lognormal(0.0, 0.08))
        .collect();
    let sum: f64 = noisy.iter().sum();
    let scale = if sum > 0.995 { 0.995 / sum } else { 1.0 };
    truth
        .iter()
        .zip(noisy)
        .map(|((c, _), s)| (c.clone(), floor_to(s * scale, 1e3)))
        .filter(|(_, s)| *s > 0.0)
        .collect()
}

fn languages_of(rng: &mut Rng, home: &Country) -> Vec<String> {
    let mut langs = vec![home.language.to_string()];
    if let Some((second, p)) = home.second {
        if rng.chance(p) {
            langs.push(second.to_string());
        }
    }
    if !langs.iter().any(|l| l == "en") && rng.chance(0.05) {
        langs.push("en".to_string());
    }
    langs
}

fn audience_ages(rng: &mut Rng, platform: Platform, primary: usize) -> [f32; 5] {
    let base: [f64; 5] = match platform {
        Platform::Tiktok => [0.18, 0.42, 0.25, 0.10, 0.05],
        Platform::Instagram => [0.06, 0.32, 0.33, 0.17, 0.12],
        Platform::Youtube => [0.08, 0.28, 0.30, 0.18, 0.16],
        Platform::Twitch => [0.12, 0.45, 0.28, 0.10, 0.05],
        Platform::X => [0.03, 0.22, 0.33, 0.22, 0.20],
        Platform::Other => [0.05, 0.25, 0.30, 0.20, 0.20],
    };
    let older = matches!(
        NICHES[primary],
        "parenting" | "finance" | "home-decor" | "cars"
    );
    let mut w = [0.0f64; 5];
    for (k, b) in base.iter().enumerate() {
        let tilt = if older && k >= 2 { 1.5 } else { 1.0 };
        w[k] = b * tilt * rng.lognormal(0.0, 0.3);
    }
    let total: f64 = w.iter().sum();
    w.map(|x| floor_to(x / total, 1e3) as f32)
}

fn make_handle(rng: &mut Rng, primary: usize) -> String {
    let name = rng.pick(HANDLE_NAMES);
    let tag = NICHE_HANDLE_TAGS[primary];
    match rng.below(5) {
        0 => format!("{name}.{tag}"),
        1 => format!("{name}_{tag}{}", rng.int_in(1, 99)),
        2 => format!("{tag}with{name}"),
        3 => format!("the{name}{tag}"),
        _ => format!("{name}{}", rng.int_in(100, 9999)),
    }
}

/// A 20-60 word bio written from the creator's niche vocabularies.
fn make_bio(rng: &mut Rng, niches: &[usize], home: &Country) -> String {
    let target = rng.int_in(20, 60) as usize;
    let mut bio = String::with_capacity(target * 8);
    let mut count = 0;
    if home.language != "en" && rng.chance(0.3) {
        bio.push_str(home.greeting);
        bio.push('!');
        count += 1;
    }
    // Words go in lower case, except the first of a sentence.
    let push = |bio: &mut String, w: &str| {
        let sentence_start = bio.is_empty() || bio.ends_with(['.', '!']);
        if !bio.is_empty() {
            bio.push(' ');
        }
        let mut chars = w.chars();
        if let (true, Some(first)) = (sentence_start, chars.next()) {
            bio.extend(first.to_uppercase());
            bio.push_str(chars.as_str());
        } else {
            bio.push_str(w);
        }
    };
    let opener = rng.pick(BIO_OPENERS);
    push(&mut bio, opener);
    count += opener.split(' ').count();
    let mut since_stop = 0;
    while count < target {
        let w = if rng.chance(0.55) {
            let n = if niches.len() == 1 || rng.chance(0.6) {
                niches[0]
            } else {
                niches[1 + rng.below(niches.len() - 1)]
            };
            *rng.pick(NICHE_WORDS[n])
        } else {
            *rng.pick(BIO_FILLER)
        };
        push(&mut bio, w);
        let n_words = w.split(' ').count();
        count += n_words;
        since_stop += n_words;
        if since_stop >= 7 && rng.chance(0.3) {
            bio.push('.');
            since_stop = 0;
        }
    }
    if !bio.ends_with('.') {
        bio.push('.');
    }
    if rng.chance(0.25) {
        bio.push_str(" Based in ");
        bio.push_str(home.code);
        bio.push('.');
    }
    bio
}

fn deliverable_for(rng: &mut Rng, platform: Platform) -> Deliverable {
    use Deliverable::*;
    match platform {
        Platform::Instagram => *rng.pick(&[Post, Reel, Reel, Story]),
        Platform::Tiktok => *rng.pick(&[Short, Short, Video]),
        Platform::Youtube => *rng.pick(&[Video, Video, Short]),
        Platform::Twitch => *rng.pick(&[Stream, Stream, Video]),
        Platform::X => *rng.pick(&[Post, Post, Video]),
        Platform::Other => *rng.pick(&[Post, Video]),
    }
}

/// A unit vector near the weighted sum of the creator's niche basis vectors.
fn embed(rng: &mut Rng, basis: &[Vec<f64>], niches: &[usize]) -> Vec<f32> {
    let dim = basis.first().map_or(0, Vec::len);
    let mut v = vec![0.0f64; dim];
    for (k, &n) in niches.iter().enumerate() {
        let w = [1.0, 0.6, 0.4][k.min(2)];
        for (x, b) in v.iter_mut().zip(&basis[n]) {
            *x += w * b;
        }
    }
    for x in &mut v {
        *x += 0.6 * rng.normal();
    }
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let norm = if norm > 0.0 { norm } else { 1.0 };
    v.iter().map(|x| (x / norm) as f32).collect()
}
