//! kill -9 at several points of a real `cloutdesk ingest` child process: the
//! last published snapshot stays intact and loadable, and the next load
//! succeeds. Deterministic: the child stops itself at a named failpoint
//! (CLOUTDESK_FAILPOINT) and waits; the test kills it once it says so.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use cloutdesk_engine::snapshot::Snapshot;
use cloutdesk_engine::storage::DataDir;
use cloutdesk_ingest::contract::FileFormat;
use cloutdesk_ingest::generate::{generate_world, write_world, GenConfig};

fn ingest_cmd(data: &Path, src: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cloutdesk"));
    c.args(["ingest", "--data"])
        .arg(data)
        .arg("--creators")
        .arg(src.join("creators.csv"))
        .arg("--performance")
        .arg(src.join("performance.csv"))
        .arg("--payments")
        .arg(src.join("payments.csv"))
        .args(["--as-of", "2026-11-01", "--vector-index", "always"]);
    c
}

#[test]
fn kill_9_mid_ingest_leaves_the_last_published_snapshot_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let cfg = GenConfig {
        creators: 200,
        briefs: 2,
        seed: 11,
        format: FileFormat::Csv,
        embedding_dim: None,
    };
    write_world(&generate_world(&cfg), &cfg, &src).unwrap();
    let data = tmp.path().join("data");
    let st = ingest_cmd(&data, &src).status().unwrap();
    assert!(st.success());
    let dd = DataDir::open(&data).unwrap();
    let first = dd.current().unwrap().unwrap();

    for (point, published) in [
        ("after_tables", false),
        ("after_text", false),
        ("after_hnsw", false),
        ("before_manifest", false),
        ("before_rename", false),
        ("before_current", false),
        ("after_current", true),
    ] {
        let before = dd.current().unwrap().unwrap();
        let mut child = ingest_cmd(&data, &src)
            .env("CLOUTDESK_FAILPOINT", point)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut reached = false;
        for line in BufReader::new(child.stderr.take().unwrap()).lines() {
            let line = line.unwrap();
            if line.contains(&format!("FAILPOINT {point}")) {
                reached = true;
                break;
            }
        }
        assert!(reached, "child never reached {point}");
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();

        let now = dd.current().unwrap().unwrap();
        if published {
            assert_ne!(now, before, "{point}: CURRENT was flipped before the kill");
        } else {
            assert_eq!(now, before, "{point}: CURRENT must not move");
        }
        let s = Snapshot::open(&dd).unwrap_or_else(|e| panic!("{point}: {e}"));
        assert_eq!(s.len(), 200, "{point}");
    }
    // A later load cleans up the crashed staging dirs and publishes.
    assert!(ingest_cmd(&data, &src).status().unwrap().success());
    let names: Vec<String> = std::fs::read_dir(data.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with(".staging")),
        "{names:?}"
    );
    assert_ne!(dd.current().unwrap().unwrap(), first);
}
