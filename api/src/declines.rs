//! The creators' declines: a durable, append-only log in the data dir
//! (`DATA/declines.jsonl`, one `{"creator_id", "org_id", "campaign_id",
//! "at"}` per line).
//!
//! A campaign is (org_id, campaign_id): two orgs may use the same campaign
//! id, and declining one org's campaign must not hide the other's. A
//! record without `org_id` (older logs, or a decline of a campaign the
//! creator was never offered) declines that campaign id for every org:
//! the conservative reading, so an item once declined still never returns.
//!
//! Invariant: `decline` returns only after the line is on disk (fsync), so
//! a declined item never comes back — not in the next re-rank, not in a
//! feed served after a crash. A line torn by a crash mid-append (no final
//! newline) is cut off when the log is opened; any other bad line is an
//! error naming the file and line.

use std::collections::HashMap;
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
    /// The campaign's org; absent: every org's campaign of that id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    pub campaign_id: String,
    /// Unix seconds.
    pub at: i64,
}

/// The declined items: campaign id -> creator id -> the orgs whose
/// campaign of that id the creator declined (`None`: every org's). Two
/// map lookups answer [`Declined::contains`], however many creators
/// declined a campaign.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declined {
    by_campaign: HashMap<String, HashMap<String, Vec<Option<String>>>>,
    len: usize,
}

/// Whether a decline for `declined` covers org `org`.
fn covers(declined: &Option<String>, org: &str) -> bool {
    declined.as_deref().is_none_or(|o| o == org)
}

impl Declined {
    fn orgs(&self, creator: &str, campaign: &str) -> &[Option<String>] {
        self.by_campaign
            .get(campaign)
            .and_then(|m| m.get(creator))
            .map_or(&[], Vec::as_slice)
    }

    /// Whether creator `creator` declined org `org`'s campaign `campaign`
    /// (by a decline of that org's, or of every org's, campaign of that id).
    pub fn contains(&self, creator: &str, org: &str, campaign: &str) -> bool {
        self.orgs(creator, campaign).iter().any(|o| covers(o, org))
    }

    /// The creators who declined org `org`'s campaign `campaign`.
    pub fn creators_of<'a>(
        &'a self,
        org: &'a str,
        campaign: &str,
    ) -> impl Iterator<Item = &'a str> {
        self.by_campaign
            .get(campaign)
            .into_iter()
            .flatten()
            .filter(move |(_, orgs)| orgs.iter().any(|o| covers(o, org)))
            .map(|(c, _)| c.as_str())
    }

    /// Whether [`Self::insert`] would add the record.
    fn adds(&self, creator: &str, org: Option<&str>, campaign: &str) -> bool {
        !self
            .orgs(creator, campaign)
            .iter()
            .any(|o| o.is_none() || o.as_deref() == org)
    }

    /// Adds a record; false when it adds nothing (the same record, or the
    /// campaign already declined for every org).
    fn insert(&mut self, creator: &str, org: Option<&str>, campaign: &str) -> bool {
        if !self.adds(creator, org, campaign) {
            return false;
        }
        self.by_campaign
            .entry(campaign.to_string())
            .or_default()
            .entry(creator.to_string())
            .or_default()
            .push(org.map(str::to_string));
        self.len += 1;
        true
    }

    /// Records held (a record for every org counts once).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
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
    set: Declined,
}

/// Reads the log (without opening it for writing); a torn last line is
/// ignored.
pub fn read(data: &Path) -> anyhow::Result<Declined> {
    let p = data.join(FILE);
    match std::fs::read(&p) {
        Ok(bytes) => Ok(parse(&p, &bytes)?.0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Declined::default()),
        Err(e) => Err(anyhow!("{}: cannot read: {e}", p.display())),
    }
}

/// Parses the log; returns the records and the length of its complete
/// lines.
fn parse(p: &Path, bytes: &[u8]) -> anyhow::Result<(Declined, usize)> {
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let text = std::str::from_utf8(&bytes[..complete])
        .with_context(|| format!("{}: not UTF-8", p.display()))?;
    let mut set = Declined::default();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let d: Decline = serde_json::from_str(line)
            .map_err(|e| anyhow!("{}:{}: not a decline record: {e}", p.display(), n + 1))?;
        set.insert(&d.creator_id, d.org_id.as_deref(), &d.campaign_id);
    }
    Ok((set, complete))
}

