//! The durable campaign store: marketers' briefs, keyed by (org, campaign id).
//!
//! Storage is one checksummed, append-only log in the data dir:
//! ```text
//! DATA/campaigns/campaigns.log   one record per line: `<sha256 hex of JSON> <JSON>\n`
//! DATA/campaigns/LOCK            advisory lock held by the one writing process
//! ```
//! A record is `{"op":"put","org","id","at","rev","brief"}` or
//! `{"op":"del","org","id","at"}`; replaying the log in order gives the
//! store. Why a log of our own and not an embedded database (redb, sled):
//! the nightly re-rank runs as a separate process *while the server is up*
//! and must read the campaigns; embedded databases lock their file for one
//! process, while a log can be read by anyone at any moment (a reader just
//! ignores a half-written last line). Campaign writes are rare and small, so
//! a fsync per write and a full in-memory copy are cheap.
//!
//! Invariants:
//! - `put` and `delete` return only after the record is written and
//!   `fdatasync`ed, so anything acknowledged survives a kill -9 or a power
//!   cut. A crash mid-write leaves at most one torn last line, which the
//!   next writer truncates (and readers skip).
//! - A bad record *followed by good ones* is corruption, never silently
//!   dropped: opening fails and names the line.
//! - Compaction (when dead records outnumber live ones) writes a new log to a
//!   temp file, fsyncs it, renames it over the old one and fsyncs the
//!   directory: at every instant the log on disk is complete.
//! - One writer process at a time (the `LOCK` file); any number of readers
//!   ([`CampaignStore::open_read_only`]).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Subdirectory of the data dir that holds the store.
pub const STORE_DIR: &str = "campaigns";
const LOG: &str = "campaigns.log";
const LOG_TMP: &str = "campaigns.log.tmp";
const LOCK: &str = "LOCK";
/// Compaction starts when the log holds more than this many dead records
/// and more dead than live ones.
const COMPACT_MIN_DEAD: u64 = 256;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: line {line}: {message}; the campaign log is corrupt (a valid record follows the bad one), restore it from a backup")]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{0}: another process holds the campaign store for writing (is `cloutdesk serve` running?); readers use `CampaignStore::open_read_only`")]
    Locked(PathBuf),
    #[error("the campaign store at {0} was opened read-only")]
    ReadOnly(PathBuf),
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// One stored campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCampaign {
    pub org_id: String,
    pub campaign_id: String,
    /// The brief exactly as the marketer sent it (it was valid against the
    /// snapshot served when it was stored; callers re-validate before use).
    pub brief: Value,
    /// Unix seconds of the last create or replace.
    pub updated_at: i64,
    /// 1 when created, +1 on each replace.
    pub revision: u64,
}

impl StoredCampaign {
    /// The brief's `status` (absent means "open", as the contract extension says).
    pub fn status(&self) -> &str {
        self.brief
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("open")
    }
}

