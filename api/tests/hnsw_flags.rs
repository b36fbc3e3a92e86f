//! `--hnsw-m` and `--hnsw-ef-construction` on `ingest` and `index-vectors`:
//! the graph is built with them and the manifest records them; values
//! out of range are refused with a message naming the flag, and nothing
//! is published.

use std::path::Path;
use std::process::Command;

use cloutdesk_engine::storage::DataDir;
use cloutdesk_ingest::contract::FileFormat;
use cloutdesk_ingest::generate::{generate_world, write_world, GenConfig};

fn cloutdesk(args: &[&str], data: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cloutdesk"))
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap()
}

fn graph_params(data: &Path) -> (usize, usize) {
    let d = DataDir::open(data).unwrap();
    let id = d.current().unwrap().unwrap();
    let v = d.manifest(&id).unwrap().vector_index.unwrap();
    (v.max_nb_connection, v.ef_construction)
}

#[test]
fn graph_flags_reach_the_graph_and_bad_values_publish_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let cfg = GenConfig {
        creators: 600,
        briefs: 2,
        seed: 3,
        format: FileFormat::Csv,
        embedding_dim: None,
    };
    write_world(&generate_world(&cfg), &cfg, &src).unwrap();
    let data = tmp.path().join("data");
    let creators = src.join("creators.csv");
    let creators = creators.to_str().unwrap();
    // Refused before anything is read or written.
    let out = cloutdesk(
        &[
            "ingest",
            "--creators",
            creators,
            "--hnsw-ef-construction",
            "0",
        ],
        &data,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--hnsw-ef-construction"), "{err}");
    assert!(!data.exists());
    // Built with the flags, recorded in the manifest.
    let out = cloutdesk(
        &[
            "ingest",
            "--creators",
            creators,
            "--vector-index",
            "always",
            "--hnsw-m",
            "8",
            "--hnsw-ef-construction",
            "24",
        ],
        &data,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(graph_params(&data), (8, 24));
    // index-vectors: a bad M publishes nothing; a good one a new graph.
    let before = DataDir::open(&data).unwrap().current().unwrap();
    let out = cloutdesk(&["index-vectors", "--hnsw-m", "1"], &data);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--hnsw-m 1"));
    assert_eq!(DataDir::open(&data).unwrap().current().unwrap(), before);
    let out = cloutdesk(&["index-vectors", "--hnsw-m", "12"], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(DataDir::open(&data).unwrap().current().unwrap(), before);
    // ef_construction falls back to the default when not given.
    assert_eq!(
        graph_params(&data),
        (
            12,
            cloutdesk_engine::ann::HnswParams::default().ef_construction
        )
    );
}