impl DeclineLog {
    /// Opens (creating) the log in `data`, cutting a torn last line.
    pub fn open(data: &Path) -> anyhow::Result<DeclineLog> {
        std::fs::create_dir_all(data)
            .with_context(|| format!("{}: cannot create", data.display()))?;
        let path = data.join(FILE);
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("{}: cannot open", path.display()))?;
        if !existed {
            // The new file's entry in its directory is made durable too, so
            // a decline acknowledged after a crash of the machine is not in a
            // file the directory forgot.
            file.sync_all()
                .with_context(|| format!("{}: cannot sync", path.display()))?;
            cloutdesk_engine::storage::fsync_dir(data)?;
        }
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

    /// Records a decline durably: of org `org`'s campaign, or with `None`
    /// of every org's campaign of that id. Returns false when it adds
    /// nothing (already declined).
    pub fn decline(
        &self,
        creator_id: &str,
        org_id: Option<&str>,
        campaign_id: &str,
    ) -> anyhow::Result<bool> {
        for (name, v) in [
            ("creator_id", creator_id),
            ("org_id", org_id.unwrap_or("-")),
            ("campaign_id", campaign_id),
        ] {
            if !is_valid_id(v) {
                bail!("{name}: {v:?} is not an id (1-64 characters of A-Z a-z 0-9 . _ -)");
            }
        }
        let mut g = self
            .inner
            .lock()
            .map_err(|_| anyhow!("decline log lock poisoned"))?;
        if !g.set.adds(creator_id, org_id, campaign_id) {
            return Ok(false);
        }
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut line = serde_json::to_vec(&Decline {
            creator_id: creator_id.to_string(),
            org_id: org_id.map(str::to_string),
            campaign_id: campaign_id.to_string(),
            at,
        })?;
        line.push(b'\n');
        g.file
            .write_all(&line)
            .and_then(|_| g.file.sync_data())
            .with_context(|| format!("{}: cannot append", self.path.display()))?;
        g.set.insert(creator_id, org_id, campaign_id);
        Ok(true)
    }

    pub fn contains(&self, creator_id: &str, org_id: &str, campaign_id: &str) -> bool {
        self.inner
            .lock()
            .is_ok_and(|g| g.set.contains(creator_id, org_id, campaign_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declines_survive_reopen_and_a_torn_line_is_cut() {
        let d = tempfile::tempdir().unwrap();
        let log = DeclineLog::open(d.path()).unwrap();
        assert!(log.decline("c-1", Some("org-a"), "cmp-1").unwrap());
        assert!(!log.decline("c-1", Some("org-a"), "cmp-1").unwrap());
        assert!(log.decline("c-2", None, "cmp-1").unwrap_or(false));
        assert!(log.decline("bad id!", None, "cmp-1").is_err());
        assert!(log.decline("c-1", Some("bad org!"), "cmp-1").is_err());
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
        assert!(log.contains("c-1", "org-a", "cmp-1") && log.contains("c-2", "org-z", "cmp-1"));
        assert!(log.decline("c-3", None, "cmp-9").unwrap());
        drop(log);
        let set = read(d.path()).unwrap();
        assert_eq!(set.len(), 3);
        assert!(set.contains("c-3", "any-org", "cmp-9"));
    }

    #[test]
    fn a_decline_is_of_one_orgs_campaign_unless_it_names_none() {
        let d = tempfile::tempdir().unwrap();
        let log = DeclineLog::open(d.path()).unwrap();
        assert!(log.decline("c-1", Some("org-a"), "spring").unwrap());
        // Org b's campaign of the same id is still offered.
        assert!(log.contains("c-1", "org-a", "spring"));
        assert!(!log.contains("c-1", "org-b", "spring"));
        assert!(!log.contains("c-2", "org-a", "spring"));
        // A decline without org covers every org; after it, an org's
        // decline of the same id adds nothing.
        assert!(log.decline("c-1", None, "spring").unwrap());
        assert!(log.contains("c-1", "org-b", "spring"));
        assert!(!log.decline("c-1", Some("org-c"), "spring").unwrap());
        drop(log);
        let set = read(d.path()).unwrap();
        assert_eq!(set.len(), 2);
        let mut who: Vec<&str> = set.creators_of("org-b", "spring").collect();
        who.sort_unstable();
        assert_eq!(who, ["c-1"]);
        assert_eq!(set.creators_of("org-b", "autumn").count(), 0);
        // Old records (no org_id) still load, as declines of every org.
        std::fs::write(
            d.path().join(FILE),
            "{\"creator_id\":\"c-9\",\"campaign_id\":\"x\",\"at\":1}\n",
        )
        .unwrap();
        assert!(read(d.path()).unwrap().contains("c-9", "org-q", "x"));
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
