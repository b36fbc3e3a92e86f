//! Durability with the real binary on a real socket: campaigns acknowledged
//! with a 2xx survive a kill -9 and a graceful restart (SIGTERM), with
//! replaces and deletes applied exactly as acknowledged. Keys are minted
//! with the `cloutdesk keys create` subcommand. Deterministic: the test
//! waits for the server's `listening on` line, never for a duration.

mod api_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use api_support::*;
use serde_json::json;

struct Server {
    child: Child,
    addr: String,
}

fn start(data: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloutdesk"))
        .args(["serve", "--data"])
        .arg(data)
        .args(["--bind", "127.0.0.1:0"])
        .env("CLOUTDESK__SNAPSHOT_POLL_MS", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    Server { child, addr }
}

fn mint(data: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cloutdesk"))
        .args(["keys", "create", "--data"])
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn acknowledged_campaigns_survive_kill_9_and_restarts() {
    let w = world(200, 14);
    let org = "acme";
    let key = mint(
        &w.data,
        &["--role", "marketer", "--org", org, "--name", "test"],
    );
    assert!(key.starts_with("cdk_"));
    let k = Some(key.as_str());
    let mut expect: Vec<(String, Option<u64>)> = Vec::new();

    let mut s = start(&w.data);
    assert_eq!(http(&s.addr, "GET", "/readyz", None, None).0, 200);
    for i in 0..12 {
        let id = format!("cmp-{i:02}");
        let (st, body) = http(
            &s.addr,
            "POST",
            "/v1/campaigns",
            k,
            Some(&brief(&w, org, &id)),
        );
        assert_eq!(st, 201, "{body}");
        expect.push((id, Some(1)));
    }
    // Replace three, delete three; every answer is a 2xx.
    for i in [1usize, 4, 7] {
        let (st, _) = http(
            &s.addr,
            "POST",
            "/v1/campaigns",
            k,
            Some(&brief(&w, org, &expect[i].0)),
        );
        assert_eq!(st, 200);
        expect[i].1 = Some(2);
    }
    for i in [2usize, 5, 11] {
        let (st, _) = http(
            &s.addr,
            "DELETE",
            &format!("/v1/campaigns/{}", expect[i].0),
            k,
            None,
        );
        assert_eq!(st, 204);
        expect[i].1 = None;
    }
    s.child.kill().unwrap(); // SIGKILL: no chance to flush anything
    s.child.wait().unwrap();

    let check = |addr: &str, expect: &[(String, Option<u64>)]| {
        for (id, rev) in expect {
            let (st, body) = http(addr, "GET", &format!("/v1/campaigns/{id}"), k, None);
            match rev {
                Some(r) => {
                    assert_eq!(st, 200, "{id} lost: {body}");
                    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(v["revision"], json!(r), "{id}");
                    assert_eq!(v["brief"]["campaign_id"], json!(id));
                }
                None => assert_eq!(st, 404, "{id} was deleted but came back"),
            }
        }
        let (st, body) = http(addr, "GET", "/v1/campaigns?limit=500", k, None);
        assert_eq!(st, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let live = expect.iter().filter(|e| e.1.is_some()).count();
        assert_eq!(v["campaigns"].as_array().unwrap().len(), live);
    };

    let mut s = start(&w.data);
    check(&s.addr, &expect);
    // More writes after the crash, then a graceful stop (SIGTERM).
    let (st, _) = http(
        &s.addr,
        "POST",
        "/v1/campaigns",
        k,
        Some(&brief(&w, org, "after-crash")),
    );
    assert_eq!(st, 201);
    expect.push(("after-crash".into(), Some(1)));
    let (st, body) = http(
        &s.addr,
        "POST",
        "/v1/campaigns/cmp-00/match",
        k,
        Some(&json!({"creators_wanted": 3})),
    );
    assert_eq!(st, 200, "{body}");
    let ok = Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = s.child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");

    let mut s = start(&w.data);
    check(&s.addr, &expect);
    s.child.kill().unwrap();
    s.child.wait().unwrap();
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let w = world(200, 15);
    let mut s = start(&w.data);
    let out = Command::new(env!("CARGO_BIN_EXE_cloutdesk"))
        .args(["serve", "--data"])
        .arg(&w.data)
        .args(["--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("campaign store"), "{err}");
    s.child.kill().unwrap();
    s.child.wait().unwrap();
}
