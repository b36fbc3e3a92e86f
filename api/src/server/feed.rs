//! Issue 5's routes: the creator's feed, declines, and the background
//! re-rank.
//!
//! - `GET /v1/creators/{id}/feed` (the creator's own key, or admin): the
//!   published generation's feed for the creator, each item with its
//!   reasons and the brief's missing fields; items declined since the
//!   generation was built are left out.
//! - `POST /v1/creators/{id}/feed/{campaign_id}/decline` (the creator, or
//!   admin): durable (fsynced) before it answers; the item never returns.
//! - `POST /v1/rerank` (admin): starts a re-rank of the stored open
//!   campaigns on a background thread (one at a time: 409 otherwise);
//!   `GET /v1/rerank/{run_id}` reports its stage and outcome.
//!
//! Invariants: no handler ranks inline (the run has its own thread, feeds
//! are loaded on the blocking pool and cached per generation); run
//! metrics: `cloutdesk_rerank_runs_total`, `cloutdesk_rerank_failures_total`,
//! `cloutdesk_rerank_seconds`, `cloutdesk_rerank_campaigns`,
//! `cloutdesk_rerank_pairs`, `cloutdesk_feed_declines_total`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cloutdesk_engine::schema::is_valid_id;
use cloutdesk_engine::snapshot::Snapshot;
use cloutdesk_ingest::Progress;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Principal;
use super::errors::{ApiError, ErrorBody};
use super::extract::{spawn_io, Q};
use super::models::DeclineQuery;
use super::AppState;
use crate::declines::DeclineLog;
use crate::rerank::{self, FeedResponse, FeedRow, RerankOptions};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_feed))
        .routes(routes!(decline))
        .routes(routes!(start_rerank))
        .routes(routes!(get_rerank))
}

/// A generation's feeds by creator, and its manifest (the options it ran
/// with, and the day its items are judged at).
type Feeds = Arc<(rerank::FeedIndex, rerank::GenerationManifest)>;

/// Per-process state of these routes, keyed by data dir (a process may
/// serve several in tests).
#[derive(Default)]
struct Local {
    /// (data dir, generation) -> creator -> feed rows.
    feeds: HashMap<PathBuf, (String, Feeds)>,
    declines: HashMap<PathBuf, Arc<DeclineLog>>,
    runs: BTreeMap<String, RerankRun>,
    /// Run ids, oldest first (for [`Local::remember`]'s trimming).
    run_order: VecDeque<String>,
    running: HashMap<PathBuf, String>,
}

/// Runs whose status `GET /v1/rerank/{run_id}` keeps answering: the
/// oldest finished ones are forgotten past this many (a server that runs
/// for months must not grow without bound); a running one never is.
const KEPT_RUNS: usize = 1_000;

impl Local {
    /// Records a new run, forgetting the oldest finished runs past
    /// [`KEPT_RUNS`].
    fn remember(&mut self, run: RerankRun) {
        self.run_order.push_back(run.run_id.clone());
        self.runs.insert(run.run_id.clone(), run);
        let mut k = 0;
        while self.runs.len() > KEPT_RUNS && k < self.run_order.len() {
            let id = &self.run_order[k];
            if self.runs.get(id).is_some_and(|r| r.state == "running") {
                k += 1;
                continue;
            }
            self.runs.remove(id);
            self.run_order.remove(k);
        }
    }
}

fn local() -> &'static Mutex<Local> {
    static L: OnceLock<Mutex<Local>> = OnceLock::new();
    L.get_or_init(|| Mutex::new(Local::default()))
}

fn lock() -> std::sync::MutexGuard<'static, Local> {
    local().lock().unwrap_or_else(|p| p.into_inner())
}

fn decline_log(data: &Path) -> Result<Arc<DeclineLog>, ApiError> {
    if let Some(l) = lock().declines.get(data) {
        return Ok(l.clone());
    }
    let log = Arc::new(
        DeclineLog::open(data).map_err(|e| ApiError::internal(format!("decline log: {e:#}")))?,
    );
    Ok(lock()
        .declines
        .entry(data.to_path_buf())
        .or_insert(log)
        .clone())
}

fn require_creator_or_admin(p: &Principal, id: &str) -> Result<(), ApiError> {
    match p.creator() {
        Some(c) if c == id => Ok(()),
        Some(_) => Err(ApiError::forbidden(
            "a creator key may use its own feed only",
        )),
        None if p.is_admin() => Ok(()),
        None => Err(ApiError::forbidden(
            "a creator's feed is for the creator (or an admin) only",
        )),
    }
}

