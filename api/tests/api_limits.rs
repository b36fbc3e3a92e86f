//! Limits and validation at the edge: 413 before a body is read (declared
//! length) and while streaming one (no length), 422 naming each bad field,
//! 429 with Retry-After when every match slot is taken, the page-size cap,
//! and JSON answers for unknown routes and methods. Nothing here depends on
//! timing: the match slots are held by the test itself.

mod api_support;

use api_support::*;
use axum::body::Body;
use axum::http::{header, Method, Request};
use cloutdesk::server::{app, Config};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413() {
    let w = world(200, 7);
    let cfg = Config {
        max_body_bytes: 4096,
        ..test_config()
    };
    let app = app(state(&w, cfg));
    let k = w.keys.org_a.clone();
    let big = vec![b' '; 4097];
    // Declared length: refused from the header alone.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/match")
        .header(header::AUTHORIZATION, format!("Bearer {k}"))
        .header(header::CONTENT_LENGTH, big.len())
        .body(Body::from(big.clone()))
        .unwrap();
    let r = send(&app, req).await;
    assert_eq!(r.status.as_u16(), 413, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], "payload_too_large");
    // Streamed (no length): refused once past the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..8).map(|_| Ok(vec![b' '; 1024])).collect();
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/campaigns")
        .header(header::AUTHORIZATION, format!("Bearer {k}"))
        .body(Body::from_stream(futures_stream(chunks)))
        .unwrap();
    let r = send(&app, req).await;
    assert_eq!(r.status.as_u16(), 413, "{}", r.text);
    assert_error_shape(&r);
    // Under the limit: fine.
    let r = call(
        &app,
        Method::POST,
        "/v1/match",
        Some(&k),
        Some(&brief(&w, &w.org_a, "m")),
    )
    .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
}

