//! On a real socket, in process: `server::serve` answers over TCP, and a
//! graceful shutdown lets a request in flight finish. Deterministic: the
//! request is held in flight by sending only half of its body; the test
//! waits until the server counts it in flight (a condition, not a delay),
//! triggers the shutdown, then sends the rest and reads a 200.

mod api_support;

use std::io::{Read, Write};
use std::net::TcpStream;

use api_support::*;
use cloutdesk::server::serve;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_the_request_in_flight() {
    let w = world(200, 16);
    let st = state(&w, test_config());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, st.clone(), async move {
        let _ = stop_rx.await;
    }));

    // A plain request first.
    let a = addr.clone();
    let (status, body) =
        tokio::task::spawn_blocking(move || http(&a, "GET", "/healthz", None, None))
            .await
            .unwrap();
    assert_eq!((status, body.as_str()), (200, "{\"status\":\"ok\"}"));

    // Half a match request: headers and the first half of the body.
    let body = serde_json::to_vec(&brief(&w, &w.org_a, "inflight")).unwrap();
    let key = w.keys.org_a.clone();
    let mut s = TcpStream::connect(&addr).unwrap();
    let head = format!(
        "POST /v1/match HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let half = body.len() / 2;
    s.write_all(&body[..half]).unwrap();
    s.flush().unwrap();
    // Wait until the server has the request in flight (bounded).
    let mut seen = false;
    for _ in 0..10_000 {
        if st.metrics().in_flight.get() >= 1 {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert!(seen, "the request never reached the server");
    stop_tx.send(()).unwrap();
    // New connections are refused from now on; the one in flight finishes.
    let rest = body[half..].to_vec();
    let (status, text) = tokio::task::spawn_blocking(move || {
        s.write_all(&rest).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let t = String::from_utf8_lossy(&raw).to_string();
        let status: u16 = t.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, t)
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"campaign_id\":\"inflight\""));
    server.await.unwrap().unwrap();
}