/// 404 for a creator the served snapshot does not hold (the feed and
/// decline routes; without a snapshot, nothing to check against).
fn require_known_creator(snap: Option<&Snapshot>, id: &str) -> Result<(), ApiError> {
    match snap {
        Some(s) if s.ordinal(id).is_none() => Err(ApiError::not_found(format!(
            "no creator {id:?} in the served snapshot"
        ))),
        _ => Ok(()),
    }
}

fn check_id(param: &str, v: &str) -> Result<(), ApiError> {
    if is_valid_id(v) {
        Ok(())
    } else {
        Err(ApiError::bad_param(
            param,
            format!("{v:?} is not an id (1-64 characters of A-Z a-z 0-9 . _ -)"),
        ))
    }
}

/// The published generation's feeds, loaded once per generation.
fn feeds_of(data: &Path) -> Result<Option<(String, Feeds)>, ApiError> {
    let gen = rerank::current_generation(data).map_err(|e| ApiError::internal(format!("{e:#}")))?;
    let Some(gen) = gen else { return Ok(None) };
    if let Some((g, m)) = lock().feeds.get(data) {
        if *g == gen {
            return Ok(Some((gen, m.clone())));
        }
    }
    let index =
        rerank::FeedIndex::read(data, &gen).map_err(|e| ApiError::internal(format!("{e:#}")))?;
    let manifest =
        rerank::read_manifest(data, &gen).map_err(|e| ApiError::internal(format!("{e:#}")))?;
    let m = Arc::new((index, manifest));
    lock()
        .feeds
        .insert(data.to_path_buf(), (gen.clone(), m.clone()));
    Ok(Some((gen, m)))
}

