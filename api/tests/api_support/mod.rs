//! Shared fixtures of the API tests: a small generated world loaded into a
//! data dir, keys for every role, and request helpers (in-process through
//! `app().oneshot(..)`, and a plain HTTP/1.1 client for real sockets).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use cloutdesk::keys::{create_key, Role};
use cloutdesk::server::{AppState, Config};
use cloutdesk_ingest::contract::FileFormat;
use cloutdesk_ingest::generate::{generate_world, write_world, GenConfig};
use cloutdesk_ingest::{ingest, IngestOptions, NoProgress, VectorIndexMode};
use serde_json::Value;
use tower::ServiceExt;

pub const AS_OF: &str = "2026-11-01";

/// Keys of every role the tests use.
#[derive(Debug, Clone)]
pub struct Keys {
    pub admin: String,
    pub org_a: String,
    pub org_b: String,
    pub creator_x: String,
    pub creator_y: String,
}

#[derive(Debug)]
pub struct World {
    pub tmp: tempfile::TempDir,
    pub data: PathBuf,
    pub src: PathBuf,
    pub briefs: Vec<Value>,
    pub keys: Keys,
    pub org_a: String,
    pub org_b: String,
    pub creator_x: String,
    pub creator_y: String,
}

/// Writes a generated world's contract files to `dir`; returns its briefs.
pub fn write_source(dir: &Path, creators: usize, seed: u64) -> Vec<Value> {
    let cfg = GenConfig {
        creators,
        briefs: 6,
        seed,
        format: FileFormat::Csv,
        embedding_dim: None,
    };
    let w = generate_world(&cfg);
    write_world(&w, &cfg, dir).unwrap();
    w.briefs
}

/// A data dir with one published snapshot of `creators` generated creators
/// and keys for admin, orgs A and B, creators X and Y.
pub fn world(creators: usize, seed: u64) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let briefs = write_source(&src, creators, seed);
    let data = tmp.path().join("data");
    let mut o = IngestOptions::new(&data);
    o.creators = Some(src.join("creators.csv"));
    o.performance = Some(src.join("performance.csv"));
    o.payments = Some(src.join("payments.csv"));
    o.as_of_day = cloutdesk_engine::schema::parse_date(AS_OF);
    o.vector_index = VectorIndexMode::Never;
    ingest(&o, &NoProgress).unwrap();
    let (org_a, org_b) = ("org-a".to_string(), "org-b".to_string());
    let (creator_x, creator_y) = ("c-0000001".to_string(), "c-0000002".to_string());
    let key = |r: Role| create_key(&data, r, None).unwrap().1;
    let keys = Keys {
        admin: key(Role::Admin),
        org_a: key(Role::Marketer { org: org_a.clone() }),
        org_b: key(Role::Marketer { org: org_b.clone() }),
        creator_x: key(Role::Creator {
            creator: creator_x.clone(),
        }),
        creator_y: key(Role::Creator {
            creator: creator_y.clone(),
        }),
    };
    World {
        tmp,
        data,
        src,
        briefs,
        keys,
        org_a,
        org_b,
        creator_x,
        creator_y,
    }
}

/// Test config: no background snapshot polling.
pub fn test_config() -> Config {
    Config {
        snapshot_poll_ms: 0,
        ..Config::default()
    }
}

pub fn state(w: &World, cfg: Config) -> AppState {
    AppState::open(&w.data, cfg).unwrap()
}

/// A generated brief, made to belong to `org` with id `id`.
pub fn brief(w: &World, org: &str, id: &str) -> Value {
    let mut b = w.briefs[0].clone();
    b["org_id"] = Value::String(org.to_string());
    b["campaign_id"] = Value::String(id.to_string());
    b["creators_wanted"] = Value::from(10);
    b
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

pub fn request(
    method: Method,
    uri: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(k) = key {
        b = b.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    match body {
        Some(v) => {
            let bytes = serde_json::to_vec(v).unwrap();
            b.header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, bytes.len())
                .body(Body::from(bytes))
                .unwrap()
        }
        None => b.body(Body::empty()).unwrap(),
    }
}

pub async fn send(app: &Router, req: Request<Body>) -> Resp {
    let r = app.clone().oneshot(req).await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap();
    Resp {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).to_string(),
    }
}

pub async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Resp {
    send(app, request(method, uri, key, body)).await
}

/// A multipart/form-data body of `(part name, file name, bytes)`.
pub fn multipart(files: &[(&str, &str, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = "cloutdesk-test-boundary-7d3f";
    let mut body = Vec::new();
    for (name, fname, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{fname}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// `POST /v1/ingest` of a source dir's three CSV files.
pub fn ingest_request(src: &Path, key: Option<&str>) -> Request<Body> {
    let files: Vec<(&str, &str, Vec<u8>)> = [
        ("creators", "creators.csv"),
        ("performance", "performance.csv"),
        ("payments", "payments.csv"),
    ]
    .iter()
    .map(|(n, f)| (*n, *f, std::fs::read(src.join(f)).unwrap()))
    .collect();
    let (ct, body) = multipart(&files);
    let mut b = Request::builder()
        .method(Method::POST)
        .uri(format!("/v1/ingest?as_of={AS_OF}"))
        .header(header::CONTENT_TYPE, ct)
        .header(header::CONTENT_LENGTH, body.len());
    if let Some(k) = key {
        b = b.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    b.body(Body::from(body)).unwrap()
}

/// Checks the error shape `{"error": {"code", "message", "fields": [...]}}`.
pub fn assert_error_shape(r: &Resp) {
    let v = r.json();
    let e = &v["error"];
    assert!(e["code"].is_string(), "no error.code: {}", r.text);
    assert!(e["message"].is_string(), "no error.message: {}", r.text);
    let fields = e["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no error.fields: {}", r.text));
    for f in fields {
        assert!(
            f["path"].is_string() && f["problem"].is_string(),
            "{}",
            r.text
        );
    }
}

/// A minimal blocking HTTP/1.1 client for real-socket tests.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let body = body
        .map(|b| serde_json::to_vec(b).unwrap())
        .unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(k) = key {
        req.push_str(&format!("Authorization: Bearer {k}\r\n"));
    }
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(&body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad response: {text}"));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}