/// What a `put` did.
#[derive(Debug, Clone, PartialEq)]
pub struct PutOutcome {
    pub campaign: StoredCampaign,
    /// True when no campaign had this (org, id) before.
    pub created: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Record {
    Put {
        org: String,
        id: String,
        at: i64,
        rev: u64,
        brief: Value,
    },
    Del {
        org: String,
        id: String,
        at: i64,
    },
}

type Key = (String, String);

struct Writer {
    file: File,
    /// Records in the log file (live + dead).
    records: u64,
    _lock: File,
}

/// The campaign store. Reads are served from memory; writes go to the log
/// first, then to memory. Thread-safe; share it by reference or `Arc`.
pub struct CampaignStore {
    dir: PathBuf,
    map: RwLock<BTreeMap<Key, StoredCampaign>>,
    writer: Option<Mutex<Writer>>,
}

impl std::fmt::Debug for CampaignStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CampaignStore")
            .field("dir", &self.dir)
            .field("read_only", &self.writer.is_none())
            .finish_non_exhaustive()
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn encode(r: &Record) -> Vec<u8> {
    let json = serde_json::to_string(r).expect("records serialize");
    let sum = cloutdesk_engine::storage::hex_sha256(json.as_bytes());
    let mut line = Vec::with_capacity(json.len() + 66);
    line.extend_from_slice(sum.as_bytes());
    line.push(b' ');
    line.extend_from_slice(json.as_bytes());
    line.push(b'\n');
    line
}

fn decode(line: &[u8]) -> Result<Record, String> {
    if line.len() < 66 || line[64] != b' ' {
        return Err("not a `<sha256> <json>` record".into());
    }
    let (sum, json) = (&line[..64], &line[65..]);
    let found = cloutdesk_engine::storage::hex_sha256(json);
    if found.as_bytes() != sum {
        return Err("checksum mismatch".into());
    }
    serde_json::from_slice(json).map_err(|e| format!("bad record: {e}"))
}

/// Replays a log. Returns the store, the record count and, when the log
/// ends in a torn record, the byte offset where the valid part ends.
/// What a replay found: the campaigns, the record count, and the offset
/// where a torn tail starts (if any).
type Replayed = (BTreeMap<Key, StoredCampaign>, u64, Option<usize>);

fn replay(path: &Path, bytes: &[u8]) -> Result<Replayed, StoreError> {
    let mut map = BTreeMap::new();
    let mut records = 0u64;
    let mut pos = 0usize;
    let mut line_no = 0usize;
    let mut torn: Option<(usize, usize, String)> = None;
    while pos < bytes.len() {
        line_no += 1;
        let end = bytes[pos..].iter().position(|&b| b == b'\n');
        let (line, next) = match end {
            Some(e) => (&bytes[pos..pos + e], pos + e + 1),
            None => (&bytes[pos..], bytes.len()),
        };
        let rec = if end.is_none() {
            Err("incomplete last record (no newline)".to_string())
        } else {
            decode(line)
        };
        match rec {
            Ok(r) => {
                if let Some((at_line, _, msg)) = torn {
                    return Err(StoreError::Corrupt {
                        path: path.to_path_buf(),
                        line: at_line,
                        message: msg,
                    });
                }
                records += 1;
                match r {
                    Record::Put {
                        org,
                        id,
                        at,
                        rev,
                        brief,
                    } => {
                        map.insert(
                            (org.clone(), id.clone()),
                            StoredCampaign {
                                org_id: org,
                                campaign_id: id,
                                brief,
                                updated_at: at,
                                revision: rev,
                            },
                        );
                    }
                    Record::Del { org, id, .. } => {
                        map.remove(&(org, id));
                    }
                }
            }
            Err(msg) => {
                if torn.is_none() {
                    torn = Some((line_no, pos, msg));
                }
            }
        }
        pos = next;
    }
    Ok((map, records, torn.map(|t| t.1)))
}

fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))
}

