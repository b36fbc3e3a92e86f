//! `cloutdesk serve`: the thin HTTP API over the engine (axum).
//!
//! A tour: [`AppState`] holds everything a request needs: the served
//! snapshot (an `ArcSwapOption<Snapshot>`), the campaign store
//! ([`crate::campaigns`]), the API keys ([`crate::keys`]), the metrics
//! registry, the config and the match limiter. [`app`] builds the one
//! router; `routes.rs` has issue 4's handlers, `auth.rs` the
//! [`Principal`](auth::Principal) extractor and scope rules, `errors.rs`
//! the one error type ([`ApiError`](errors::ApiError)), `extract.rs` the
//! JSON/query extractors and `spawn_cpu` (rayon bridge), `metrics.rs` the
//! Prometheus registry, `openapi.rs` the document's frame, `search.rs` the
//! creator search.
//!
//! Adding routes (issue 5's feed): write `server/feed.rs` with
//! `pub(crate) fn routes() -> utoipa_axum::router::OpenApiRouter<AppState>`
//! built with `.routes(utoipa_axum::routes!(handler, ...))` and
//! `#[utoipa::path(...)]` on each handler (copy any handler in routes.rs),
//! then add `mod feed;` below and `.merge(feed::routes())` in
//! [`api_router`]. Handlers take `State(state): State<AppState>` and a
//! `p: Principal` argument (authenticated; `p.creator()` is the creator of
//! a creator key), return `Result<_, ApiError>`, run CPU work through
//! `extract::spawn_cpu`, blocking I/O through `extract::spawn_io`, and can
//! record metrics through `state.metrics()`. Per-route request counts and
//! latency are recorded for every route automatically.
//!
//! Invariants: handlers load the snapshot `Arc` once per request, so an
//! ingest can swap snapshots without failing anything in flight; matching
//! and search run on rayon, never on the async workers; every error
//! response has the same JSON shape.

pub(crate) mod auth;
pub mod config;
pub(crate) mod errors;
pub(crate) mod extract;
pub(crate) mod feed;
pub mod metrics;
pub(crate) mod models;
pub(crate) mod openapi;
pub(crate) mod routes;
pub(crate) mod search;

use std::future::{Future, IntoFuture};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwapOption;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use cloutdesk_engine::matcher::Matcher;
use cloutdesk_engine::snapshot::{OpenOptions, Snapshot};
use cloutdesk_engine::storage::DataDir;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use auth::Principal;
pub use config::Config;
pub use errors::ApiError;
pub use metrics::Metrics;

use crate::campaigns::CampaignStore;
use crate::keys::KeyRing;

/// Where `POST /v1/ingest` spools uploaded files (inside the data dir).
const UPLOADS: &str = "uploads";

/// Shared state of every request. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("data_dir", &self.inner.data_dir)
            .field("snapshot", &self.snapshot().map(|s| s.id.clone()))
            .finish_non_exhaustive()
    }
}

struct Shared {
    config: Config,
    data_dir: PathBuf,
    snapshot: ArcSwapOption<Snapshot>,
    campaigns: CampaignStore,
    keys: KeyRing,
    metrics: Metrics,
    match_slots: Arc<Semaphore>,
    ingest_lock: Arc<tokio::sync::Mutex<()>>,
    matcher: Matcher,
    upload_seq: AtomicU64,
}

impl AppState {
    /// Opens a data dir for serving: loads the published snapshot (if any),
    /// opens the campaign store for writing (one server per data dir) and
    /// the API keys. Blocking (loading a snapshot takes a while).
    pub fn open(data_dir: &Path, config: Config) -> anyhow::Result<AppState> {
        config.validate()?;
        let dd = DataDir::open(data_dir)?;
        let snapshot = match dd.current()? {
            Some(id) => Some(Snapshot::open_id_with(
                &dd,
                &id,
                &OpenOptions::for_default_matcher(),
            )?),
            None => None,
        };
        let campaigns = CampaignStore::open(data_dir)?;
        let keys = KeyRing::open(data_dir)?;
        let uploads = data_dir.join(UPLOADS);
        if uploads.exists() {
            std::fs::remove_dir_all(&uploads)
                .with_context(|| format!("{}: cannot clear old uploads", uploads.display()))?;
        }
        let state = AppState {
            inner: Arc::new(Shared {
                match_slots: Arc::new(Semaphore::new(config.max_concurrent_matches)),
                config,
                data_dir: data_dir.to_path_buf(),
                snapshot: ArcSwapOption::empty(),
                campaigns,
                keys,
                metrics: Metrics::new(),
                ingest_lock: Arc::new(tokio::sync::Mutex::new(())),
                matcher: Matcher::default(),
                upload_seq: AtomicU64::new(0),
            }),
        };
        state
            .metrics()
            .campaigns
            .set(state.campaigns().len() as i64);
        if let Some(s) = snapshot {
            state.publish(s);
        }
        Ok(state)
    }