/// A creator's opportunity feed.
#[utoipa::path(
    get, path = "/v1/creators/{id}/feed", tag = "creators",
    params(("id" = String, Path, description = "creator_id")),
    responses(
        (status = 200, description = "The creator's feed from the published re-rank generation", body = FeedResponse),
        (status = 400, description = "Bad id", body = ErrorBody),
        (status = 401, description = "No key or a bad key", body = ErrorBody),
        (status = 403, description = "Another creator's key, or a marketer key", body = ErrorBody),
        (status = 404, description = "No re-rank generation published yet, or no such creator", body = ErrorBody),
        (status = 503, description = "Timeout", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn get_feed(
    State(state): State<AppState>,
    p: Principal,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    check_id("id", &id)?;
    require_creator_or_admin(&p, &id)?;
    let data = state.data_dir().to_path_buf();
    let (gen, feeds) = spawn_io(move || feeds_of(&data)).await??.ok_or_else(|| {
        ApiError::not_found("no re-rank generation yet: run `cloutdesk rerank` or POST /v1/rerank")
    })?;
    let log = decline_log(state.data_dir())?;
    let (by_creator, manifest) = &*feeds;
    // Judged on the run's day plus the days since (the clock is read now).
    let clock = rerank::FeedClock::of(manifest);
    let snap = state.snapshot();
    require_known_creator(snap.as_deref(), &id)?;
    // What changed since the run (a raised floor, capacity 0, a deleted
    // or closed campaign) hides an item at once.
    let now = rerank::CreatorNow::in_snapshot(snap.as_deref(), &id);
    let store = manifest
        .options
        .campaigns_from_store
        .then(|| state.campaigns());
    let items: Vec<FeedRow> = by_creator
        .rows_of(&id)
        .into_iter()
        .filter(|r| !log.contains(&r.creator_id, &r.org_id, &r.campaign_id))
        .filter(|r| rerank::stale_reason(r, now, store, clock).is_none())
        .collect();
    Ok(Json(FeedResponse {
        creator_id: id,
        generation: gen,
        items,
    })
    .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeclineResponse {
    pub creator_id: String,
    /// The org whose campaign was declined; absent: every org's campaign
    /// of this id (see the `org` parameter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    pub campaign_id: String,
    /// False when the creator had already declined it.
    pub newly_declined: bool,
}

/// Decline a feed item: it never comes back.
#[utoipa::path(
    post, path = "/v1/creators/{id}/feed/{campaign_id}/decline", tag = "creators",
    params(
        ("id" = String, Path, description = "creator_id"),
        ("campaign_id" = String, Path, description = "the campaign to decline"),
        DeclineQuery,
    ),
    responses(
        (status = 200, description = "Declined (durable)", body = DeclineResponse),
        (status = 400, description = "Bad id, or no org given while several orgs offer this campaign id to the creator", body = ErrorBody),
        (status = 401, description = "No key or a bad key", body = ErrorBody),
        (status = 403, description = "Another creator's key, or a marketer key", body = ErrorBody),
        (status = 404, description = "No such creator in the served snapshot", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "Timeout", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn decline(
    State(state): State<AppState>,
    p: Principal,
    UrlPath((id, campaign_id)): UrlPath<(String, String)>,
    Q(q): Q<DeclineQuery>,
) -> Result<Response, ApiError> {
    check_id("id", &id)?;
    check_id("campaign_id", &campaign_id)?;
    if let Some(o) = &q.org {
        check_id("org", o)?;
    }
    require_creator_or_admin(&p, &id)?;
    // A misspelt id must not be acknowledged: the log is read by every
    // later re-rank.
    require_known_creator(state.snapshot().as_deref(), &id)?;
    let org = match q.org {
        Some(o) => Some(o),
        None => {
            let data = state.data_dir().to_path_buf();
            let feeds = spawn_io(move || feeds_of(&data)).await??;
            let feed = feeds.map(|f| f.1 .0.rows_of(&id)).unwrap_or_default();
            offering_org(&feed, &campaign_id)?
        }
    };
    let log = decline_log(state.data_dir())?;
    let (cr, org2, ca) = (id.clone(), org.clone(), campaign_id.clone());
    let newly = spawn_io(move || log.decline(&cr, org2.as_deref(), &ca))
        .await?
        .map_err(|e| ApiError::internal(format!("decline log: {e:#}")))?;
    if newly {
        state
            .metrics()
            .counter(
                "cloutdesk_feed_declines_total",
                "Feed items declined by creators",
            )
            .inc();
    }
    Ok(Json(DeclineResponse {
        creator_id: id,
        org_id: org,
        campaign_id,
        newly_declined: newly,
    })
    .into_response())
}

/// The org whose campaign `campaign_id` the creator's published feed
/// offers: `None` when it offers none (the decline then covers every
/// org's campaign of that id), an error naming them when several orgs do.
fn offering_org(feed: &[FeedRow], campaign_id: &str) -> Result<Option<String>, ApiError> {
    let mut orgs: Vec<&str> = feed
        .iter()
        .filter(|r| r.campaign_id == campaign_id && !r.org_id.is_empty())
        .map(|r| r.org_id.as_str())
        .collect();
    orgs.sort_unstable();
    orgs.dedup();
    match orgs.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.to_string())),
        many => Err(ApiError::bad_param(
            "org",
            format!(
                "campaign {campaign_id:?} is offered to this creator by {} orgs ({}): say which with ?org=",
                many.len(),
                many.join(", ")
            ),
        )),
    }
}

/// Options of an API re-rank (all optional; the CLI's defaults).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RerankRequest {
    pub max_new_offers: Option<u32>,
    pub feed_per_day: Option<usize>,
    pub feed_max_items: Option<usize>,
    pub min_lead_days: Option<i32>,
    /// YYYY-MM-DD; default today (UTC).
    pub today: Option<String>,
}

/// A re-rank run's state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RerankRun {
    pub run_id: String,
    /// `running`, `done` or `failed`.
    pub state: String,
    /// The stage running now (while `running`).
    pub stage: Option<String>,
    pub started_at_unix: i64,
    pub finished_at_unix: Option<i64>,
    /// The published generation (when `done`).
    pub generation: Option<String>,
    pub error: Option<String>,
    pub summary: Option<RerankSummary>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RerankSummary {
    pub campaigns: u64,
    pub creators: u64,
    pub pairs: u64,
    pub rounds: u32,
    pub total_value: f64,
    /// Each campaign alone, counted feasibly (see docs/RERANK.md).
    pub alone_feasible_value: f64,
    pub seconds: f64,
    pub campaigns_per_sec: f64,
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Reports the run's stage into its status.
struct StageProgress(String);

impl Progress for StageProgress {
    fn start(&self, stage: &str, _total: Option<u64>) {
        if let Some(r) = lock().runs.get_mut(&self.0) {
            r.stage = Some(stage.to_string());
        }
    }
    fn inc(&self, _n: u64) {}
    fn finish(&self) {}
}

/// Start a re-rank of the stored open campaigns (admin).
#[utoipa::path(
    post, path = "/v1/rerank", tag = "admin",
    request_body(content = RerankRequest, description = "Optional run options"),
    responses(
        (status = 202, description = "Started; poll GET /v1/rerank/{run_id}", body = RerankRun),
        (status = 400, description = "Bad options", body = ErrorBody),
        (status = 401, description = "No key or a bad key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 409, description = "A re-rank is already running (`rerank_running`), or the campaign store holds no campaigns (`no_campaigns`)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "No snapshot loaded yet", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn start_rerank(
    State(state): State<AppState>,
    p: Principal,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    p.require_admin()?;
    let req: RerankRequest = if body.iter().all(|b| b.is_ascii_whitespace()) {
        RerankRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("rerank options: {e}")))?
    };
    let d = RerankOptions::default();
    let opts = RerankOptions {
        max_new_offers: req.max_new_offers.unwrap_or(d.max_new_offers),
        feed_per_day: req.feed_per_day.unwrap_or(d.feed_per_day),
        feed_max_items: req.feed_max_items.unwrap_or(d.feed_max_items),
        min_lead_days: req.min_lead_days.unwrap_or(d.min_lead_days),
        today: req.today,
        campaigns_from_store: true,
        ..d
    };
    if let Some((name, problem)) = opts.problem() {
        return Err(ApiError::bad_param(name, problem));
    }
    if let Some(t) = &opts.today {
        if cloutdesk_engine::schema::parse_date(t).is_none() {
            return Err(ApiError::bad_param(
                "today",
                format!("{t:?} is not a date (YYYY-MM-DD)"),
            ));
        }
    }
    let snap = state.require_snapshot()?;
    let data = state.data_dir().to_path_buf();
    static SEQ: AtomicU64 = AtomicU64::new(1);
    let run_id = format!("rr-{}-{}", now_unix(), SEQ.fetch_add(1, Ordering::Relaxed));
    let run = RerankRun {
        run_id: run_id.clone(),
        state: "running".into(),
        stage: Some("queued".into()),
        started_at_unix: now_unix(),
        finished_at_unix: None,
        generation: None,
        error: None,
        summary: None,
    };
    let raw = rerank::store_campaigns(state.campaigns(), &data)
        .map_err(|e| ApiError::conflict("no_campaigns", format!("{e:#}")))?;
    {
        let mut l = lock();
        if let Some(other) = l.running.get(&data) {
            return Err(ApiError::conflict(
                "rerank_running",
                format!("re-rank {other} is still running"),
            ));
        }
        // A run outside this server (`cloutdesk rerank`) holds the data
        // dir's lock: say so now rather than fail in the background. (Were
        // one to start between this check and the run, the run fails with
        // the same message in its status.)
        if let Err(e) = rerank::RunLock::take(&data) {
            return Err(ApiError::conflict("rerank_running", format!("{e:#}")));
        }
        l.running.insert(data.clone(), run_id.clone());
        l.remember(run.clone());
    }
    let metrics = state.clone();
    let id2 = run_id.clone();
    std::thread::Builder::new()
        .name(format!("rerank-{run_id}"))
        .spawn(move || {
            let t = Instant::now();
            let progress = StageProgress(id2.clone());
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rerank::rerank_on(&snap, &data, &raw, &opts, &progress, t).map(|(r, _)| r)
            }));
            let secs = t.elapsed().as_secs_f64();
            let m = metrics.metrics();
            m.counter(
                "cloutdesk_rerank_runs_total",
                "Re-rank runs started through the API",
            )
            .inc();
            m.histogram("cloutdesk_rerank_seconds", "Re-rank run time")
                .observe(secs);
            let mut l = lock();
            l.running.remove(&data);
            let Some(r) = l.runs.get_mut(&id2) else {
                return;
            };
            r.finished_at_unix = Some(now_unix());
            r.stage = None;
            match out {
                Ok(Ok(rep)) => {
                    let mf = &rep.manifest;
                    m.gauge(
                        "cloutdesk_rerank_campaigns",
                        "Campaigns in the last re-rank",
                    )
                    .set(mf.campaigns as i64);
                    m.gauge(
                        "cloutdesk_rerank_pairs",
                        "Pairs assigned by the last re-rank",
                    )
                    .set(mf.pairs as i64);
                    r.state = "done".into();
                    r.generation = Some(rep.generation.clone());
                    r.summary = Some(RerankSummary {
                        campaigns: mf.campaigns as u64,
                        creators: mf.creators as u64,
                        pairs: mf.pairs as u64,
                        rounds: mf.rounds,
                        total_value: mf.total_value,
                        alone_feasible_value: mf.alone.feasible_value,
                        seconds: secs,
                        campaigns_per_sec: rep.campaigns_per_sec,
                    });
                }
                Ok(Err(e)) => {
                    m.counter(
                        "cloutdesk_rerank_failures_total",
                        "Re-rank runs that failed",
                    )
                    .inc();
                    r.state = "failed".into();
                    r.error = Some(format!("{e:#}"));
                }
                Err(_) => {
                    m.counter(
                        "cloutdesk_rerank_failures_total",
                        "Re-rank runs that failed",
                    )
                    .inc();
                    r.state = "failed".into();
                    r.error = Some("the re-rank panicked (a bug: please report it)".into());
                }
            }
        })
        .map_err(|e| ApiError::internal(format!("cannot start the re-rank thread: {e}")))?;
    Ok((StatusCode::ACCEPTED, Json(run)).into_response())
}

