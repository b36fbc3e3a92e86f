//! The creators' declines: a durable, append-only log in the data dir
//! (`DATA/declines.jsonl`, one `{"creator_id", "campaign_id", "at"}` per
//! line).
//!
//! Invariant: `decline` returns only after the line is on disk (fsync), so
//! a declined item never comes back — not in the next re-rank, not in a
//! feed served after a crash. A line torn by a crash mid-append (no final
//! newline) is cut off when the log is opened; any other bad line is an
//! error naming the file and line.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context};
use cloutdesk_engine::schema::is_valid_id;
use serde::{Deserialize, Serialize};

pub const FILE: &str = "declines.jsonl";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decline {
    pub creator_id: String,
    pub campaign_id: String,
    /// Unix seconds.
    pub at: i64,
}

/// The decline log, loaded, and open for appending.
#[derive(Debug)]
pub struct DeclineLog {
    path: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    file: File,
    set: HashSet<(String, String)>,
}

/// Reads the log (without opening it for writing); a torn last line is
/// ignored. Returns the declined (creator_id, campaign_id) pairs.
pub fn read(data: &Path) -> anyhow::Result<HashSet<(String, String)>> {
    let p = data.join(FILE);
    match std::fs::read(&p) {
        Ok(bytes) => Ok(parse(&p, &bytes)?.0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashSet::new()),
        Err(e) => Err(anyhow!("{}: cannot read: {e}", p.display())),
    }
}

/// Parses the log; returns the pairs and the length of its complete lines.
fn parse(p: &Path, bytes: &[u8]) -> anyhow::Result<(HashSet<(String, String)>, usize)> {
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let text = std::str::from_utf8(&bytes[..complete])
        .with_context(|| format!("{}: not UTF-8", p.display()))?;
    let mut set = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let d: Decline = serde_json::from_str(line)
            .map_err(|e| anyhow!("{}:{}: not a decline record: {e}", p.display(), n + 1))?;
        set.insert((d.creator_id, d.campaign_id));
    }
    Ok((set, complete))
}

/// Pairs grouped by campaign: campaign_id -> creator ids.
pub fn by_campaign(set: &HashSet<(String, String)>) -> HashMap<&str, Vec<&str>> {
    let mut m: HashMap<&str, Vec<&str>> = HashMap::new();
    for (cr, ca) in set {
        m.entry(ca.as_str()).or_default().push(cr.as_str());
    }
    m
}

impl DeclineLog {
    /// Opens (creating) the log in `data`, cutting a torn last line.
    pub fn open(data: &Path) -> anyhow::Result<DeclineLog> {
        std::fs::create_dir_all(data)
            .with_context(|| format!("{}: cannot create", data.display()))?;
        let path = data.join(FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("{}: cannot open", path.display()))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let (set, complete) = parse(&path, &bytes)?;
        if complete < bytes.len() {
            file.set_len(complete as u64)
                .and_then(|_| file.sync_all())
                .with_context(|| format!("{}: cannot cut a torn line", path.display()))?;
        }
        file.seek(SeekFrom::End(0))
            .with_context(|| format!("{}: cannot seek", path.display()))?;
        Ok(DeclineLog {
            path,
            inner: Mutex::new(Inner { file, set }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a decline durably. Returns false when it was already there.
    pub fn decline(&self, creator_id: &str, campaign_id: &str) -> anyhow::Result<bool> {
        for (name, v) in [("creator_id", creator_id), ("campaign_id", campaign_id)] {
            if !is_valid_id(v) {
                bail!("{name}: {v:?} is not an id (1-64 characters of A-Z a-z 0-9 . _ -)");
            }
        }
        let mut g = self
            .inner
            .lock()
            .map_err(|_| anyhow!("decline log lock poisoned"))?;
        let key = (creator_id.to_string(), campaign_id.to_string());
        if g.set.contains(&key) {
            return Ok(false);
        }
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut line = serde_json::to_vec(&Decline {
            creator_id: key.0.clone(),
            campaign_id: key.1.clone(),
            at,
        })?;
        line.push(b'\n');
        g.file
            .write_all(&line)
            .and_then(|_| g.file.sync_data())
            .with_context(|| format!("{}: cannot append", self.path.display()))?;
        g.set.insert(key);
        Ok(true)
    }

    pub fn contains(&self, creator_id: &str, campaign_id: &str) -> bool {
        self.inner.lock().is_ok_and(|g| {
            g.set
                .contains(&(creator_id.to_string(), campaign_id.to_string()))
        })
    }

    /// A copy of every declined pair.
    pub fn pairs(&self) -> HashSet<(String, String)> {
        self.inner.lock().map(|g| g.set.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declines_survive_reopen_and_a_torn_line_is_cut() {
        let d = tempfile::tempdir().unwrap();
        let log = DeclineLog::open(d.path()).unwrap();
        assert!(log.decline("c-1", "cmp-1").unwrap());
        assert!(!log.decline("c-1", "cmp-1").unwrap());
        assert!(log.decline("c-2", "cmp-1").unwrap_or(false));
        assert!(log.decline("bad id!", "cmp-1").is_err());
        drop(log);
        // A crash mid-append leaves a partial line.
        let mut f = OpenOptions::new()
            .append(true)
            .open(d.path().join(FILE))
            .unwrap();
        f.write_all(b"{\"creator_id\":\"c-3\",\"camp").unwrap();
        drop(f);
        assert_eq!(read(d.path()).unwrap().len(), 2);
        let log = DeclineLog::open(d.path()).unwrap();
        assert!(log.contains("c-1", "cmp-1") && log.contains("c-2", "cmp-1"));
        assert!(log.decline("c-3", "cmp-9").unwrap());
        drop(log);
        let set = read(d.path()).unwrap();
        assert_eq!(set.len(), 3);
        assert!(set.contains(&("c-3".to_string(), "cmp-9".to_string())));
    }

    #[test]
    fn a_bad_line_names_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join(FILE),
            "{\"creator_id\":\"a\",\"campaign_id\":\"b\",\"at\":1}\nnope\n",
        )
        .unwrap();
        let e = read(d.path()).unwrap_err().to_string();
        assert!(e.contains("declines.jsonl:2"), "{e}");
    }
}