    /// The served snapshot, if one is loaded. Load it once per request.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.inner.snapshot.load_full()
    }

    /// The served snapshot, or 503 `no_snapshot`.
    pub fn require_snapshot(&self) -> Result<Arc<Snapshot>, ApiError> {
        self.snapshot().ok_or_else(ApiError::not_ready)
    }

    /// Serves `s` from now on; requests in flight keep the `Arc` they hold.
    pub fn publish(&self, s: Arc<Snapshot>) {
        let m = self.metrics();
        m.snapshot_version.set(s.manifest.version as i64);
        m.snapshot_creators.set(s.len() as i64);
        m.snapshot_swaps.inc();
        self.inner.snapshot.store(Some(s));
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn campaigns(&self) -> &CampaignStore {
        &self.inner.campaigns
    }

    pub fn keys(&self) -> &KeyRing {
        &self.inner.keys
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    pub fn matcher(&self) -> &Matcher {
        &self.inner.matcher
    }

    /// The semaphore bounding matches and searches in flight
    /// (`max_concurrent_matches` permits).
    pub fn match_slots(&self) -> &Arc<Semaphore> {
        &self.inner.match_slots
    }

    /// A slot for one match or search, or 429 with Retry-After.
    pub fn try_match_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.inner
            .match_slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                self.metrics().matches_rejected.inc();
                ApiError::overloaded(self.config().retry_after_secs)
            })
    }

    /// The ingest lock (one `POST /v1/ingest` at a time), or 409.
    pub(crate) fn try_ingest_lock(&self) -> Result<tokio::sync::OwnedMutexGuard<()>, ApiError> {
        self.inner
            .ingest_lock
            .clone()
            .try_lock_owned()
            .map_err(|_| {
                ApiError::conflict(
                    "ingest_in_progress",
                    "another ingest is running: retry when it is done",
                )
            })
    }

    pub(crate) async fn new_upload_dir(&self) -> Result<PathBuf, ApiError> {
        let n = self.inner.upload_seq.fetch_add(1, Ordering::Relaxed);
        let d = self
            .data_dir()
            .join(UPLOADS)
            .join(format!("{}-{n}", std::process::id()));
        tokio::fs::create_dir_all(&d)
            .await
            .map_err(|e| ApiError::internal(format!("{}: {e}", d.display())))?;
        Ok(d)
    }

    /// Swaps in the data dir's published snapshot if it is not the served
    /// one (a `cloutdesk ingest` run by another process). Blocking.
    pub fn reload_if_changed(&self) -> anyhow::Result<Option<String>> {
        let dd = DataDir::open(self.data_dir())?;
        let Some(id) = dd.current()? else {
            return Ok(None);
        };
        if self.snapshot().is_some_and(|s| s.id == id) {
            return Ok(None);
        }
        let s = Snapshot::open_id_with(&dd, &id, &OpenOptions::for_default_matcher())?;
        self.publish(s);
        Ok(Some(id))
    }
}

/// The routes with their OpenAPI descriptions: the one place routes are
/// assembled (issue 5 adds `.merge(feed::routes())` here).
pub(crate) fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(routes::routes())
        .merge(feed::routes())
}

/// The OpenAPI document, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

/// The HTTP application: every route, `/openapi.json`, and the layers
/// (metrics, body limits, timeouts; JSON 404/405).
pub fn app(state: AppState) -> Router {
    let (router, spec) = api_router().split_for_parts();
    let spec = Arc::new(spec.to_json().expect("the OpenAPI document serializes"));
    router
        .route(
            "/openapi.json",
            get(move || {
                let spec = spec.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        spec.as_str().to_owned(),
                    )
                }
            }),
        )
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), limits))
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

