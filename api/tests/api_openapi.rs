//! The OpenAPI document is true: every endpoint of the issue is in it, every
//! operation in it is served by the router (and nothing else is, but
//! `/openapi.json` itself), and real responses validate against the
//! schemas it declares (a small JSON-schema checker below, strict about
//! undocumented properties so the document cannot drift from the code).

mod api_support;

use api_support::*;
use axum::http::Method;
use cloutdesk::server::app;
use serde_json::{json, Value};

fn spec() -> Value {
    serde_json::to_value(cloutdesk::server::openapi()).unwrap()
}

fn operations(spec: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for m in ["get", "post", "put", "delete", "patch"] {
            if item.get(m).is_some() {
                out.push((m.to_string(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spec_and_the_router_list_the_same_routes() {
    let w = world(200, 5);
    let app = app(state(&w, test_config()));
    let spec = spec();
    let ops = operations(&spec);
    for (m, p) in [
        ("post", "/v1/campaigns"),
        ("get", "/v1/campaigns"),
        ("get", "/v1/campaigns/{id}"),
        ("delete", "/v1/campaigns/{id}"),
        ("post", "/v1/campaigns/{id}/match"),
        ("post", "/v1/match"),
        ("get", "/v1/creators/{id}"),
        ("get", "/v1/creators/search"),
        ("post", "/v1/ingest"),
        ("get", "/v1/snapshot"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
    ] {
        assert!(
            ops.contains(&(m.to_string(), p.to_string())),
            "{m} {p} is missing from the OpenAPI document"
        );
    }
    // Every documented operation is routed: it never reaches the fallback.
    for (m, p) in &ops {
        let uri = p.replace("{id}", "x").replace("{campaign_id}", "y");
        let method = Method::from_bytes(m.to_ascii_uppercase().as_bytes()).unwrap();
        let r = call(&app, method, &uri, None, None).await;
        assert_ne!(
            r.status.as_u16(),
            405,
            "{m} {p} is documented but not routed"
        );
        if r.status.as_u16() == 404 {
            assert_ne!(
                r.json()["error"]["code"],
                "no_route",
                "{m} {p} is documented but not routed"
            );
        }
        // Every operation declares the answers it gives without a key.
        let declared: Vec<u16> = spec["paths"][p][m.as_str()]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.parse().unwrap())
            .collect();
        assert!(
            declared.contains(&r.status.as_u16()),
            "{m} {p}: {} undeclared",
            r.status
        );
        if r.status.as_u16() == 401 {
            assert!(
                spec["paths"][p][m.as_str()]["security"].is_array(),
                "{m} {p} needs a key but the document does not say so"
            );
        }
    }
    // Routes outside the document answer the JSON fallback.
    for (m, p) in [(Method::GET, "/v1/nothing"), (Method::PUT, "/v1/campaigns")] {
        let r = call(&app, m.clone(), p, None, None).await;
        assert!(
            [404, 405].contains(&r.status.as_u16()),
            "{m} {p}: {}",
            r.status
        );
        assert_error_shape(&r);
    }
    // /openapi.json is this document.
    let r = call(&app, Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.json(), spec);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
}

// ---- a small JSON-schema checker for the OpenAPI 3.1 subset utoipa emits

fn resolve<'a>(spec: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").expect("local $ref");
            resolve(spec, &spec["components"]["schemas"][name])
        }
        None => s,
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => panic!("unknown type {t}"),
    }
}

fn check(spec: &Value, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    let s = resolve(spec, schema);
    if let Some(alts) = s
        .get("oneOf")
        .or_else(|| s.get("anyOf"))
        .and_then(Value::as_array)
    {
        let ok = alts.iter().any(|a| {
            let mut e = Vec::new();
            check(spec, a, v, at, &mut e);
            e.is_empty()
        });
        if !ok {
            errs.push(format!("{at}: matches none of the alternatives: {v}"));
        }
        return;
    }
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for a in all {
            check(spec, a, v, at, errs);
        }
    }
    match s.get("type") {
        Some(Value::String(t)) if !type_ok(t, v) => {
            errs.push(format!("{at}: expected {t}, got {v}"));
            return;
        }
        Some(Value::Array(ts)) if !ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)) => {
            errs.push(format!("{at}: expected one of {ts:?}, got {v}"));
            return;
        }
        _ => {}
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errs.push(format!("{at}: {v} not in {e:?}"));
        }
    }
    if let (Some(obj), Some(props)) = (
        v.as_object(),
        s.get("properties").and_then(Value::as_object),
    ) {
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                errs.push(format!("{at}: required property `{r}` is missing"));
            }
        }
        for (k, x) in obj {
            match props.get(k) {
                Some(ps) => check(spec, ps, x, &format!("{at}.{k}"), errs),
                None => errs.push(format!("{at}: property `{k}` is not documented")),
            }
        }
    } else if let (Some(obj), Some(ap)) = (v.as_object(), s.get("additionalProperties")) {
        if ap.is_object() {
            for (k, x) in obj {
                check(spec, ap, x, &format!("{at}.{k}"), errs);
            }
        }
    }
    if let (Some(arr), Some(items)) = (v.as_array(), s.get("items")) {
        for (i, x) in arr.iter().enumerate() {
            check(spec, items, x, &format!("{at}[{i}]"), errs);
        }
    }
}

