//! The handlers of issue 4's endpoints and their OpenAPI descriptions.
//!
//! Each handler states its access rule in one call on the [`Principal`]
//! (see `auth.rs`), loads the served snapshot once (`state.require_snapshot()`:
//! the `Arc` it gets stays valid for the whole request even if an ingest
//! swaps in a new snapshot meanwhile), and hands CPU work to rayon.

use std::path::{Path, PathBuf};
use std::time::Instant;

use axum::extract::{Multipart, Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cloutdesk_engine::brief::{CampaignBrief, FieldProblem};
use cloutdesk_engine::schema::{is_valid_id, parse_date};
use cloutdesk_engine::snapshot::Snapshot;
use cloutdesk_engine::storage::{DataDir, StorageError};
use cloutdesk_ingest::{ingest, IngestError, IngestOptions, LoadReport, NoProgress};
use serde_json::Value;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Principal;
use super::errors::{ApiError, ErrorBody};
use super::extract::{spawn_cpu, spawn_io, JsonBody, Q};
use super::models::*;
use super::AppState;
use crate::briefs;

/// The routes of this module, with their OpenAPI paths.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_campaign, list_campaigns))
        .routes(routes!(get_campaign, delete_campaign))
        .routes(routes!(match_campaign))
        .routes(routes!(match_inline))
        .routes(routes!(search_creators))
        .routes(routes!(get_creator))
        .routes(routes!(post_ingest))
        .routes(routes!(get_snapshot))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The page size a request asks for, within the config's cap.
pub(crate) fn page_limit(state: &AppState, limit: Option<usize>) -> Result<usize, ApiError> {
    let max = state.config().page_size_max;
    match limit {
        None => Ok(state.config().page_size_default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_param(
            "limit",
            format!("{n} is not between 1 and the page size cap {max}"),
        )),
    }
}

fn invalid_brief(snapshot: &str, problems: Vec<FieldProblem>) -> ApiError {
    ApiError::unprocessable(
        "invalid_brief",
        format!(
            "the brief is invalid ({} problem(s)) against snapshot {snapshot}",
            problems.len()
        ),
        problems,
    )
}

fn require_object(v: &Value) -> Result<(), ApiError> {
    if v.is_object() {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "invalid_brief",
            "the body must be a JSON object (a campaign brief)",
            vec![ApiError::field("", "expected a JSON object")],
        ))
    }
}

/// Validates and matches a brief on rayon, within the concurrency bound.
async fn run_match(
    state: &AppState,
    snap: Arc<Snapshot>,
    brief: Value,
) -> Result<Response, ApiError> {
    let permit = state.try_match_slot()?;
    let matcher = state.matcher().clone();
    let out = spawn_cpu(move || {
        let _permit = permit;
        let ctx = briefs::context(&snap);
        let b = CampaignBrief::from_json(&brief, &ctx).map_err(|e| invalid_brief(&snap.id, e.0))?;
        let r = matcher.select(&snap, &b);
        let body = serde_json::to_vec(&crate::dto::MatchResultJson::of(&r))
            .map_err(|e| ApiError::internal(format!("serializing the match result: {e}")))?;
        Ok::<_, ApiError>((body, r.stats.took_ms, r.stats.eligible))
    })
    .await??;
    let m = state.metrics();
    m.match_seconds.observe(out.1 / 1000.0);
    m.match_eligible.add(out.2 as u64);
    Ok(json_response(StatusCode::OK, out.0))
}