async fn no_route() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "no_route",
        "no such endpoint: see /openapi.json",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take this method: see /openapi.json",
    )
}

const INGEST_ROUTE: &str = "/v1/ingest";

/// Body size limit (413 from Content-Length before reading anything, or as
/// soon as a streamed body passes the limit) and the request timeout.
async fn limits(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let ingest = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|m| m.as_str() == INGEST_ROUTE);
    let cfg = state.config();
    let (limit, timeout_ms) = if ingest {
        (cfg.max_ingest_bytes, cfg.ingest_timeout_ms)
    } else {
        (cfg.max_body_bytes, cfg.request_timeout_ms)
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return ApiError::payload_too_large(limit).into_response();
    }
    let req = req.map(|b| Body::new(http_body_util::Limited::new(b, limit as usize)));
    match tokio::time::timeout(Duration::from_millis(timeout_ms), next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::timeout(timeout_ms).into_response(),
    }
}

/// Serves `state` on `listener` until `shutdown` resolves, then lets the
/// requests in flight finish (at most `shutdown_grace_ms`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = Duration::from_millis(state.config().shutdown_grace_ms);
    let poller =
        (state.config().snapshot_poll_ms > 0).then(|| tokio::spawn(poll_snapshots(state.clone())));
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, app(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = tx.send(true);
        })
        .into_future();
    let deadline = async move {
        let _ = rx.wait_for(|v| *v).await;
        tokio::time::sleep(grace).await;
    };
    let r = tokio::select! {
        r = server => r,
        _ = deadline => {
            eprintln!("shutdown: grace period over, dropping the requests still in flight");
            Ok(())
        }
    };
    if let Some(p) = poller {
        p.abort();
    }
    r
}

/// Swaps in snapshots published by other processes (`cloutdesk ingest`).
async fn poll_snapshots(state: AppState) {
    let every = Duration::from_millis(state.config().snapshot_poll_ms);
    loop {
        tokio::time::sleep(every).await;
        // Skip while POST /v1/ingest runs: it swaps its own snapshot.
        let Ok(guard) = state.inner.ingest_lock.clone().try_lock_owned() else {
            continue;
        };
        let st = state.clone();
        let r = tokio::task::spawn_blocking(move || {
            let _guard = guard;
            st.reload_if_changed()
        })
        .await;
        match r {
            Ok(Ok(Some(id))) => eprintln!("serving snapshot {id} (published by another process)"),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => eprintln!("snapshot poll: {e:#}"),
            Err(e) => eprintln!("snapshot poll: {e}"),
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    eprintln!("shutdown: finishing requests in flight");
}

/// `cloutdesk serve`: loads config and data, binds, serves until a signal.
/// Prints `listening on http://ADDR` once it accepts connections.
pub fn run(data: &Path, bind: Option<String>, config_file: Option<&Path>) -> anyhow::Result<()> {
    let mut cfg = Config::load(config_file, std::env::vars())?;
    if let Some(b) = bind {
        cfg.bind = b;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let bind = cfg.bind.clone();
        let data = data.to_path_buf();
        let state = tokio::task::spawn_blocking(move || AppState::open(&data, cfg))
            .await
            .context("loading the data dir")??;
        let listener = tokio::net::TcpListener::bind(&bind)
            .await
            .with_context(|| format!("cannot listen on {bind}"))?;
        let addr = listener.local_addr()?;
        match state.snapshot() {
            Some(s) => eprintln!("serving snapshot {} ({} creators)", s.id, s.len()),
            None => eprintln!(
                "no snapshot yet: POST files to /v1/ingest (admin key) or run `cloutdesk ingest`"
            ),
        }
        println!("listening on http://{addr}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        serve(listener, state, shutdown_signal()).await?;
        eprintln!("shutdown: done");
        Ok(())
    })
}

/// Flags of `cloutdesk serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The data dir (snapshots, campaigns, keys); may be empty.
    #[arg(long)]
    pub data: PathBuf,
    /// Address to listen on (overrides the config's `bind`; port 0 picks one).
    #[arg(long)]
    pub bind: Option<String>,
    /// A TOML config file (keys as in docs/API.md; `CLOUTDESK__*` variables override it).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Runs `cloutdesk serve`.
pub fn run_cli(a: &ServeArgs) -> anyhow::Result<()> {
    run(&a.data, a.bind.clone(), a.config.as_deref())
}