/// A re-rank run's status (admin).
#[utoipa::path(
    get, path = "/v1/rerank/{run_id}", tag = "admin",
    params(("run_id" = String, Path, description = "from POST /v1/rerank")),
    responses(
        (status = 200, description = "The run's state", body = RerankRun),
        (status = 401, description = "No key or a bad key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 404, description = "No such run (the server keeps the last 1,000 runs while it runs)", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn get_rerank(p: Principal, UrlPath(run_id): UrlPath<String>) -> Result<Response, ApiError> {
    p.require_admin()?;
    let r = lock()
        .runs
        .get(&run_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no re-rank run {run_id:?}")))?;
    Ok(Json(r).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(creator: &str, org: &str, campaign: &str) -> FeedRow {
        FeedRow {
            creator_id: creator.into(),
            rank: 1,
            campaign_id: campaign.into(),
            org_id: org.into(),
            brand: "b".into(),
            title: "t".into(),
            score: 0.5,
            fee_usd: 100.0,
            signals: BTreeMap::new(),
            reasons: Vec::new(),
            missing: Vec::new(),
            first_shown: "2026-11-01".into(),
            first_shown_day: 0,
            content_due: None,
            post_until: None,
            content_due_day: None,
            post_until_day: None,
            paid_usage: None,
        }
    }

    #[test]
    fn the_oldest_finished_runs_are_forgotten_past_the_limit() {
        let run = |n: usize, state: &str| RerankRun {
            run_id: format!("rr-{n}"),
            state: state.into(),
            stage: None,
            started_at_unix: n as i64,
            finished_at_unix: None,
            generation: None,
            error: None,
            summary: None,
        };
        let mut l = Local::default();
        // The first run is still running; the rest finished.
        l.remember(run(0, "running"));
        for n in 1..=KEPT_RUNS + 5 {
            l.remember(run(n, "done"));
        }
        assert_eq!(l.runs.len(), KEPT_RUNS);
        assert_eq!(l.run_order.len(), KEPT_RUNS);
        assert!(l.runs.contains_key("rr-0"), "a running run is kept");
        for n in 1..=6 {
            assert!(!l.runs.contains_key(&format!("rr-{n}")), "rr-{n}");
        }
        assert!(l.runs.contains_key("rr-7"));
        assert!(l.runs.contains_key(&format!("rr-{}", KEPT_RUNS + 5)));
    }

    #[test]
    fn the_feed_cli_prints_f32_values_as_the_api_does() {
        let mut r = row("c-1", "org-a", "spring");
        r.score = 0.857_313_75;
        r.signals.insert("fee".into(), 0.1);
        let text = rerank::feed_json("c-1", "g-1", &[r]).unwrap();
        assert!(text.contains("\"score\": 0.85731375,"), "{text}");
        assert!(text.contains("\"fee\": 0.1\n"), "{text}");
    }

    #[test]
    fn a_decline_without_org_takes_the_offering_org_or_asks() {
        let feed = vec![
            row("c-1", "org-a", "spring"),
            row("c-1", "org-a", "autumn"),
            row("c-1", "org-b", "autumn"),
        ];
        assert_eq!(
            offering_org(&feed, "spring").unwrap().as_deref(),
            Some("org-a")
        );
        // Not offered (or no feed, or no generation): every org's
        // campaign of that id.
        assert_eq!(offering_org(&feed, "winter").unwrap(), None);
        assert_eq!(offering_org(&[], "spring").unwrap(), None);
        let e = offering_org(&feed, "autumn").unwrap_err();
        let text = format!("{e:?}");
        assert!(
            text.contains("org-a, org-b") && text.contains("?org="),
            "{text}"
        );
    }
}
