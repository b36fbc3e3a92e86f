//! Creator search: hard filters over the snapshot's dense columns, then one
//! ranking: BM25 text (`q`), lookalikes (`similar_to`, exact cosine), or
//! browsing (largest audience first). Pages are offsets into that ranking,
//! which is deterministic for a snapshot; the cursor carries the snapshot id
//! so a page of a swapped-out snapshot is refused (409) instead of skipping
//! or repeating creators.

use cloutdesk_engine::ann::exact_top_k;
use cloutdesk_engine::bitset::Bitset;
use cloutdesk_engine::codes::{is_country, is_language};
use cloutdesk_engine::schema::Platform;
use cloutdesk_engine::snapshot::Snapshot;

use super::errors::ApiError;
use super::models::{CreatorHit, SearchPage, SearchQuery};

/// Offset a cursor points at; `None` is the first page.
pub fn parse_cursor(cursor: Option<&str>, snapshot: &str) -> Result<usize, ApiError> {
    let Some(c) = cursor else { return Ok(0) };
    let bad = || ApiError::bad_param("cursor", "not a cursor from this endpoint");
    let (snap, off) = c.rsplit_once(':').ok_or_else(bad)?;
    let off: usize = off.parse().map_err(|_| bad())?;
    if snap != snapshot {
        return Err(ApiError::conflict(
            "stale_cursor",
            format!("the cursor belongs to snapshot {snap}, the server now serves {snapshot}: start the search again"),
        ));
    }
    Ok(off)
}

/// A comma-separated list parameter (`None`: not given). Given but
/// empty (`niche=`, `platform=,`) is an error naming it, as an empty list
/// in a brief is: it would match no creator at all.
fn list(param: &str, v: &Option<String>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(s) = v else { return Ok(None) };
    let items: Vec<String> = s
        .split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect();
    if items.is_empty() {
        return Err(ApiError::bad_param(
            param,
            "must not be empty (omit it for no constraint)",
        ));
    }
    Ok(Some(items))
}

fn check_share(param: &str, v: Option<f64>) -> Result<Option<f64>, ApiError> {
    match v {
        Some(x) if !(0.0..=1.0).contains(&x) => Err(ApiError::bad_param(
            param,
            format!("{x} is not a share in [0, 1]"),
        )),
        _ => Ok(v),
    }
}

/// An engagement-rate bound: a rate, not a share (engagements can exceed
/// followers), so any number >= 0.
fn check_rate(param: &str, v: Option<f64>) -> Result<Option<f64>, ApiError> {
    match v {
        Some(x) if !(x >= 0.0 && x.is_finite()) => Err(ApiError::bad_param(
            param,
            format!("{x} is not a rate >= 0"),
        )),
        _ => Ok(v),
    }
}