/// A stream of byte chunks without a known length.
fn futures_stream(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::iter(chunks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_briefs_get_422_with_every_field_path() {
    let w = world(200, 8);
    let app = app(state(&w, test_config()));
    let k = Some(w.keys.org_a.as_str());
    let mut b = brief(&w, &w.org_a, "bad");
    b["budget_usd"] = json!(-5);
    b["platforms"] = json!(["myspace"]);
    b["target"] = json!({"countries": ["USA"]});
    b["colour"] = json!("blue");
    for uri in ["/v1/campaigns", "/v1/match"] {
        let r = call(&app, Method::POST, uri, k, Some(&b)).await;
        assert_eq!(r.status.as_u16(), 422, "{}", r.text);
        assert_error_shape(&r);
        let v = r.json();
        assert_eq!(v["error"]["code"], "invalid_brief");
        let paths: Vec<&str> = v["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        for want in ["budget_usd", "colour"] {
            assert!(
                paths.contains(&want),
                "{uri}: no problem at {want}: {paths:?}"
            );
        }
        assert!(
            paths.iter().any(|p| p.starts_with("platforms")),
            "{paths:?}"
        );
        assert!(
            paths.iter().any(|p| p.starts_with("target.countries")),
            "{paths:?}"
        );
    }
    // Not JSON at all: 400; not an object: 422.
    let req = request(Method::POST, "/v1/match", k, None);
    let (parts, _) = req.into_parts();
    let r = send(&app, Request::from_parts(parts, Body::from("{nope"))).await;
    assert_eq!(r.status.as_u16(), 400);
    assert_eq!(r.json()["error"]["code"], "invalid_json");
    let r = call(&app, Method::POST, "/v1/match", k, Some(&json!([1, 2]))).await;
    assert_eq!(r.status.as_u16(), 422);
    // Nothing was stored.
    let r = call(&app, Method::GET, "/v1/campaigns", k, None).await;
    assert_eq!(r.json()["campaigns"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_match_queue_answers_429_with_retry_after() {
    let w = world(200, 9);
    let cfg = Config {
        max_concurrent_matches: 2,
        retry_after_secs: 7,
        ..test_config()
    };
    let st = state(&w, cfg);
    let app = app(st.clone());
    let k = Some(w.keys.org_a.as_str());
    let b = brief(&w, &w.org_a, "m");
    let held = st.match_slots().clone().try_acquire_many_owned(2).unwrap();
    for uri in ["/v1/match", "/v1/creators/search"] {
        let (m, body) = if uri == "/v1/match" {
            (Method::POST, Some(&b))
        } else {
            (Method::GET, None)
        };
        let r = call(&app, m, uri, k, body).await;
        assert_eq!(r.status.as_u16(), 429, "{}", r.text);
        assert_eq!(r.headers[header::RETRY_AFTER], "7");
        assert_eq!(r.json()["error"]["code"], "overloaded");
    }
    drop(held);
    let r = call(&app, Method::POST, "/v1/match", k, Some(&b)).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    let metrics = call(&app, Method::GET, "/metrics", None, None).await.text;
    assert!(
        metrics.contains("cloutdesk_matches_rejected_total 2"),
        "{metrics}"
    );
    assert!(metrics.contains(
        "cloutdesk_http_requests_total{method=\"POST\",route=\"/v1/match\",status=\"429\"} 1"
    ));
    assert!(metrics.contains("cloutdesk_match_seconds_count 1"));
    assert!(metrics.contains("cloutdesk_snapshot_version 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_sizes_are_capped_and_cursors_page_through() {
    let w = world(300, 10);
    let cfg = Config {
        page_size_max: 20,
        page_size_default: 10,
        search_max_depth: 100,
        ..test_config()
    };
    let app = app(state(&w, cfg));
    let k = Some(w.keys.org_a.as_str());
    for uri in [
        "/v1/creators/search?limit=21",
        "/v1/campaigns?limit=21",
        "/v1/creators/search?limit=0",
    ] {
        let r = call(&app, Method::GET, uri, k, None).await;
        assert_eq!(r.status.as_u16(), 400, "{uri}: {}", r.text);
        assert_eq!(r.json()["error"]["fields"][0]["path"], "limit");
    }
    // Browse all pages: no creator twice, ordered by followers, capped at the depth.
    let mut seen = Vec::new();
    let mut uri = "/v1/creators/search?limit=20".to_string();
    loop {
        let r = call(&app, Method::GET, &uri, k, None).await;
        assert_eq!(r.status.as_u16(), 200, "{}", r.text);
        let v = r.json();
        assert_eq!(v["total"], 300);
        for c in v["creators"].as_array().unwrap() {
            seen.push((
                c["followers"].as_u64().unwrap(),
                c["creator_id"].as_str().unwrap().to_string(),
            ));
        }
        match v["next_cursor"].as_str() {
            Some(c) => uri = format!("/v1/creators/search?limit=20&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 100);
    let mut ids: Vec<&String> = seen.iter().map(|s| &s.1).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 100);
    assert!(seen.windows(2).all(|p| p[0].0 >= p[1].0));
    // Filters hold; a cursor of another snapshot is refused.
    let r = call(
        &app,
        Method::GET,
        "/v1/creators/search?platform=tiktok&followers_min=5000&limit=20",
        k,
        None,
    )
    .await;
    for c in r.json()["creators"].as_array().unwrap() {
        assert_eq!(c["platform"], "tiktok");
        assert!(c["followers"].as_u64().unwrap() >= 5000);
    }
    let r = call(
        &app,
        Method::GET,
        "/v1/creators/search?cursor=v000099:20",
        k,
        None,
    )
    .await;
    assert_eq!(r.status.as_u16(), 409);
    assert_eq!(r.json()["error"]["code"], "stale_cursor");
    let r = call(
        &app,
        Method::GET,
        "/v1/creators/search?platform=myspace",
        k,
        None,
    )
    .await;
    assert_eq!(r.status.as_u16(), 400);
    assert_eq!(r.json()["error"]["fields"][0]["path"], "platform");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_answer_json() {
    let w = world(200, 11);
    let app = app(state(&w, test_config()));
    let r = call(&app, Method::GET, "/v2/anything", None, None).await;
    assert_eq!(r.status.as_u16(), 404);
    assert_eq!(r.json()["error"]["code"], "no_route");
    let r = call(&app, Method::PATCH, "/v1/match", Some(&w.keys.admin), None).await;
    assert_eq!(r.status.as_u16(), 405);
    assert_eq!(r.json()["error"]["code"], "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_data_dir_serves_health_but_is_not_ready() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, admin) =
        cloutdesk::keys::create_key(tmp.path(), cloutdesk::keys::Role::Admin, None).unwrap();
    let st = cloutdesk::server::AppState::open(tmp.path(), test_config()).unwrap();
    let app = app(st);
    assert_eq!(
        call(&app, Method::GET, "/healthz", None, None)
            .await
            .status
            .as_u16(),
        200
    );
    let r = call(&app, Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status.as_u16(), 503);
    assert_eq!(r.json()["error"]["code"], "no_snapshot");
    let r = call(&app, Method::GET, "/v1/snapshot", Some(&admin), None).await;
    assert_eq!(r.status.as_u16(), 503);
    // An ingest with a bad file publishes nothing and names the part.
    let (ct, body) = multipart(&[(
        "creators",
        "creators.csv",
        b"creator_id,handle\nc1,h1\n".to_vec(),
    )]);
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/ingest")
        .header(header::AUTHORIZATION, format!("Bearer {admin}"))
        .header(header::CONTENT_TYPE, ct)
        .body(Body::from(body))
        .unwrap();
    let r = send(&app, req).await;
    assert_eq!(r.status.as_u16(), 422, "{}", r.text);
    assert_eq!(r.json()["error"]["fields"][0]["path"], "creators");
    let (ct, body) = multipart(&[("creators", "creators.xlsx", b"x".to_vec())]);
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/ingest")
        .header(header::AUTHORIZATION, format!("Bearer {admin}"))
        .header(header::CONTENT_TYPE, ct)
        .body(Body::from(body))
        .unwrap();
    let r = send(&app, req).await;
    assert_eq!(r.status.as_u16(), 422, "{}", r.text);
    assert!(r.text.contains(".csv"));
    let r = call(&app, Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status.as_u16(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_is_named_as_sent_not_by_its_temporary_path() {
    let w = world(200, 13);
    let app = app(state(&w, test_config()));
    let admin = w.keys.admin.clone();
    let post = |strict: bool, fname: &str, bytes: &[u8]| {
        let (ct, body) = multipart(&[("creators", fname, bytes.to_vec())]);
        Request::builder()
            .method(Method::POST)
            .uri(format!("/v1/ingest?as_of={AS_OF}&strict={strict}"))
            .header(header::AUTHORIZATION, format!("Bearer {admin}"))
            .header(header::CONTENT_TYPE, ct)
            .body(Body::from(body))
            .unwrap()
    };
    let rows = b"creator_id,handle,platform,followers\nn1,h1,tiktok,12k\nn2,h2,tiktok,300\n";
    // A bad row: the report and its rejects name the file as sent.
    let r = send(&app, post(false, "my creators.csv", rows)).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["creators"]["path"], "my creators.csv");
    assert_eq!(v["rejects"][0]["file"], "my creators.csv", "{v}");
    assert_eq!(v["rejects"][0]["row"], 1);
    assert!(!r.text.contains("uploads"), "{}", r.text);
    // A strict load and a file-level fault: the errors do too.
    let r = send(&app, post(true, "my creators.csv", rows)).await;
    assert_eq!(r.status.as_u16(), 422, "{}", r.text);
    assert!(r.text.contains("my creators.csv row 1"), "{}", r.text);
    assert!(!r.text.contains("uploads"), "{}", r.text);
    let r = send(&app, post(false, "odd.csv", b"creator_id,handle\nc1,h1\n")).await;
    assert_eq!(r.status.as_u16(), 422, "{}", r.text);
    assert_eq!(r.json()["error"]["fields"][0]["path"], "creators");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("odd.csv: missing required CSV column"));
    assert!(!r.text.contains("uploads"), "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_search_finds_declared_niches_not_only_bios() {
    let w = world(300, 17);
    let s = cloutdesk_engine::snapshot::Snapshot::open(
        &cloutdesk_engine::storage::DataDir::open(&w.data).unwrap(),
    )
    .unwrap();
    // The most declared one-word niche, and who declares it.
    let mut count: std::collections::HashMap<&str, usize> = Default::default();
    for n in s.creators.niches.iter().flatten().flatten() {
        if !n.contains('-') {
            *count.entry(n.as_str()).or_default() += 1;
        }
    }
    let (niche, _) = count.iter().max_by_key(|x| (x.1, x.0)).unwrap();
    let declared: std::collections::HashSet<&str> = (0..s.len())
        .filter(|&i| s.creators.niches[i].iter().flatten().any(|n| n == niche))
        .map(|i| s.creators.creator_id[i].as_str())
        .collect();
    assert!(declared.len() > 5, "{niche}: {}", declared.len());
    let cfg = Config {
        search_max_depth: 1000,
        ..test_config()
    };
    let app = app(state(&w, cfg));
    let k = Some(w.keys.org_a.as_str());
    let mut found = std::collections::HashSet::new();
    let mut uri = format!("/v1/creators/search?q={niche}&limit=100");
    loop {
        let r = call(&app, Method::GET, &uri, k, None).await;
        assert_eq!(r.status.as_u16(), 200, "{}", r.text);
        let v = r.json();
        for c in v["creators"].as_array().unwrap() {
            found.insert(c["creator_id"].as_str().unwrap().to_string());
        }
        match v["next_cursor"].as_str() {
            Some(c) => uri = format!("/v1/creators/search?q={niche}&limit=100&cursor={c}"),
            None => break,
        }
    }
    let missed: Vec<&&str> = declared.iter().filter(|c| !found.contains(**c)).collect();
    assert!(
        missed.is_empty(),
        "q={niche} missed {} of {}: {missed:?}",
        missed.len(),
        declared.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_and_overrides_are_named() {
    let w = world(200, 19);
    let app = app(state(&w, test_config()));
    let k = Some(w.keys.org_a.as_str());
    let paths = |r: &Resp| -> Vec<String> {
        r.json()["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .collect()
    };
    // A query parameter of the wrong type, and an empty list filter.
    for (uri, param) in [
        ("/v1/creators/search?limit=abc", "limit"),
        // Named as decoded (the form decoder's key, not the raw text).
        ("/v1/creators/search?li%6Dit=abc", "limit"),
        ("/v1/creators/search?followers_min=-1", "followers_min"),
        ("/v1/campaigns?limit=-1", "limit"),
        ("/v1/creators/search?niche=", "niche"),
        ("/v1/creators/search?platform=,", "platform"),
    ] {
        let r = call(&app, Method::GET, uri, k, None).await;
        assert_eq!(r.status.as_u16(), 400, "{uri}: {}", r.text);
        assert_error_shape(&r);
        assert_eq!(paths(&r), vec![param.to_string()], "{uri}: {}", r.text);
    }
    // A stored campaign's match overrides: each bad one named.
    let b = brief(&w, &w.org_a, "spring");
    let r = call(&app, Method::POST, "/v1/campaigns", k, Some(&b)).await;
    assert!(r.status.is_success(), "{}", r.text);
    let uri = "/v1/campaigns/spring/match";
    let r = call(
        &app,
        Method::POST,
        uri,
        k,
        Some(&json!({"foo": 1, "creators_wanted": -1, "budget_usd": "x"})),
    )
    .await;
    assert_eq!(r.status.as_u16(), 422, "{}", r.text);
    let mut got = paths(&r);
    got.sort();
    assert_eq!(got, ["budget_usd", "creators_wanted", "foo"], "{}", r.text);
    let r = call(&app, Method::POST, uri, k, Some(&json!([3, 1000]))).await;
    assert_eq!(r.status.as_u16(), 422, "{}", r.text);
    let r = call(
        &app,
        Method::POST,
        uri,
        k,
        Some(&json!({"creators_wanted": 3})),
    )
    .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    assert!(r.json()["selected"].as_array().unwrap().len() <= 3);
    // Nobody affordable: totals are 0, never -0.
    let r = call(&app, Method::POST, uri, k, Some(&json!({"budget_usd": 0}))).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    assert!(!r.text.contains("-0.0"), "{}", r.text);
    assert_eq!(r.json()["totals"]["expected_engagements"], json!(0.0));
}