/// Create or replace a campaign of the caller's org.
#[utoipa::path(
    post, path = "/v1/campaigns", tag = "campaigns",
    request_body(content = BriefDoc, description = "A campaign brief (the data contract's shape)"),
    responses(
        (status = 200, description = "Replaced the campaign with this (org, campaign_id)", body = CampaignSaved),
        (status = 201, description = "Created", body = CampaignSaved),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "No key or a bad key", body = ErrorBody),
        (status = 403, description = "Creator key, or org_id is not the key's org", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Invalid brief; `fields` names each problem", body = ErrorBody),
        (status = 503, description = "No snapshot loaded yet, or timeout", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn put_campaign(
    State(state): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    p.require_marketer_or_admin()?;
    require_object(&body)?;
    // Another org's campaign is refused before its brief is examined: the
    // caller learns nothing about a brief it may not store.
    if let Some(org) = body.get("org_id").and_then(Value::as_str) {
        p.require_org(org)?;
    }
    let snap = state.require_snapshot()?;
    let brief = CampaignBrief::from_json(&body, &briefs::context(&snap))
        .map_err(|e| invalid_brief(&snap.id, e.0))?;
    p.require_org(&brief.org_id)?;
    let missing: Vec<String> = brief.missing().iter().map(|s| s.to_string()).collect();
    let st = state.clone();
    let (org, id) = (brief.org_id.clone(), brief.campaign_id.clone());
    let out = spawn_io(move || st.campaigns().put(&org, &id, body)).await??;
    state
        .metrics()
        .campaigns
        .set(state.campaigns().len() as i64);
    let status = if out.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let saved = CampaignSaved {
        created: out.created,
        brief_missing: missing,
        campaign: out.campaign.into(),
    };
    Ok((status, Json(saved)).into_response())
}

/// List the org's campaigns (campaign-id order, cursor paging).
#[utoipa::path(
    get, path = "/v1/campaigns", tag = "campaigns",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of campaigns", body = CampaignList),
        (status = 400, description = "Bad parameter (limit above the cap, admin without org)", body = ErrorBody),
        (status = 401, description = "No key or a bad key", body = ErrorBody),
        (status = 403, description = "Creator key, or another org", body = ErrorBody),
        (status = 503, description = "Timeout", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn list_campaigns(
    State(state): State<AppState>,
    p: Principal,
    Q(q): Q<ListQuery>,
) -> Result<Json<CampaignList>, ApiError> {
    let org = p.org_scope(q.org.as_deref())?;
    let limit = page_limit(&state, q.limit)?;
    if let Some(c) = &q.cursor {
        if !is_valid_id(c) {
            return Err(ApiError::bad_param(
                "cursor",
                "not a cursor from this endpoint",
            ));
        }
    }
    let (page, more) = state
        .campaigns()
        .list_page(&org, q.cursor.as_deref(), limit);
    let next_cursor = if more {
        page.last().map(|c| c.campaign_id.clone())
    } else {
        None
    };
    Ok(Json(CampaignList {
        campaigns: page.iter().map(CampaignSummary::from).collect(),
        next_cursor,
    }))
}

/// Read one campaign of the org (another org's campaign: 404).
#[utoipa::path(
    get, path = "/v1/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path, description = "campaign id"), OrgQuery),
    responses(
        (status = 200, description = "The stored campaign", body = CampaignDoc),
        (status = 400, description = "Bad parameter", body = ErrorBody),
        (status = 401, description = "No key or a bad key", body = ErrorBody),
        (status = 403, description = "Creator key", body = ErrorBody),
        (status = 404, description = "No such campaign in the org", body = ErrorBody),
        (status = 503, description = "Timeout", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn get_campaign(
    State(state): State<AppState>,
    p: Principal,
    UrlPath(id): UrlPath<String>,
    Q(q): Q<OrgQuery>,
) -> Result<Json<CampaignDoc>, ApiError> {
    let org = p.org_scope(q.org.as_deref())?;
    state
        .campaigns()
        .get(&org, &id)
        .map(|c| Json(c.into()))
        .ok_or_else(|| campaign_not_found(&id))
}

fn campaign_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no campaign {id:?} in your org"))
}

/// Delete one campaign of the org.
#[utoipa::path(
    delete, path = "/v1/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path, description = "campaign id"), OrgQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad parameter", body = ErrorBody),
        (status = 401, description = "No key or a bad key", body = ErrorBody),
        (status = 403, description = "Creator key", body = ErrorBody),
        (status = 404, description = "No such campaign in the org", body = ErrorBody),
        (status = 503, description = "Timeout", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn delete_campaign(
    State(state): State<AppState>,
    p: Principal,
    UrlPath(id): UrlPath<String>,
    Q(q): Q<OrgQuery>,
) -> Result<StatusCode, ApiError> {
    let org = p.org_scope(q.org.as_deref())?;
    let st = state.clone();
    if spawn_io(move || st.campaigns().delete(&org, &id)).await?? {
        state
            .metrics()
            .campaigns
            .set(state.campaigns().len() as i64);
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such campaign in your org"))
    }
}

/// Match a stored campaign against the served snapshot.
#[utoipa::path(
    post, path = "/v1/campaigns/{id}/match", tag = "matching",
    params(("id" = String, Path, description = "campaign id"), OrgQuery),
    request_body(content = Option<MatchOverrides>, description = "Optional overrides for this match only"),
    responses(
        (status = 200, description = "The match result (data contract)", body = MatchResultDoc),
        (status = 400, description = "Bad parameter or body not JSON", body = ErrorBody),
        (status = 401, description = "No key or a bad key", body = ErrorBody),
        (status = 403, description = "Creator key", body = ErrorBody),
        (status = 404, description = "No such campaign in the org", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Bad overrides, or the brief is invalid against the served snapshot", body = ErrorBody),
        (status = 429, description = "Too many matches in flight (see Retry-After)", body = ErrorBody),
        (status = 503, description = "No snapshot loaded yet, or timeout", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn match_campaign(
    State(state): State<AppState>,
    p: Principal,
    UrlPath(id): UrlPath<String>,
    Q(q): Q<OrgQuery>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let org = p.org_scope(q.org.as_deref())?;
    let c = state
        .campaigns()
        .get(&org, &id)
        .ok_or_else(|| campaign_not_found(&id))?;
    let overrides = match_overrides(&body)?;
    let mut brief = c.brief;
    if let Some(obj) = brief.as_object_mut() {
        if let Some(n) = overrides.creators_wanted {
            obj.insert("creators_wanted".into(), n.into());
        }
        if let Some(b) = overrides.budget_usd {
            obj.insert("budget_usd".into(), b.into());
        }
    }
    let snap = state.require_snapshot()?;
    run_match(&state, snap, brief).await
}

/// The overrides of a stored campaign's match: `null` (none) or an object
/// of `creators_wanted` (a whole number) and `budget_usd` (a number), each
/// optional; every other key, and every value of the wrong type, is a
/// problem named by its key (all reported at once). The brief with them
/// applied is validated as any brief.
fn match_overrides(body: &Value) -> Result<MatchOverrides, ApiError> {
    let mut o = MatchOverrides::default();
    if body.is_null() {
        return Ok(o);
    }
    let Some(obj) = body.as_object() else {
        return Err(ApiError::unprocessable(
            "invalid_overrides",
            "overrides: expected an object",
            vec![ApiError::field(
                "",
                "expected {\"creators_wanted\"?: integer, \"budget_usd\"?: number}",
            )],
        ));
    };
    let mut problems = Vec::new();
    for (k, v) in obj {
        match k.as_str() {
            "creators_wanted" => match v.as_u64() {
                Some(n) => o.creators_wanted = Some(n),
                None if v.is_null() => {}
                None => problems.push(ApiError::field(
                    k,
                    format!("must be a non-negative whole number, got {v}"),
                )),
            },
            "budget_usd" => match v.as_f64() {
                Some(b) => o.budget_usd = Some(b),
                None if v.is_null() => {}
                None => problems.push(ApiError::field(k, format!("must be a number, got {v}"))),
            },
            _ => problems.push(ApiError::field(
                k,
                "unknown override (creators_wanted, budget_usd)",
            )),
        }
    }
    if problems.is_empty() {
        Ok(o)
    } else {
        Err(ApiError::unprocessable(
            "invalid_overrides",
            "overrides: see fields",
            problems,
        ))
    }
}

/// Match an inline brief (nothing is stored).
#[utoipa::path(
    post, path = "/v1/match", tag = "matching",
    request_body(content = BriefDoc, description = "A campaign brief (the data contract's shape)"),
    responses(
        (status = 200, description = "The match result (data contract)", body = MatchResultDoc),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "No key or a bad key", body = ErrorBody),
        (status = 403, description = "Creator key, or org_id is not the key's org", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Invalid brief; `fields` names each problem", body = ErrorBody),
        (status = 429, description = "Too many matches in flight (see Retry-After)", body = ErrorBody),
        (status = 503, description = "No snapshot loaded yet, or timeout", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn match_inline(
    State(state): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    p.require_marketer_or_admin()?;
    require_object(&body)?;
    if let Some(org) = body.get("org_id").and_then(Value::as_str) {
        p.require_org(org)?;
    }
    let snap = state.require_snapshot()?;
    run_match(&state, snap, body).await
}

/// Search creators: filters, a text query or lookalikes, cursor paging.
#[utoipa::path(
    get, path = "/v1/creators/search", tag = "creators",
    params(SearchQuery),
    responses(
        (status = 200, description = "A page of creators", body = SearchPage),
        (status = 400, description = "Bad parameter (named in `fields`)", body = ErrorBody),
        (status = 401, description = "No key or a bad key", body = ErrorBody),
        (status = 403, description = "Creator key", body = ErrorBody),
        (status = 409, description = "The cursor belongs to an older snapshot", body = ErrorBody),
        (status = 429, description = "Too many searches in flight (see Retry-After)", body = ErrorBody),
        (status = 503, description = "No snapshot loaded yet, or timeout", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn search_creators(
    State(state): State<AppState>,
    p: Principal,
    Q(q): Q<SearchQuery>,
) -> Result<Json<SearchPage>, ApiError> {
    p.require_marketer_or_admin()?;
    let limit = page_limit(&state, q.limit)?;
    let snap = state.require_snapshot()?;
    let offset = super::search::parse_cursor(q.cursor.as_deref(), &snap.id)?;
    let depth = state.config().search_max_depth;
    let permit = state.try_match_slot()?;
    let page = spawn_cpu(move || {
        let _permit = permit;
        super::search::search(&snap, &q, offset, limit, depth)
    })
    .await??;
    Ok(Json(page))
}

/// A creator's profile and derived features.
#[utoipa::path(
    get, path = "/v1/creators/{id}", tag = "creators",
    params(("id" = String, Path, description = "creator id")),
    responses(
        (status = 200, description = "The creator", body = CreatorProfile),
        (status = 401, description = "No key or a bad key", body = ErrorBody),
        (status = 403, description = "A creator key asking for another creator", body = ErrorBody),
        (status = 404, description = "No such creator in the served snapshot", body = ErrorBody),
        (status = 503, description = "No snapshot loaded yet, or timeout", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn get_creator(
    State(state): State<AppState>,
    p: Principal,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<CreatorProfile>, ApiError> {
    p.require_creator_visible(&id)?;
    let snap = state.require_snapshot()?;
    let i = snap
        .ordinal(&id)
        .ok_or_else(|| ApiError::not_found(format!("no creator {id:?} in snapshot {}", snap.id)))?;
    Ok(Json(CreatorProfile::of(&snap, i as usize)))
}

/// Removes an upload directory when dropped (after the load, whatever happened).
struct UploadDir(PathBuf);

impl Drop for UploadDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const PARTS: [&str; 3] = ["creators", "performance", "payments"];

fn multipart_error(state: &AppState, e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::payload_too_large(state.config().max_ingest_bytes)
    } else {
        ApiError::bad_request(
            "bad_multipart",
            format!("multipart body: {}", e.body_text()),
        )
    }
}

/// Load contract files and serve the new snapshot (admin).
#[utoipa::path(
    post, path = "/v1/ingest", tag = "admin",
    params(IngestQuery),
    request_body(content = IngestForm, content_type = "multipart/form-data",
        description = "Parts `creators`, `performance`, `payments` (each optional, at least one); the file name's extension picks the format"),
    responses(
        (status = 200, description = "Published and now served; the load report", body = LoadReportDoc),
        (status = 400, description = "Bad parameter or not a multipart body", body = ErrorBody),
        (status = 401, description = "No key or a bad key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 409, description = "Another ingest is running", body = ErrorBody),
        (status = 413, description = "Body larger than max_ingest_bytes", body = ErrorBody),
        (status = 422, description = "A file breaks the contract (nothing published); `fields` names the part", body = ErrorBody),
        (status = 503, description = "Timeout (the load may still publish; the server then serves it)", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn post_ingest(
    State(state): State<AppState>,
    p: Principal,
    Q(q): Q<IngestQuery>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<Value>, ApiError> {
    p.require_admin()?;
    let as_of = match &q.as_of {
        Some(s) => Some(parse_date(s).ok_or_else(|| {
            ApiError::bad_param("as_of", format!("{s:?} is not a date (YYYY-MM-DD)"))
        })?),
        None => None,
    };
    let mut mp = multipart.map_err(|e| {
        ApiError::bad_request(
            "bad_multipart",
            format!("send the files as multipart/form-data: {}", e.body_text()),
        )
    })?;
    let guard = state.try_ingest_lock()?;
    let upload = UploadDir(state.new_upload_dir().await?);
    let mut files: [Option<(PathBuf, String)>; 3] = [None, None, None];
    let mut problems = Vec::new();
    while let Some(mut field) = mp
        .next_field()
        .await
        .map_err(|e| multipart_error(&state, e))?
    {
        let name = field.name().unwrap_or("").to_string();
        let Some(slot) = PARTS.iter().position(|p| *p == name) else {
            problems.push(ApiError::field(
                &name,
                "unknown part: expected creators, performance or payments",
            ));
            continue;
        };
        let fname = field.file_name().unwrap_or("").to_string();
        let ext = Path::new(&fname)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !["csv", "jsonl", "ndjson", "parquet"].contains(&ext.as_str()) {
            problems.push(ApiError::field(
                &name,
                format!("file name {fname:?} must end in .csv, .jsonl, .ndjson or .parquet (it picks the format)"),
            ));
            continue;
        }
        if files[slot].is_some() {
            problems.push(ApiError::field(&name, "sent twice"));
            continue;
        }
        let path = upload.0.join(format!("{name}.{ext}"));
        let mut f = tokio::fs::File::create(&path)
            .await
            .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?;
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| multipart_error(&state, e))?
        {
            f.write_all(&chunk)
                .await
                .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?;
        }
        f.flush()
            .await
            .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?;
        files[slot] = Some((path, fname));
    }
    if files.iter().all(Option::is_none) && problems.is_empty() {
        problems.push(ApiError::field(
            "creators",
            "no file parts: send at least one of creators, performance, payments",
        ));
    }
    if !problems.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_upload",
            "the upload is not a set of contract files",
            problems,
        ));
    }
    let mut o = IngestOptions::new(state.data_dir());
    o.creators = files[0].as_ref().map(|f| f.0.clone());
    o.performance = files[1].as_ref().map(|f| f.0.clone());
    o.payments = files[2].as_ref().map(|f| f.0.clone());
    o.strict = q.strict.unwrap_or(false);
    o.keep = state.config().ingest_keep;
    o.as_of_day = as_of;
    let names: Vec<(PathBuf, String)> = files.iter().flatten().cloned().collect();
    // Reports, rejects, errors and the manifest name the files as sent,
    // not by the temporary paths they are saved under.
    o.shown_names = names.iter().cloned().collect();
    let st = state.clone();
    let t0 = Instant::now();
    // The load, the open and the swap all happen on the blocking thread, so
    // a request that times out still ends with the new snapshot served.
    let threads = state.config().ingest_threads();
    o.threads = threads;
    let res = spawn_io(move || {
        let _upload = upload;
        let _guard = guard;
        // Its own pool: the load's parallel stages never queue ahead of the
        // matches on the global rayon pool.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("ingest-{i}"))
            .build()
            .map_err(|e| IngestError::Internal(format!("ingest thread pool: {e}")))?;
        let rep = pool.install(|| ingest(&o, &NoProgress))?;
        let snap = Snapshot::open_id_with(
            &DataDir::open(st.data_dir())?,
            &rep.snapshot,
            &cloutdesk_engine::snapshot::OpenOptions::for_default_matcher(),
        )?;
        st.publish(snap);
        Ok::<LoadReport, IngestError>(rep)
    })
    .await?;
    match res {
        Ok(rep) => {
            state
                .metrics()
                .ingest_seconds
                .observe(t0.elapsed().as_secs_f64());
            let v = serde_json::to_value(&rep)
                .map_err(|e| ApiError::internal(format!("serializing the load report: {e}")))?;
            Ok(Json(v))
        }
        Err(e) => {
            state.metrics().ingests_failed.inc();
            Err(ingest_error(e, &names))
        }
    }
}

fn ingest_error(e: IngestError, names: &[(PathBuf, String)]) -> ApiError {
    match e {
        IngestError::File { path, message } => {
            // The error names the file as sent (`shown_names`); the part
            // is the stem of the path it was saved under.
            let sent = names
                .iter()
                .find(|(p, name)| *p == path || Path::new(name) == path);
            let part = sent
                .map_or(path.as_path(), |n| n.0.as_path())
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let fname = sent.map_or_else(|| path.display().to_string(), |n| n.1.clone());
            ApiError::unprocessable(
                "invalid_file",
                format!("{fname}: {message}; nothing was published"),
                vec![ApiError::field(part, message)],
            )
        }
        IngestError::Strict { count, first } => ApiError::unprocessable(
            "rows_rejected",
            format!("strict load: {count} row(s) rejected; nothing was published"),
            vec![ApiError::field("strict", first)],
        ),
        IngestError::Empty { rejected, first } => ApiError::unprocessable(
            "no_creators",
            format!(
                "the load would leave no creators at all ({rejected} row(s) rejected); nothing was published"
            ),
            std::iter::once(ApiError::field("creators", "no valid creator rows"))
                .chain(first.iter().map(|f| ApiError::field("creators", f.clone())))
                .collect(),
        ),
        IngestError::Snapshot(StorageError::Locked(p)) => ApiError::conflict(
            "ingest_in_progress",
            format!(
                "another writer holds {}: retry when it is done",
                p.display()
            ),
        ),
        other => ApiError::internal(format!("ingest failed: {other}")),
    }
}

/// The served snapshot.
#[utoipa::path(
    get, path = "/v1/snapshot", tag = "admin",
    responses(
        (status = 200, description = "The served snapshot", body = SnapshotInfo),
        (status = 401, description = "No key or a bad key", body = ErrorBody),
        (status = 503, description = "No snapshot loaded yet, or timeout", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn get_snapshot(
    State(state): State<AppState>,
    _p: Principal,
) -> Result<Json<SnapshotInfo>, ApiError> {
    let snap = state.require_snapshot()?;
    Ok(Json(SnapshotInfo::of(&snap)))
}

/// Liveness: the process answers.
#[utoipa::path(
    get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "Alive", body = Health))
)]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Readiness: a snapshot is loaded.
#[utoipa::path(
    get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "Serving a snapshot", body = Ready),
        (status = 503, description = "No snapshot loaded yet", body = ErrorBody),
    )
)]
async fn readyz(State(state): State<AppState>) -> Result<Json<Ready>, ApiError> {
    let snap = state.require_snapshot()?;
    Ok(Json(Ready {
        status: "ready".into(),
        snapshot: snap.id.clone(),
    }))
}

/// Prometheus metrics (text format 0.0.4).
#[utoipa::path(
    get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain"))
)]
async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics().render(),
    )
        .into_response()
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> ApiError {
        ApiError::internal(format!("snapshot storage: {e}"))
    }
}
