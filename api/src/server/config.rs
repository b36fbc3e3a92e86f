//! The server's configuration: one plain struct, layered from embedded
//! defaults, then an optional TOML file, then `CLOUTDESK__<KEY>` environment
//! variables (e.g. `CLOUTDESK__MAX_CONCURRENT_MATCHES=8`), then the command
//! line's `--bind`.
//!
//! Invariant: an unknown key (in the file or the environment) or a bad value
//! is an error that names it; nothing is silently ignored.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Environment variable prefix of config overrides.
pub const ENV_PREFIX: &str = "CLOUTDESK__";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub bind: String,
    /// Longest time a request may take (all routes but `/v1/ingest`); then 503 `timeout`.
    pub request_timeout_ms: u64,
    /// Longest time `POST /v1/ingest` may take (upload + load + swap).
    pub ingest_timeout_ms: u64,
    /// Largest request body (all routes but `/v1/ingest`); larger: 413.
    pub max_body_bytes: u64,
    /// Largest `POST /v1/ingest` body (all files together).
    pub max_ingest_bytes: u64,
    /// Matches (and creator searches) in flight at once; one more: 429.
    /// They run on the rayon pool, so this is a bounded queue in front of it.
    pub max_concurrent_matches: usize,
    /// `Retry-After` seconds sent with a 429.
    pub retry_after_secs: u64,
    /// Page size when a list or search gives no `limit`.
    pub page_size_default: usize,
    /// Largest `limit` a list or search accepts (larger: 400).
    pub page_size_max: usize,
    /// Deepest position a ranked creator search pages to (offset + limit).
    pub search_max_depth: usize,
    /// On SIGTERM / Ctrl-C: how long requests in flight may still finish.
    pub shutdown_grace_ms: u64,
    /// How often to check the data dir for a snapshot published by another
    /// process (`cloutdesk ingest`) and swap it in; 0 turns it off.
    pub snapshot_poll_ms: u64,
    /// Published snapshots kept by `POST /v1/ingest`.
    pub ingest_keep: usize,
    /// Threads of `POST /v1/ingest`'s own rayon pool (0: half the cores,
    /// at least 1). Loads never run on the pool that serves matches, so a
    /// long load (the HNSW build) cannot starve requests.
    pub ingest_threads: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".into(),
            request_timeout_ms: 10_000,
            ingest_timeout_ms: 3_600_000,
            max_body_bytes: 1 << 20,
            max_ingest_bytes: 4 << 30,
            max_concurrent_matches: 64,
            retry_after_secs: 1,
            page_size_default: 50,
            page_size_max: 500,
            search_max_depth: 10_000,
            shutdown_grace_ms: 30_000,
            snapshot_poll_ms: 5_000,
            ingest_keep: 3,
            ingest_threads: 0,
        }
    }
}

fn to_table(c: &Config) -> toml::Table {
    match toml::Value::try_from(c).expect("config serializes") {
        toml::Value::Table(t) => t,
        _ => unreachable!("a struct serializes to a table"),
    }
}

impl Config {
    /// Threads for ingest's pool (resolves `ingest_threads = 0`).
    pub fn ingest_threads(&self) -> usize {
        if self.ingest_threads > 0 {
            self.ingest_threads
        } else {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            (cores / 2).max(1)
        }
    }

    /// Defaults, then `file` (if any), then the `CLOUTDESK__*` variables of
    /// `env` (pass `std::env::vars()`).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let mut t = to_table(&Config::default());
        if let Some(p) = file {
            let text = std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("config {}: cannot read: {e}", p.display()))?;
            let ft: toml::Table = toml::from_str(&text)
                .map_err(|e| anyhow::anyhow!("config {}: not valid TOML: {e}", p.display()))?;
            for (k, v) in ft {
                if !t.contains_key(&k) {
                    anyhow::bail!(
                        "config {}: unknown key `{k}` (known: {})",
                        p.display(),
                        known_keys()
                    );
                }
                t.insert(k, v);
            }
        }
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        env.sort();
        for (k, raw) in env {
            let key = k[ENV_PREFIX.len()..].to_ascii_lowercase();
            let Some(old) = t.get(&key) else {
                anyhow::bail!(
                    "environment variable {k}: unknown config key `{key}` (known: {})",
                    known_keys()
                );
            };
            let v = match old {
                toml::Value::String(_) => toml::Value::String(raw.clone()),
                _ => {
                    let parsed: toml::Table = toml::from_str(&format!("v = {raw}"))
                        .map_err(|_| anyhow::anyhow!("environment variable {k}: {raw:?} is not a value of the right type"))?;
                    parsed["v"].clone()
                }
            };
            t.insert(key, v);
        }
        let c: Config = toml::Value::Table(t)
            .try_into()
            .map_err(|e| anyhow::anyhow!("config: {e}"))?;
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let checks: [(bool, &str); 7] = [
            (
                self.max_concurrent_matches >= 1,
                "max_concurrent_matches must be at least 1",
            ),
            (self.page_size_max >= 1, "page_size_max must be at least 1"),
            (
                (1..=self.page_size_max).contains(&self.page_size_default),
                "page_size_default must be between 1 and page_size_max",
            ),
            (
                self.search_max_depth >= self.page_size_max,
                "search_max_depth must be at least page_size_max",
            ),
            (
                self.request_timeout_ms >= 1,
                "request_timeout_ms must be at least 1",
            ),
            (self.ingest_keep >= 1, "ingest_keep must be at least 1"),
            (
                self.max_body_bytes >= 1024,
                "max_body_bytes must be at least 1024",
            ),
        ];
        for (ok, msg) in checks {
            if !ok {
                anyhow::bail!("config: {msg}");
            }
        }
        Ok(())
    }
}

fn known_keys() -> String {
    to_table(&Config::default())
        .keys()
        .cloned()
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_defaults_file_env() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("c.toml");
        std::fs::write(&f, "max_concurrent_matches = 3\nbind = \"0.0.0.0:9\"\n").unwrap();
        let c = Config::load(
            Some(&f),
            [
                ("CLOUTDESK__PAGE_SIZE_MAX".to_string(), "700".to_string()),
                ("CLOUTDESK__BIND".to_string(), "127.0.0.1:1".to_string()),
                ("OTHER".to_string(), "x".to_string()),
            ],
        )
        .unwrap();
        assert_eq!(c.max_concurrent_matches, 3);
        assert_eq!(c.page_size_max, 700);
        assert_eq!(c.bind, "127.0.0.1:1");
        assert_eq!(c.request_timeout_ms, Config::default().request_timeout_ms);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("c.toml");
        std::fs::write(&f, "max_concurent_matches = 3\n").unwrap();
        let e = Config::load(Some(&f), []).unwrap_err().to_string();
        assert!(e.contains("max_concurent_matches"), "{e}");
        let e = Config::load(None, [("CLOUTDESK__NOPE".into(), "1".into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("CLOUTDESK__NOPE"), "{e}");
        let e = Config::load(None, [("CLOUTDESK__PAGE_SIZE_MAX".into(), "lots".into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("CLOUTDESK__PAGE_SIZE_MAX"), "{e}");
        let e = Config::load(None, [("CLOUTDESK__PAGE_SIZE_MAX".into(), "0".into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("page_size"), "{e}");
    }
}
