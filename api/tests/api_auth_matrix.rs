//! The auth matrix: every endpoint against {no key, bad key, admin, org A,
//! org B, creator X, creator Y}, through `app().oneshot(..)`. Each answer's
//! status must be the expected one, be declared for that operation in the
//! OpenAPI document, and (when an error) have the API's error shape.
//! Another org's campaign answers 404, never 403: its existence stays hidden.
//! A creator's feed and declines are for that creator (or an admin) only;
//! re-runs are admin-only.

mod api_support;

use api_support::*;
use axum::http::Method;
use cloutdesk::server::app;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    NoKey,
    BadKey,
    Admin,
    OrgA,
    OrgB,
    CreatorX,
    CreatorY,
}

const ALL: [Who; 7] = [
    Who::NoKey,
    Who::BadKey,
    Who::Admin,
    Who::OrgA,
    Who::OrgB,
    Who::CreatorX,
    Who::CreatorY,
];

fn key(w: &World, who: Who) -> Option<String> {
    let k = &w.keys;
    match who {
        Who::NoKey => None,
        Who::BadKey => Some("cdk_00000000_0123456789abcdef0123456789abcdef".into()),
        Who::Admin => Some(k.admin.clone()),
        Who::OrgA => Some(k.org_a.clone()),
        Who::OrgB => Some(k.org_b.clone()),
        Who::CreatorX => Some(k.creator_x.clone()),
        Who::CreatorY => Some(k.creator_y.clone()),
    }
}

/// Expected statuses in ALL's order.
type Row = [u16; 7];