/// Runs one search page (CPU work: call it on rayon).
pub fn search(
    s: &Snapshot,
    p: &SearchQuery,
    offset: usize,
    limit: usize,
    max_depth: usize,
) -> Result<SearchPage, ApiError> {
    let n = s.len();
    let platforms = match list("platform", &p.platform)? {
        Some(ps) => {
            let mut a = [false; 6];
            for x in &ps {
                let pl = Platform::parse(x).ok_or_else(|| {
                    ApiError::bad_param(
                        "platform",
                        format!("{x:?} is not one of instagram, tiktok, youtube, twitch, x, other"),
                    )
                })?;
                a[pl.code() as usize] = true;
            }
            Some(a)
        }
        None => None,
    };
    let countries = match list("country", &p.country)? {
        Some(cs) => {
            let mut a = vec![false; s.dicts.countries.len()];
            for c in &cs {
                if !is_country(c) {
                    return Err(ApiError::bad_param(
                        "country",
                        format!("{c:?} is not an ISO 3166-1 alpha-2 code (upper case)"),
                    ));
                }
                if let Some(&code) = s.dicts.country_index.get(c) {
                    a[code as usize] = true;
                }
            }
            Some(a)
        }
        None => None,
    };
    let languages = match list("language", &p.language)? {
        Some(ls) => {
            let mut m = [0u64; 3];
            for l in &ls {
                if !is_language(l) {
                    return Err(ApiError::bad_param(
                        "language",
                        format!("{l:?} is not an ISO 639-1 code (lower case)"),
                    ));
                }
                if let Some(&code) = s.dicts.language_index.get(l) {
                    let code = code as usize;
                    if code < 192 {
                        m[code / 64] |= 1 << (code % 64);
                    }
                }
            }
            Some(m)
        }
        None => None,
    };
    let niches: Option<Vec<u16>> = list("niche", &p.niche)?.map(|ns| {
        ns.iter()
            .filter_map(|x| s.dicts.niche_index.get(&x.to_lowercase()).copied())
            .collect()
    });
    let min_er = check_rate("min_engagement_rate", p.min_engagement_rate)?;
    let min_q = check_share("min_audience_quality", p.min_audience_quality)?;
    let (fmin, fmax) = (
        p.followers_min.unwrap_or(0),
        p.followers_max.unwrap_or(u64::MAX),
    );
    if fmin > fmax {
        return Err(ApiError::bad_param(
            "followers_min",
            format!("{fmin} is above followers_max {fmax}"),
        ));
    }
    let similar = match &p.similar_to {
        Some(id) => Some(s.ordinal(id).ok_or_else(|| {
            ApiError::bad_param(
                "similar_to",
                format!("no creator {id:?} in snapshot {}", s.id),
            )
        })?),
        None => None,
    };
    let q = p.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if q.is_some() && similar.is_some() {
        return Err(ApiError::bad_param(
            "similar_to",
            "give either q (text) or similar_to (lookalikes), not both",
        ));
    }
    let h = &s.hot;
    let allowed = Bitset::from_fn(n, |i| {
        platforms.is_none_or(|a| a[h.platform[i] as usize])
            && countries.as_ref().is_none_or(|a| {
                let c = h.country[i] as usize;
                c < a.len() && a[c]
            })
            && languages.is_none_or(|m| {
                let l = h.languages[i];
                (l[0] & m[0]) | (l[1] & m[1]) | (l[2] & m[2]) != 0
            })
            && niches
                .as_ref()
                .is_none_or(|ns| s.niches_of(i).iter().any(|c| ns.contains(c)))
            && h.followers[i] >= fmin
            && h.followers[i] <= fmax
            && min_er.is_none_or(|m| h.er_rule[i] >= m)
            && min_q.is_none_or(|m| h.quality_rule[i] >= m)
            && similar.is_none_or(|o| o as usize != i)
    });
    let depth = (offset.saturating_add(limit)).min(max_depth);
    let (mode, total, ranked): (&str, usize, Vec<(Option<f32>, u32)>) = if let Some(q) = q {
        let hits = match &s.text {
            // Bios and declared niches (docs/API.md).
            Some(t) => match t.build_search_query(q) {
                Some(query) => t.scores(query.as_ref(), &allowed),
                None => Vec::new(),
            },
            None => Vec::new(),
        };
        let total = hits.len();
        let mut hits = hits;
        hits.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        hits.truncate(depth);
        (
            "text",
            total,
            hits.into_iter().map(|(sc, o)| (Some(sc), o)).collect(),
        )
    } else if let Some(o) = similar {
        let total = allowed.count();
        let qv = s.vectors.row(o as usize).to_vec();
        let top = exact_top_k(&s.vectors, &qv, depth, Some(&allowed));
        (
            "lookalike",
            total,
            top.into_iter().map(|(sc, o)| (Some(sc), o)).collect(),
        )
    } else {
        let mut all = allowed.to_ordinals();
        let total = all.len();
        let key = |o: &u32| (std::cmp::Reverse(h.followers[*o as usize]), *o);
        if all.len() > depth && depth > 0 {
            all.select_nth_unstable_by_key(depth - 1, key);
            all.truncate(depth);
        }
        all.sort_unstable_by_key(key);
        all.truncate(depth);
        (
            "browse",
            total,
            all.into_iter().map(|o| (None, o)).collect(),
        )
    };
    let c = &s.creators;
    let creators: Vec<CreatorHit> = ranked
        .iter()
        .skip(offset)
        .take(limit)
        .map(|&(score, o)| {
            let i = o as usize;
            CreatorHit {
                creator_id: c.creator_id[i].clone(),
                handle: c.handle[i].clone(),
                platform: c.platform[i].as_str().to_string(),
                country: c.country[i].clone(),
                niches: c.niches[i].clone().unwrap_or_default(),
                followers: c.followers[i],
                engagement_rate: c.engagement_rate[i],
                audience_quality: c.audience_quality[i],
                planned_fee_usd: c.planned_fee_usd[i],
                score,
            }
        })
        .collect();
    let end = offset + creators.len();
    let next_cursor =
        (end < total.min(max_depth) && !creators.is_empty()).then(|| format!("{}:{end}", s.id));
    Ok(SearchPage {
        snapshot: s.id.clone(),
        mode: mode.to_string(),
        total: total as u64,
        creators,
        next_cursor,
    })
}