impl CampaignStore {
    /// Opens the store of a data dir for reading and writing, creating it if
    /// needed. Takes the writer lock (fails with [`StoreError::Locked`] while
    /// another process, e.g. the server, holds it) and truncates a torn last
    /// record left by a crash.
    pub fn open(data_dir: &Path) -> Result<CampaignStore, StoreError> {
        let dir = data_dir.join(STORE_DIR);
        let created = !dir.exists();
        fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        if created {
            fsync_dir(data_dir)?;
        }
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_err(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(StoreError::Locked(lock_path)),
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path, e)),
        }
        let tmp = dir.join(LOG_TMP);
        if tmp.exists() {
            fs::remove_file(&tmp).map_err(|e| io_err(&tmp, e))?;
        }
        let path = dir.join(LOG);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err(&path, e)),
        };
        let (map, records, torn) = replay(&path, &bytes)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        if let Some(valid) = torn {
            file.set_len(valid as u64).map_err(|e| io_err(&path, e))?;
        }
        file.sync_all().map_err(|e| io_err(&path, e))?;
        fsync_dir(&dir)?;
        let store = CampaignStore {
            dir,
            map: RwLock::new(map),
            writer: Some(Mutex::new(Writer {
                file,
                records,
                _lock: lock,
            })),
        };
        store.maybe_compact()?;
        Ok(store)
    }

    /// Opens a consistent, read-only view of the store as it is now, without
    /// the writer lock: safe while the server is writing. A torn last record
    /// (a write in progress) is skipped. A missing store reads as empty.
    pub fn open_read_only(data_dir: &Path) -> Result<CampaignStore, StoreError> {
        let dir = data_dir.join(STORE_DIR);
        let path = dir.join(LOG);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err(&path, e)),
        };
        let (map, _, _) = replay(&path, &bytes)?;
        Ok(CampaignStore {
            dir,
            map: RwLock::new(map),
            writer: None,
        })
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(LOG)
    }

    fn append(&self, w: &mut Writer, r: &Record) -> Result<(), StoreError> {
        let path = self.log_path();
        w.file
            .write_all(&encode(r))
            .and_then(|_| w.file.sync_data())
            .map_err(|e| io_err(&path, e))?;
        w.records += 1;
        Ok(())
    }

    /// Creates or replaces the campaign (org, id); durable when it returns.
    pub fn put(&self, org: &str, id: &str, brief: Value) -> Result<PutOutcome, StoreError> {
        let writer = self
            .writer
            .as_ref()
            .ok_or_else(|| StoreError::ReadOnly(self.dir.clone()))?;
        let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
        let key = (org.to_string(), id.to_string());
        let prev_rev = self
            .map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .map(|c| c.revision);
        let at = now_unix();
        let rev = prev_rev.map_or(1, |r| r + 1);
        let rec = Record::Put {
            org: org.to_string(),
            id: id.to_string(),
            at,
            rev,
            brief,
        };
        self.append(&mut w, &rec)?;
        let Record::Put { brief, .. } = rec else {
            unreachable!()
        };
        let c = StoredCampaign {
            org_id: org.to_string(),
            campaign_id: id.to_string(),
            brief,
            updated_at: at,
            revision: rev,
        };
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, c.clone());
        drop(w);
        self.maybe_compact()?;
        Ok(PutOutcome {
            campaign: c,
            created: prev_rev.is_none(),
        })
    }

    /// Deletes the campaign; `false` if there was none. Durable when it returns.
    pub fn delete(&self, org: &str, id: &str) -> Result<bool, StoreError> {
        let writer = self
            .writer
            .as_ref()
            .ok_or_else(|| StoreError::ReadOnly(self.dir.clone()))?;
        let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
        let key = (org.to_string(), id.to_string());
        if !self
            .map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&key)
        {
            return Ok(false);
        }
        self.append(
            &mut w,
            &Record::Del {
                org: org.to_string(),
                id: id.to_string(),
                at: now_unix(),
            },
        )?;
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        drop(w);
        self.maybe_compact()?;
        Ok(true)
    }

    pub fn get(&self, org: &str, id: &str) -> Option<StoredCampaign> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(org.to_string(), id.to_string()))
            .cloned()
    }

    /// An org's campaigns in campaign-id order, starting after `after`
    /// (exclusive), at most `limit`; the bool says whether more follow.
    pub fn list_page(
        &self,
        org: &str,
        after: Option<&str>,
        limit: usize,
    ) -> (Vec<StoredCampaign>, bool) {
        use std::ops::Bound;
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let lo = match after {
            Some(a) => Bound::Excluded((org.to_string(), a.to_string())),
            None => Bound::Included((org.to_string(), String::new())),
        };
        let mut it = map
            .range((lo, Bound::Unbounded))
            .take_while(|((o, _), _)| o == org)
            .map(|(_, c)| c);
        let page: Vec<StoredCampaign> = it.by_ref().take(limit).cloned().collect();
        let more = it.next().is_some();
        (page, more)
    }

    /// All of an org's campaigns, in campaign-id order.
    pub fn list(&self, org: &str) -> Vec<StoredCampaign> {
        self.list_page(org, None, usize::MAX).0
    }

    /// Every campaign of every org, ordered by (org, campaign id).
    pub fn all(&self) -> Vec<StoredCampaign> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The campaigns the nightly re-rank takes: `(org_id, brief)` for every
    /// campaign whose brief `status` is "open" (or absent), ordered by
    /// (org, campaign id).
    pub fn all_open(&self) -> Vec<(String, Value)> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|c| c.status() == "open")
            .map(|c| (c.org_id.clone(), c.brief.clone()))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rewrites the log with only live records when dead ones dominate.
    fn maybe_compact(&self) -> Result<(), StoreError> {
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let live = map.len() as u64;
        let dead = w.records.saturating_sub(live);
        if dead <= COMPACT_MIN_DEAD || dead <= live {
            return Ok(());
        }
        let tmp = self.dir.join(LOG_TMP);
        let path = self.log_path();
        let mut buf = Vec::new();
        for c in map.values() {
            buf.extend_from_slice(&encode(&Record::Put {
                org: c.org_id.clone(),
                id: c.campaign_id.clone(),
                at: c.updated_at,
                rev: c.revision,
                brief: c.brief.clone(),
            }));
        }
        let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        f.write_all(&buf)
            .and_then(|_| f.sync_all())
            .map_err(|e| io_err(&tmp, e))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
        fsync_dir(&self.dir)?;
        w.file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        w.records = live;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn log_bytes(dir: &Path) -> Vec<u8> {
        fs::read(dir.join(STORE_DIR).join(LOG)).unwrap()
    }

    #[test]
    fn put_get_list_delete_and_reopen() {
        let t = tempfile::tempdir().unwrap();
        {
            let s = CampaignStore::open(t.path()).unwrap();
            assert!(s.put("a", "c1", json!({"x": 1})).unwrap().created);
            let o = s.put("a", "c1", json!({"x": 2})).unwrap();
            assert!(!o.created);
            assert_eq!(o.campaign.revision, 2);
            s.put("a", "c2", json!({"status": "closed"})).unwrap();
            s.put("b", "c1", json!({"x": 3})).unwrap();
            assert_eq!(s.list("a").len(), 2);
            assert_eq!(s.get("b", "c1").unwrap().brief, json!({"x": 3}));
            assert!(s.get("b", "c2").is_none());
            let (p, more) = s.list_page("a", None, 1);
            assert_eq!((p[0].campaign_id.as_str(), more), ("c1", true));
            let (p, more) = s.list_page("a", Some("c1"), 1);
            assert_eq!((p[0].campaign_id.as_str(), more), ("c2", false));
            assert!(s.delete("b", "c1").unwrap());
            assert!(!s.delete("b", "c1").unwrap());
            assert_eq!(
                s.all_open(),
                vec![("a".to_string(), json!({"x": 2}))],
                "closed campaigns are not open"
            );
            assert!(matches!(
                CampaignStore::open(t.path()),
                Err(StoreError::Locked(_))
            ));
            let ro = CampaignStore::open_read_only(t.path()).unwrap();
            assert_eq!(ro.len(), 2);
            assert!(matches!(
                ro.put("a", "c9", json!({})),
                Err(StoreError::ReadOnly(_))
            ));
        }
        let s = CampaignStore::open(t.path()).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s.get("a", "c1").unwrap().revision, 2);
        assert!(s.get("b", "c1").is_none());
    }

    #[test]
    fn a_torn_last_record_is_dropped_and_truncated() {
        let t = tempfile::tempdir().unwrap();
        {
            let s = CampaignStore::open(t.path()).unwrap();
            s.put("a", "c1", json!({"x": 1})).unwrap();
        }
        let good = log_bytes(t.path()).len();
        let mut torn = encode(&Record::Put {
            org: "a".into(),
            id: "c2".into(),
            at: 0,
            rev: 1,
            brief: json!({}),
        });
        torn.truncate(torn.len() - 5);
        let p = t.path().join(STORE_DIR).join(LOG);
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(&torn).unwrap();
        drop(f);
        assert_eq!(CampaignStore::open_read_only(t.path()).unwrap().len(), 1);
        let s = CampaignStore::open(t.path()).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(log_bytes(t.path()).len(), good);
        s.put("a", "c3", json!({})).unwrap();
        drop(s);
        assert_eq!(CampaignStore::open(t.path()).unwrap().len(), 2);
    }

    #[test]
    fn a_bad_record_in_the_middle_is_reported_with_its_line() {
        let t = tempfile::tempdir().unwrap();
        {
            let s = CampaignStore::open(t.path()).unwrap();
            s.put("a", "c1", json!({"x": 1})).unwrap();
            s.put("a", "c2", json!({"x": 2})).unwrap();
        }
        let p = t.path().join(STORE_DIR).join(LOG);
        let mut b = fs::read(&p).unwrap();
        b[70] ^= 0x01; // flip a bit inside the first record's JSON
        fs::write(&p, &b).unwrap();
        match CampaignStore::open(t.path()) {
            Err(StoreError::Corrupt { line, .. }) => assert_eq!(line, 1),
            other => panic!("expected corruption on line 1, got {other:?}"),
        }
    }

    #[test]
    fn compaction_keeps_exactly_the_live_campaigns() {
        let t = tempfile::tempdir().unwrap();
        let s = CampaignStore::open(t.path()).unwrap();
        for i in 0..400 {
            s.put("a", &format!("c{}", i % 3), json!({ "i": i }))
                .unwrap();
        }
        let lines = log_bytes(t.path()).iter().filter(|&&b| b == b'\n').count();
        assert!(lines < 400, "the log was compacted ({lines} lines)");
        drop(s);
        let s = CampaignStore::open(t.path()).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s.get("a", "c0").unwrap().brief, json!({"i": 399}));
        assert_eq!(s.get("a", "c0").unwrap().revision, 134);
    }
}
