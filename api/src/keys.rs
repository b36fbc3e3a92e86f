//! API keys: minted by `cloutdesk keys create`, stored hashed in the data dir.
//!
//! ```text
//! DATA/keys.json    {"version": 1, "keys": [{"id", "name", "role", "org"|"creator", "sha256", "created_at"}]}
//! DATA/keys.lock    advisory lock taken by writers (create / revoke)
//! ```
//! A key is `cdk_<id>_<secret>`: `id` is 8 hex characters (public, shown by
//! `keys list`, used to revoke), `secret` 32 hex characters (128 random
//! bits from the OS). Only the sha256 of the whole key is stored; the key
//! itself is printed once, when minted.
//!
//! Invariants: keys.json is replaced atomically (temp file, fsync, rename,
//! fsync dir), so readers see the old or the new list, never half of one.
//! [`KeyRing`] re-reads the file when it changes (inode, size or mtime), so
//! a key minted or revoked while the server runs takes effect on the next
//! request, without a restart.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use cloutdesk_engine::schema::is_valid_id;
use cloutdesk_engine::storage::hex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const KEYS: &str = "keys.json";
const KEYS_TMP: &str = "keys.json.tmp";
const KEYS_LOCK: &str = "keys.lock";
const PREFIX: &str = "cdk_";

/// What a key may do. One role per key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Role {
    /// Everything: ingest, any org's campaigns, any creator.
    Admin,
    /// A marketer of one org: that org's campaigns and matches only.
    Marketer { org: String },
    /// One creator: their own profile (and feed) only.
    Creator { creator: String },
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Admin => write!(f, "admin"),
            Role::Marketer { org } => write!(f, "marketer of org {org}"),
            Role::Creator { creator } => write!(f, "creator {creator}"),
        }
    }
}