fn validate(spec: &Value, method: &str, template: &str, r: &Resp) {
    let op = &spec["paths"][template][method];
    let resp = &op["responses"][r.status.as_str()];
    assert!(
        resp.is_object(),
        "{method} {template}: status {} not declared",
        r.status
    );
    let Some(schema) = resp["content"]["application/json"]["schema"].as_object() else {
        return;
    };
    let mut errs = Vec::new();
    check(
        spec,
        &Value::Object(schema.clone()),
        &r.json(),
        "$",
        &mut errs,
    );
    assert!(
        errs.is_empty(),
        "{method} {template} -> {}: the body breaks the schema:\n  {}",
        r.status,
        errs.join("\n  ")
    );
}

/// (method, path template, uri, key, body, expected status)
type Call<'a> = (Method, &'a str, String, Option<&'a str>, Option<Value>, u16);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_match_the_documented_schemas() {
    let w = world(300, 6);
    let app = app(state(&w, test_config()));
    let spec = spec();
    let ka = Some(w.keys.org_a.as_str());
    let admin = Some(w.keys.admin.as_str());
    let x = w.creator_x.clone();
    let mut full = w.briefs[1].clone();
    full["org_id"] = json!(w.org_a);
    full["campaign_id"] = json!("full");
    let calls: Vec<Call> = vec![
        (
            Method::POST,
            "/v1/campaigns",
            "/v1/campaigns".into(),
            ka,
            Some(full.clone()),
            201,
        ),
        (
            Method::POST,
            "/v1/campaigns",
            "/v1/campaigns".into(),
            ka,
            Some(full.clone()),
            200,
        ),
        (
            Method::POST,
            "/v1/campaigns",
            "/v1/campaigns".into(),
            ka,
            Some(json!({"org_id": w.org_a, "budget_usd": -1})),
            422,
        ),
        (
            Method::GET,
            "/v1/campaigns",
            "/v1/campaigns".into(),
            ka,
            None,
            200,
        ),
        (
            Method::GET,
            "/v1/campaigns/{id}",
            "/v1/campaigns/full".into(),
            ka,
            None,
            200,
        ),
        (
            Method::GET,
            "/v1/campaigns/{id}",
            "/v1/campaigns/nope".into(),
            ka,
            None,
            404,
        ),
        (
            Method::POST,
            "/v1/campaigns/{id}/match",
            "/v1/campaigns/full/match".into(),
            ka,
            Some(json!({"creators_wanted": 5})),
            200,
        ),
        (
            Method::POST,
            "/v1/campaigns/{id}/match",
            "/v1/campaigns/full/match".into(),
            ka,
            Some(json!({"creators": 5})),
            422,
        ),
        (
            Method::POST,
            "/v1/match",
            "/v1/match".into(),
            ka,
            Some(brief(&w, &w.org_a, "inline")),
            200,
        ),
        (
            Method::GET,
            "/v1/creators/{id}",
            format!("/v1/creators/{x}"),
            ka,
            None,
            200,
        ),
        (
            Method::GET,
            "/v1/creators/{id}",
            "/v1/creators/nobody".into(),
            ka,
            None,
            404,
        ),
        (
            Method::GET,
            "/v1/creators/search",
            "/v1/creators/search?limit=3".into(),
            ka,
            None,
            200,
        ),
        (
            Method::GET,
            "/v1/creators/search",
            "/v1/creators/search?q=fitness%20recipes&limit=3".into(),
            ka,
            None,
            200,
        ),
        (
            Method::GET,
            "/v1/creators/search",
            format!("/v1/creators/search?similar_to={x}&limit=3&platform=instagram,tiktok"),
            ka,
            None,
            200,
        ),
        (
            Method::GET,
            "/v1/creators/search",
            "/v1/creators/search?country=usa".into(),
            ka,
            None,
            400,
        ),
        (
            Method::GET,
            "/v1/snapshot",
            "/v1/snapshot".into(),
            ka,
            None,
            200,
        ),
        (Method::GET, "/healthz", "/healthz".into(), None, None, 200),
        (Method::GET, "/readyz", "/readyz".into(), None, None, 200),
        (
            Method::DELETE,
            "/v1/campaigns/{id}",
            "/v1/campaigns/full".into(),
            ka,
            None,
            204,
        ),
    ];
    for (m, template, uri, key, body, want) in &calls {
        let r = call(&app, m.clone(), uri, *key, body.as_ref()).await;
        assert_eq!(r.status.as_u16(), *want, "{m} {uri}: {}", r.text);
        if r.status.as_u16() != 204 {
            validate(&spec, &m.as_str().to_ascii_lowercase(), template, &r);
        }
    }
    let r = send(&app, ingest_request(&w.src, admin)).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    validate(&spec, "post", "/v1/ingest", &r);
    assert_eq!(r.json()["creators"]["path"], "creators.csv");
}

#[test]
fn the_schema_checker_catches_drift() {
    let spec = spec();
    let schema = json!({"$ref": "#/components/schemas/CampaignSaved"});
    let good = json!({"created": true, "brief_missing": [], "campaign": {
        "org_id": "a", "campaign_id": "c", "revision": 1, "updated_at": 0, "status": "open", "brief": {}}});
    let mut errs = Vec::new();
    check(&spec, &schema, &good, "$", &mut errs);
    assert!(errs.is_empty(), "{errs:?}");
    for bad in [
        json!({"created": "yes", "brief_missing": [], "campaign": good["campaign"].clone()}),
        json!({"created": true, "brief_missing": [], "campaign": {"org_id": "a"}}),
        json!({"created": true, "brief_missing": [1], "campaign": good["campaign"].clone()}),
        json!({"created": true, "brief_missing": [], "campaign": good["campaign"].clone(), "extra": 1}),
    ] {
        let mut errs = Vec::new();
        check(&spec, &schema, &bad, "$", &mut errs);
        assert!(!errs.is_empty(), "accepted {bad}");
    }
}
