//! Live swap: while `POST /v1/ingest` loads a new world and swaps the
//! served snapshot, concurrent matches, profile reads and searches keep
//! answering 200, each against one whole snapshot (old or new). The loops
//! run until the ingest is done and then a fixed number of rounds more, so
//! the test does not depend on timing.

mod api_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use api_support::*;
use axum::http::Method;
use cloutdesk::server::app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_survive_an_ingest_swap() {
    let w = world(400, 12);
    let st = state(&w, test_config());
    let app = app(st.clone());
    let before = st.snapshot().unwrap().id.clone();
    // The new world: other creators (seed) and more of them.
    let src2 = w.tmp.path().join("src2");
    write_source(&src2, 600, 13);

    let done = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for t in 0..3 {
        let app = app.clone();
        let done = done.clone();
        let key = w.keys.org_a.clone();
        let b = brief(&w, &w.org_a, &format!("live-{t}"));
        workers.push(tokio::spawn(async move {
            let mut results = Vec::new();
            let mut after = 0;
            for i in 0..100_000usize {
                let r = match (i + t) % 3 {
                    0 => call(&app, Method::POST, "/v1/match", Some(&key), Some(&b)).await,
                    1 => {
                        call(
                            &app,
                            Method::GET,
                            "/v1/creators/c-0000007",
                            Some(&key),
                            None,
                        )
                        .await
                    }
                    _ => {
                        call(
                            &app,
                            Method::GET,
                            "/v1/creators/search?q=fitness&limit=5",
                            Some(&key),
                            None,
                        )
                        .await
                    }
                };
                let snap = r.json()["snapshot"].as_str().map(String::from);
                let failure = (r.status.as_u16() != 200).then_some(r.text);
                results.push((r.status.as_u16(), snap, failure));
                if done.load(Ordering::SeqCst) {
                    after += 1;
                    if after >= 6 {
                        break;
                    }
                }
            }
            results
        }));
    }
    let r = send(&app, ingest_request(&src2, Some(&w.keys.admin))).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    let new_id = r.json()["snapshot"].as_str().unwrap().to_string();
    done.store(true, Ordering::SeqCst);
    assert_ne!(new_id, before);
    assert_eq!(st.snapshot().unwrap().id, new_id);

    let mut total = 0;
    let mut saw_new = false;
    for h in workers {
        for (status, snap, text) in h.await.unwrap() {
            assert_eq!(status, 200, "a request failed during the swap: {text:?}");
            let snap = snap.expect("every answer names its snapshot");
            assert!(snap == before || snap == new_id, "unknown snapshot {snap}");
            saw_new |= snap == new_id;
            total += 1;
        }
    }
    assert!(saw_new, "requests after the swap must see the new snapshot");
    assert!(total >= 18);
    // The new world's extra creators are served.
    let r = call(
        &app,
        Method::GET,
        "/v1/creators/c-0000600",
        Some(&w.keys.org_a),
        None,
    )
    .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
}