/// One stored key (never the key itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyEntry {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub role: Role,
    /// sha256 (hex) of the whole key string.
    pub sha256: String,
    /// Unix seconds.
    pub created_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct KeysFile {
    version: u32,
    keys: Vec<KeyEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: not a keys file: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> KeyError {
    KeyError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn read_keys(path: &Path) -> Result<Vec<KeyEntry>, KeyError> {
    match fs::read(path) {
        Ok(b) => {
            let f: KeysFile = serde_json::from_slice(&b).map_err(|e| KeyError::Format {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            if f.version != 1 {
                return Err(KeyError::Format {
                    path: path.to_path_buf(),
                    message: format!(
                        "version {} is not supported (this build reads 1)",
                        f.version
                    ),
                });
            }
            Ok(f.keys)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_err(path, e)),
    }
}

/// Read-modify-write of keys.json under the writer lock, replaced atomically.
fn update_keys<T>(
    data_dir: &Path,
    f: impl FnOnce(&mut Vec<KeyEntry>) -> Result<T, KeyError>,
) -> Result<T, KeyError> {
    fs::create_dir_all(data_dir).map_err(|e| io_err(data_dir, e))?;
    let lock_path = data_dir.join(KEYS_LOCK);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io_err(&lock_path, e))?;
    lock.lock().map_err(|e| io_err(&lock_path, e))?;
    let path = data_dir.join(KEYS);
    let mut keys = read_keys(&path)?;
    let out = f(&mut keys)?;
    let tmp = data_dir.join(KEYS_TMP);
    let body = serde_json::to_vec_pretty(&KeysFile { version: 1, keys }).expect("keys serialize");
    let mut file = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
    file.write_all(&body)
        .and_then(|_| file.sync_all())
        .map_err(|e| io_err(&tmp, e))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
    File::open(data_dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(data_dir, e))?;
    Ok(out)
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Mints a key with `role`; returns the stored entry and the key (shown once).
pub fn create_key(
    data_dir: &Path,
    role: Role,
    name: Option<String>,
) -> Result<(KeyEntry, String), KeyError> {
    match &role {
        Role::Admin => {}
        Role::Marketer { org } if !is_valid_id(org) => {
            return Err(KeyError::Invalid(format!(
                "org {org:?} is not an id (1-64 characters of [A-Za-z0-9._-])"
            )))
        }
        Role::Creator { creator } if !is_valid_id(creator) => {
            return Err(KeyError::Invalid(format!(
                "creator {creator:?} is not an id (1-64 characters of [A-Za-z0-9._-])"
            )))
        }
        _ => {}
    }
    let mut rnd = [0u8; 20];
    getrandom::fill(&mut rnd)
        .map_err(|e| KeyError::Invalid(format!("no randomness from the OS: {e}")))?;
    let id = hex(&rnd[..4]);
    let key = format!("{PREFIX}{id}_{}", hex(&rnd[4..]));
    let entry = KeyEntry {
        id,
        name,
        role,
        sha256: hex(&Sha256::digest(key.as_bytes())),
        created_at: now_unix(),
    };
    let e2 = entry.clone();
    update_keys(data_dir, move |keys| {
        if keys.iter().any(|k| k.id == e2.id) {
            return Err(KeyError::Invalid(
                "key id collision: run the command again".into(),
            ));
        }
        keys.push(e2);
        Ok(())
    })?;
    Ok((entry, key))
}

/// The stored keys (hashes, roles, names), oldest first.
pub fn list_keys(data_dir: &Path) -> Result<Vec<KeyEntry>, KeyError> {
    read_keys(&data_dir.join(KEYS))
}

/// Removes the key with this id; `false` if there was none.
pub fn revoke_key(data_dir: &Path, id: &str) -> Result<bool, KeyError> {
    update_keys(data_dir, |keys| {
        let n = keys.len();
        keys.retain(|k| k.id != id);
        Ok(keys.len() != n)
    })
}

#[derive(Debug, Clone, PartialEq)]
struct Stamp {
    ino: u64,
    len: u64,
    mtime: Option<std::time::SystemTime>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| Stamp {
        ino: m.ino(),
        len: m.len(),
        mtime: m.modified().ok(),
    })
}

#[derive(Debug, Default)]
struct Loaded {
    stamp: Option<Stamp>,
    by_hash: HashMap<[u8; 32], Role>,
}

/// The server's view of the keys: authenticates presented keys, reloading
/// keys.json whenever it changed on disk.
#[derive(Debug)]
pub struct KeyRing {
    path: PathBuf,
    loaded: RwLock<Loaded>,
}

fn load(path: &Path) -> Result<Loaded, KeyError> {
    let st = stamp(path);
    let mut by_hash = HashMap::new();
    for k in read_keys(path)? {
        let mut h = [0u8; 32];
        if k.sha256.len() != 64 {
            return Err(KeyError::Format {
                path: path.to_path_buf(),
                message: format!("key {}: sha256 is not 64 hex characters", k.id),
            });
        }
        for (i, b) in h.iter_mut().enumerate() {
            *b = u8::from_str_radix(&k.sha256[2 * i..2 * i + 2], 16).map_err(|_| {
                KeyError::Format {
                    path: path.to_path_buf(),
                    message: format!("key {}: sha256 is not hex", k.id),
                }
            })?;
        }
        by_hash.insert(h, k.role);
    }
    Ok(Loaded { stamp: st, by_hash })
}

impl KeyRing {
    /// Loads the data dir's keys (none yet is fine: every request is then 401).
    pub fn open(data_dir: &Path) -> Result<KeyRing, KeyError> {
        let path = data_dir.join(KEYS);
        let loaded = load(&path)?;
        Ok(KeyRing {
            path,
            loaded: RwLock::new(loaded),
        })
    }

    /// The role of a presented key, if it is a current key.
    pub fn authenticate(&self, presented: &str) -> Option<Role> {
        if !presented.starts_with(PREFIX) || presented.len() > 128 {
            return None;
        }
        let now = stamp(&self.path);
        let stale = self.loaded.read().unwrap_or_else(|p| p.into_inner()).stamp != now;
        if stale {
            // A broken file (hand-edited) keeps the last good keys.
            if let Ok(l) = load(&self.path) {
                *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = l;
            }
        }
        let h: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_hash
            .get(&h)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mint_authenticate_revoke() {
        let t = tempfile::tempdir().unwrap();
        let ring = KeyRing::open(t.path()).unwrap();
        assert_eq!(ring.authenticate("cdk_nothing"), None);
        let (e, key) = create_key(
            t.path(),
            Role::Marketer { org: "acme".into() },
            Some("ci".into()),
        )
        .unwrap();
        assert!(key.starts_with("cdk_"));
        assert!(!fs::read_to_string(t.path().join(KEYS))
            .unwrap()
            .contains(&key));
        assert_eq!(
            ring.authenticate(&key),
            Some(Role::Marketer { org: "acme".into() })
        );
        assert_eq!(ring.authenticate(&format!("{key}x")), None);
        let (_, admin) = create_key(t.path(), Role::Admin, None).unwrap();
        assert_eq!(ring.authenticate(&admin), Some(Role::Admin));
        assert_eq!(list_keys(t.path()).unwrap().len(), 2);
        assert!(revoke_key(t.path(), &e.id).unwrap());
        assert!(!revoke_key(t.path(), &e.id).unwrap());
        assert_eq!(ring.authenticate(&key), None);
        assert_eq!(ring.authenticate(&admin), Some(Role::Admin));
    }

    #[test]
    fn ids_in_roles_are_checked() {
        let t = tempfile::tempdir().unwrap();
        let e = create_key(t.path(), Role::Marketer { org: "a b".into() }, None).unwrap_err();
        assert!(e.to_string().contains("\"a b\""), "{e}");
    }
}

/// `cloutdesk keys ...`: mint, list and revoke API keys.
#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Admin,
    Marketer,
    Creator,
}

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Mint a key and print it (once: only its hash is stored).
    Create {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The org of a marketer key.
        #[arg(long)]
        org: Option<String>,
        /// The creator id of a creator key.
        #[arg(long)]
        creator: Option<String>,
        /// A label to recognise the key by in `keys list`.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the keys (ids, roles, names; never the keys).
    List {
        #[arg(long)]
        data: PathBuf,
    },
    /// Revoke a key by its id (takes effect on the server's next request).
    Revoke {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        id: String,
    },
}

/// Runs `cloutdesk keys ...`.
pub fn run_cli(a: &KeysArgs) -> anyhow::Result<()> {
    match &a.command {
        KeysCommand::Create {
            data,
            role,
            org,
            creator,
            name,
        } => {
            let role = match (role, org, creator) {
                (RoleArg::Admin, None, None) => Role::Admin,
                (RoleArg::Marketer, Some(o), None) => Role::Marketer { org: o.clone() },
                (RoleArg::Creator, None, Some(c)) => Role::Creator { creator: c.clone() },
                (RoleArg::Admin, _, _) => {
                    anyhow::bail!("--role admin takes neither --org nor --creator")
                }
                (RoleArg::Marketer, _, _) => {
                    anyhow::bail!("--role marketer needs --org ORG_ID (and no --creator)")
                }
                (RoleArg::Creator, _, _) => {
                    anyhow::bail!("--role creator needs --creator CREATOR_ID (and no --org)")
                }
            };
            let (e, key) = create_key(data, role, name.clone())?;
            eprintln!("created key {} ({}); it is shown only now:", e.id, e.role);
            println!("{key}");
            Ok(())
        }
        KeysCommand::List { data } => {
            for k in list_keys(data)? {
                println!(
                    "{}  {:<40} {}  created {}",
                    k.id,
                    k.role.to_string(),
                    k.name.as_deref().unwrap_or("-"),
                    k.created_at
                );
            }
            Ok(())
        }
        KeysCommand::Revoke { data, id } => {
            if revoke_key(data, id)? {
                println!("revoked {id}");
                Ok(())
            } else {
                anyhow::bail!("no key with id {id:?} in {}", data.display())
            }
        }
    }
}