fn spec_statuses(spec: &Value, template: &str, method: &Method) -> Vec<u16> {
    let op = &spec["paths"][template][method.as_str().to_ascii_lowercase()];
    assert!(
        op.is_object(),
        "{method} {template} is not in the OpenAPI document"
    );
    op["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.parse().unwrap())
        .collect()
}

/// Polls `GET /v1/rerank/{run_id}` as admin until the run leaves `running`;
/// returns its final status.
async fn finished_run(app: &axum::Router, admin: &str, run_id: &str) -> Value {
    loop {
        let r = call(
            app,
            Method::GET,
            &format!("/v1/rerank/{run_id}"),
            Some(admin),
            None,
        )
        .await;
        assert_eq!(r.status.as_u16(), 200, "{}", r.text);
        let v = r.json();
        if v["state"] != "running" {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_against_every_principal() {
    let w = world(300, 3);
    let st = state(&w, test_config());
    let app = app(st.clone());
    let spec = serde_json::to_value(cloutdesk::server::openapi()).unwrap();
    let (a, b) = (w.org_a.clone(), w.org_b.clone());
    // Campaign "cmp-a" of org A and "cmp-b" of org B exist before each call.
    let reset = || {
        st.campaigns()
            .put(&a, "cmp-a", brief(&w, &a, "cmp-a"))
            .unwrap();
        st.campaigns()
            .put(&b, "cmp-b", brief(&w, &b, "cmp-b"))
            .unwrap();
    };
    let x = w.creator_x.clone();
    // A published re-rank generation (so the feed answers 200, not 404) and
    // a run id for GET /v1/rerank/{run_id}.
    reset();
    let rerank_opts = json!({ "today": AS_OF });
    let r = call(
        &app,
        Method::POST,
        "/v1/rerank",
        Some(&w.keys.admin),
        Some(&rerank_opts),
    )
    .await;
    assert_eq!(r.status.as_u16(), 202, "{}", r.text);
    let run_id = r.json()["run_id"].as_str().unwrap().to_string();
    let run = finished_run(&app, &w.keys.admin, &run_id).await;
    assert_eq!(run["state"], "done", "{run}");
    //                              none bad  admin A    B    X    Y
    let cases: Vec<(Method, &str, String, Option<Value>, Row)> = vec![
        (
            Method::POST,
            "/v1/campaigns",
            "/v1/campaigns".into(),
            Some(brief(&w, &a, "cmp-a")),
            [401, 401, 200, 200, 403, 403, 403],
        ),
        (
            Method::GET,
            "/v1/campaigns",
            "/v1/campaigns".into(),
            None,
            [401, 401, 200, 200, 200, 403, 403],
        ),
        (
            Method::GET,
            "/v1/campaigns/{id}",
            "/v1/campaigns/cmp-a".into(),
            None,
            [401, 401, 200, 200, 404, 403, 403],
        ),
        (
            Method::DELETE,
            "/v1/campaigns/{id}",
            "/v1/campaigns/cmp-a".into(),
            None,
            [401, 401, 204, 204, 404, 403, 403],
        ),
        (
            Method::POST,
            "/v1/campaigns/{id}/match",
            "/v1/campaigns/cmp-a/match".into(),
            None,
            [401, 401, 200, 200, 404, 403, 403],
        ),
        (
            Method::POST,
            "/v1/match",
            "/v1/match".into(),
            Some(brief(&w, &a, "inline")),
            [401, 401, 200, 200, 403, 403, 403],
        ),
        (
            Method::GET,
            "/v1/creators/{id}",
            format!("/v1/creators/{x}"),
            None,
            [401, 401, 200, 200, 200, 200, 403],
        ),
        (
            Method::GET,
            "/v1/creators/search",
            "/v1/creators/search?limit=5".into(),
            None,
            [401, 401, 200, 200, 200, 403, 403],
        ),
        (
            Method::GET,
            "/v1/snapshot",
            "/v1/snapshot".into(),
            None,
            [401, 401, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            "/v1/creators/{id}/feed",
            format!("/v1/creators/{x}/feed"),
            None,
            [401, 401, 200, 403, 403, 200, 403],
        ),
        (
            Method::POST,
            "/v1/creators/{id}/feed/{campaign_id}/decline",
            format!("/v1/creators/{x}/feed/cmp-a/decline"),
            None,
            [401, 401, 200, 403, 403, 200, 403],
        ),
        (
            Method::GET,
            "/v1/rerank/{run_id}",
            format!("/v1/rerank/{run_id}"),
            None,
            [401, 401, 200, 403, 403, 403, 403],
        ),
        (
            Method::POST,
            "/v1/rerank",
            "/v1/rerank".into(),
            Some(rerank_opts.clone()),
            [401, 401, 202, 403, 403, 403, 403],
        ),
        (
            Method::GET,
            "/healthz",
            "/healthz".into(),
            None,
            [200, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            "/readyz",
            "/readyz".into(),
            None,
            [200, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            "/metrics",
            "/metrics".into(),
            None,
            [200, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            "/openapi.json",
            "/openapi.json".into(),
            None,
            [200, 200, 200, 200, 200, 200, 200],
        ),
    ];
    let mut checked = 0;
    let mut started = Vec::new();
    for (method, template, uri, body, expect) in &cases {
        let declared =
            (*template != "/openapi.json").then(|| spec_statuses(&spec, template, method));
        for (who, want) in ALL.iter().zip(expect) {
            reset();
            // Admin keys name the org of org-scoped requests.
            let uri = if *who == Who::Admin
                && template.starts_with("/v1/campaigns")
                && *method != Method::POST
                || *who == Who::Admin && *template == "/v1/campaigns/{id}/match"
            {
                format!("{uri}?org={a}")
            } else {
                uri.clone()
            };
            let r = call(
                &app,
                method.clone(),
                &uri,
                key(&w, *who).as_deref(),
                body.as_ref(),
            )
            .await;
            assert_eq!(
                r.status.as_u16(),
                *want,
                "{method} {uri} as {who:?}: {}",
                r.text
            );
            if let Some(d) = &declared {
                assert!(
                    d.contains(&r.status.as_u16()),
                    "{method} {template} answered {} which its OpenAPI operation does not declare ({d:?})",
                    r.status
                );
            }
            if !r.status.is_success() {
                assert_error_shape(&r);
            } else if *template == "/v1/rerank" {
                started.push(r.json()["run_id"].as_str().unwrap().to_string());
            }
            checked += 1;
        }
    }
    // The admin's POST /v1/rerank started one run: it finishes before the
    // ingest row publishes a new snapshot.
    assert_eq!(started.len(), 1);
    let run = finished_run(&app, &w.keys.admin, &started[0]).await;
    assert_eq!(run["state"], "done", "{run}");
    // The ingest row last: the admin's call publishes a new snapshot.
    let declared = spec_statuses(&spec, "/v1/ingest", &Method::POST);
    for (who, want) in ALL.iter().zip([401u16, 401, 200, 403, 403, 403, 403]).rev() {
        let r = send(&app, ingest_request(&w.src, key(&w, *who).as_deref())).await;
        assert_eq!(
            r.status.as_u16(),
            want,
            "POST /v1/ingest as {who:?}: {}",
            r.text
        );
        assert!(declared.contains(&r.status.as_u16()));
        if !r.status.is_success() {
            assert_error_shape(&r);
        }
        checked += 1;
    }
    assert_eq!(checked, 18 * 7);
    assert_eq!(st.snapshot().unwrap().id, "v000002");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orgs_never_see_each_others_campaigns() {
    let w = world(300, 4);
    let st = state(&w, test_config());
    let app = app(st.clone());
    let (ka, kb) = (Some(w.keys.org_a.as_str()), Some(w.keys.org_b.as_str()));
    // The same campaign id in two orgs: two campaigns.
    let r = call(
        &app,
        Method::POST,
        "/v1/campaigns",
        ka,
        Some(&brief(&w, &w.org_a, "same")),
    )
    .await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.text);
    let mut bb = brief(&w, &w.org_b, "same");
    bb["title"] = Value::String("B's own".into());
    let r = call(&app, Method::POST, "/v1/campaigns", kb, Some(&bb)).await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.text);
    // Another org's brief, invalid too: refused as another org's (403),
    // without a word about the brief.
    let mut foreign = brief(&w, &w.org_b, "theirs");
    foreign["budget_usd"] = Value::String("lots".into());
    let r = call(&app, Method::POST, "/v1/campaigns", ka, Some(&foreign)).await;
    assert_eq!(r.status.as_u16(), 403, "{}", r.text);
    assert!(!r.text.contains("budget_usd"), "{}", r.text);
    let r = call(
        &app,
        Method::POST,
        "/v1/campaigns",
        ka,
        Some(&brief(&w, &w.org_a, "only-a")),
    )
    .await;
    assert_eq!(r.status.as_u16(), 201);
    // Replace: 200 and revision 2.
    let r = call(
        &app,
        Method::POST,
        "/v1/campaigns",
        ka,
        Some(&brief(&w, &w.org_a, "same")),
    )
    .await;
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(r.json()["campaign"]["revision"], 2);

    let list = |k| {
        let app = app.clone();
        async move {
            let r = call(&app, Method::GET, "/v1/campaigns", k, None).await;
            let ids: Vec<String> = r.json()["campaigns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["campaign_id"].as_str().unwrap().to_string())
                .collect();
            ids
        }
    };
    assert_eq!(list(ka).await, vec!["only-a", "same"]);
    assert_eq!(list(kb).await, vec!["same"]);
    let r = call(&app, Method::GET, "/v1/campaigns/same", kb, None).await;
    assert_eq!(r.json()["brief"]["title"], "B's own");
    // B cannot tell A's campaign from one that does not exist.
    let hidden = call(&app, Method::GET, "/v1/campaigns/only-a", kb, None).await;
    let absent = call(&app, Method::GET, "/v1/campaigns/never-was", kb, None).await;
    assert_eq!(hidden.status.as_u16(), 404);
    assert_eq!(absent.status.as_u16(), 404);
    assert_eq!(
        hidden.json()["error"]["code"],
        absent.json()["error"]["code"]
    );
    // A marketer naming another org in ?org= is refused.
    let r = call(
        &app,
        Method::GET,
        &format!("/v1/campaigns?org={}", w.org_a),
        kb,
        None,
    )
    .await;
    assert_eq!(r.status.as_u16(), 403);
    // An admin must name the org.
    let r = call(
        &app,
        Method::GET,
        "/v1/campaigns",
        Some(&w.keys.admin),
        None,
    )
    .await;
    assert_eq!(r.status.as_u16(), 400);
    assert_eq!(r.json()["error"]["fields"][0]["path"], "org");
    // Paging: one at a time.
    let r = call(&app, Method::GET, "/v1/campaigns?limit=1", ka, None).await;
    let cur = r.json()["next_cursor"].as_str().unwrap().to_string();
    let r = call(
        &app,
        Method::GET,
        &format!("/v1/campaigns?limit=1&cursor={cur}"),
        ka,
        None,
    )
    .await;
    assert_eq!(r.json()["campaigns"][0]["campaign_id"], "same");
    assert!(r.json()["next_cursor"].is_null());
    // A revoked key stops working at once.
    let id = cloutdesk::keys::list_keys(&w.data)
        .unwrap()
        .into_iter()
        .find(|k| {
            k.role
                == cloutdesk::keys::Role::Marketer {
                    org: w.org_b.clone(),
                }
        })
        .unwrap()
        .id;
    assert!(cloutdesk::keys::revoke_key(&w.data, &id).unwrap());
    let r = call(&app, Method::GET, "/v1/campaigns", kb, None).await;
    assert_eq!(r.status.as_u16(), 401);
    assert_eq!(r.json()["error"]["code"], "invalid_key");
}
