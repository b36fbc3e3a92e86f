//! Snapshot storage: the one module of this crate that touches the filesystem.
//!
//! Layout of a data dir:
//! ```text
//! DATA/CURRENT                 one line: the id of the published snapshot
//! DATA/snapshots/v000007/      an immutable snapshot (manifest.json, *.arrow,
//!                              text/ (tantivy), hnsw/ (hnsw_rs dump), rejects.jsonl)
//! DATA/snapshots/.staging-*    a snapshot being written (never read)
//! DATA/.lock                   advisory lock held by the one writer
//! ```
//! Invariant: a snapshot directory is complete and fsynced before it gets
//! its final name, and CURRENT is replaced by an atomic rename of a fsynced
//! file; so after a crash at any instant CURRENT names a complete snapshot
//! (or does not exist yet), and readers never see a half-written one.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const FORMAT_VERSION: u32 = 1;
const CURRENT: &str = "CURRENT";
const SNAPSHOTS: &str = "snapshots";
/// Name prefix of a version being written (never read).
pub const STAGING_PREFIX: &str = ".staging-";
const MANIFEST: &str = "manifest.json";

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("table `{table}`: {message}")]
    Schema { table: String, message: String },
    #[error(
        "{path}: checksum mismatch (expected {expected}, found {found}): the snapshot is corrupt"
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("no snapshot published in {0} yet: run `cloutdesk ingest` first")]
    NoSnapshot(PathBuf),
    #[error("{path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("another writer holds {0}")]
    Locked(PathBuf),
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> StorageError {
    StorageError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// One table file of a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableEntry {
    pub file: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
    /// `name: type` per column.
    pub schema: Vec<String>,
}

/// A source file a snapshot was built from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceEntry {
    pub kind: String,
    pub path: String,
    pub sha256: String,
    pub rows_read: u64,
    pub rows_rejected: u64,
}

fn hnsw_rs_builder() -> String {
    "hnsw_rs".into()
}

/// The vector index that ships with a snapshot, if any.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VectorIndexEntry {
    pub kind: String,
    pub dir: String,
    pub basename: String,
    pub max_nb_connection: usize,
    pub ef_construction: usize,
    /// Who built the graph (`native`: [`crate::hnsw_build`]; `hnsw_rs`);
    /// hnsw_rs loads and searches it either way. Manifests written before
    /// the field: `hnsw_rs`.
    #[serde(default = "hnsw_rs_builder")]
    pub builder: String,
    pub points: u64,
    pub build_secs: f64,
    /// recall@10 against exact search on a sample of queries.
    pub recall_at_10: Option<f64>,
}

/// What a snapshot holds; written last, read first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub id: String,
    pub version: u64,
    pub parent: Option<String>,
    pub created_at_unix: i64,
    /// Day (since 1970-01-01) that recency and payment delays are measured at.
    pub as_of_day: i32,
    pub tables: BTreeMap<String, TableEntry>,
    pub sources: Vec<SourceEntry>,
    pub text_index: Option<String>,
    pub vector_index: Option<VectorIndexEntry>,
    pub vector_dim: usize,
    pub vectors_user_supplied: bool,
    pub rejects_file: Option<String>,
    pub rejected_rows: u64,
    pub duplicate_creator_rows: u64,
    pub stats: BTreeMap<String, f64>,
}

/// A data directory holding versioned snapshots.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Opens a data dir. Nothing is created here (a reader of a mistyped
    /// path must not leave directories behind; [`DataDir::begin`] creates
    /// what a writer needs), and a snapshot's own directory, or the
    /// `snapshots` directory, is refused: a load into either would write
    /// inside published data.
    pub fn open(root: impl Into<PathBuf>) -> Result<DataDir, StorageError> {
        let root = root.into();
        let wrong = |message: String| StorageError::Manifest {
            path: root.clone(),
            message,
        };
        if root.join(MANIFEST).is_file() {
            return Err(wrong(format!(
                "this is a snapshot's directory, not a data dir: pass the data dir that holds \
                 `{SNAPSHOTS}/` and `{CURRENT}` ({})",
                root.parent()
                    .and_then(Path::parent)
                    .map_or_else(|| "two levels up".into(), |p| p.display().to_string())
            )));
        }
        let parent = root.parent().filter(|p| !p.as_os_str().is_empty());
        if root.file_name().is_some_and(|n| n == SNAPSHOTS)
            && parent.is_some_and(|p| p.join(CURRENT).is_file())
        {
            return Err(wrong(format!(
                "this is the `{SNAPSHOTS}` directory of a data dir: pass the data dir itself ({})",
                parent.map_or_else(String::new, |p| p.display().to_string())
            )));
        }
        if root.exists() && !root.is_dir() {
            return Err(wrong("is not a directory".into()));
        }
        Ok(DataDir { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The published snapshot's id, if any.
    pub fn current(&self) -> Result<Option<String>, StorageError> {
        let p = self.root.join(CURRENT);
        match fs::read_to_string(&p) {
            Ok(s) => {
                let id = s.trim().to_string();
                if id.is_empty() || !crate::schema::is_valid_id(&id) {
                    return Err(StorageError::Manifest {
                        path: p,
                        message: format!("CURRENT holds {id:?}, not a snapshot id"),
                    });
                }
                Ok(Some(id))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&p, e)),
        }
    }

    pub fn snapshot_dir(&self, id: &str) -> PathBuf {
        self.root.join(SNAPSHOTS).join(id)
    }

    /// Published snapshot ids, oldest first.
    pub fn snapshots(&self) -> Result<Vec<(u64, String)>, StorageError> {
        let dir = self.root.join(SNAPSHOTS);
        let mut out = Vec::new();
        if !dir.exists() {
            return Ok(out);
        }
        for e in fs::read_dir(&dir).map_err(|e| io_err(&dir, e))? {
            let e = e.map_err(|e| io_err(&dir, e))?;
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(v) = version_of(&name, 'v') {
                out.push((v, name));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Reads and parses a snapshot's manifest.
    pub fn manifest(&self, id: &str) -> Result<Manifest, StorageError> {
        let p = self.snapshot_dir(id).join(MANIFEST);
        let bytes = fs::read(&p).map_err(|e| io_err(&p, e))?;
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| StorageError::Manifest {
            path: p.clone(),
            message: e.to_string(),
        })?;
        if m.format != FORMAT_VERSION {
            return Err(StorageError::Manifest {
                path: p,
                message: format!(
                    "format {} is not supported (this build reads {FORMAT_VERSION})",
                    m.format
                ),
            });
        }
        Ok(m)
    }

    /// Takes the writer lock and starts a new snapshot in a staging dir.
    /// Staging dirs left behind by a crashed writer are removed first.
    pub fn begin(&self) -> Result<SnapshotWriter, StorageError> {
        let snaps = self.root.join(SNAPSHOTS);
        fs::create_dir_all(&snaps).map_err(|e| io_err(&snaps, e))?;
        let lock_path = self.root.join(".lock");
        let lock = lock_writer(&lock_path)?.ok_or(StorageError::Locked(lock_path))?;
        let current = self.current()?.and_then(|c| version_of(&c, 'v'));
        let version = clear_unpublished(&snaps, 'v', current)? + 1;
        let id = format!("v{version:06}");
        let dir = snaps.join(format!("{STAGING_PREFIX}{id}"));
        fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        Ok(SnapshotWriter {
            data: self.clone(),
            dir,
            id,
            version,
            tables: BTreeMap::new(),
            published: false,
            _lock: lock,
        })
    }

    /// Removes published snapshots beyond the newest `keep` (never CURRENT).
    pub fn prune(&self, keep: usize) -> Result<Vec<String>, StorageError> {
        let current = self.current()?;
        let snaps = self.snapshots()?;
        let mut removed = Vec::new();
        let cut = snaps.len().saturating_sub(keep.max(1));
        for (_, id) in &snaps[..cut] {
            if Some(id) == current.as_ref() {
                continue;
            }
            let d = self.snapshot_dir(id);
            fs::remove_dir_all(&d).map_err(|e| io_err(&d, e))?;
            removed.push(id.clone());
        }
        Ok(removed)
    }

    /// Reads a table of a published snapshot, verifying its checksum.
    pub fn read_table(&self, id: &str, entry: &TableEntry) -> Result<RecordBatch, StorageError> {
        let p = self.snapshot_dir(id).join(&entry.file);
        read_ipc(&p, Some(&entry.sha256))
    }
}

/// Writes one snapshot; dropping it without `publish` leaves CURRENT as it was.
#[derive(Debug)]
pub struct SnapshotWriter {
    data: DataDir,
    dir: PathBuf,
    id: String,
    version: u64,
    tables: BTreeMap<String, TableEntry>,
    published: bool,
    _lock: File,
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        if !self.published {
            // Best effort: a failed load leaves nothing behind (and the next
            // writer removes any staging dir a crash left).
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl SnapshotWriter {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// The staging directory (for the text and vector indexes to write into).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn data_dir(&self) -> &DataDir {
        &self.data
    }

    /// Writes a table as an Arrow IPC file `<name>.arrow`.
    pub fn write_table(&mut self, name: &str, batch: &RecordBatch) -> Result<(), StorageError> {
        let file = format!("{name}.arrow");
        let p = self.dir.join(&file);
        // Streamed to the file through the checksum (no in-memory copy of
        // the whole file: at 1M creators that copy was the load's peak).
        let f = File::create(&p).map_err(|e| io_err(&p, e))?;
        let mut out = HashingWriter {
            inner: std::io::BufWriter::with_capacity(1 << 20, f),
            hasher: Sha256::new(),
            bytes: 0,
        };
        {
            let mut w = arrow_ipc::writer::FileWriter::try_new(&mut out, &batch.schema())
                .map_err(|e| io_err(&p, e))?;
            w.write(batch).map_err(|e| io_err(&p, e))?;
            w.finish().map_err(|e| io_err(&p, e))?;
        }
        let HashingWriter {
            inner,
            hasher,
            bytes,
        } = out;
        let f = inner.into_inner().map_err(|e| io_err(&p, e.into_error()))?;
        f.sync_all().map_err(|e| io_err(&p, e))?;
        let sha = hex(&hasher.finalize());
        let schema = batch
            .schema()
            .fields()
            .iter()
            .map(|f| format!("{}: {}", f.name(), f.data_type()))
            .collect();
        self.tables.insert(
            name.to_string(),
            TableEntry {
                file,
                rows: batch.num_rows() as u64,
                bytes,
                sha256: sha,
                schema,
            },
        );
        Ok(())
    }

    /// Brings every file of published snapshot `from` into this one (hard
    /// links where the filesystem allows, else copies), with its table
    /// entries; used to add an index without rewriting the tables.
    pub fn adopt(&mut self, from: &str, manifest: &Manifest) -> Result<(), StorageError> {
        let src = self.data.snapshot_dir(from);
        copy_tree(&src, &self.dir)?;
        let _ = fs::remove_file(self.dir.join(MANIFEST));
        self.tables = manifest.tables.clone();
        Ok(())
    }

    /// Writes an auxiliary file (e.g. `rejects.jsonl`).
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
        write_synced(&self.dir.join(name), bytes)
    }

    pub fn tables(&self) -> &BTreeMap<String, TableEntry> {
        &self.tables
    }

    /// Writes the manifest, fsyncs everything, renames the staging dir to
    /// its final name and flips CURRENT. Returns the published id.
    pub fn publish(mut self, mut manifest: Manifest, keep: usize) -> Result<String, StorageError> {
        crate::failpoint("before_manifest");
        manifest.format = FORMAT_VERSION;
        manifest.id = self.id.clone();
        manifest.version = self.version;
        manifest.tables = self.tables.clone();
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| io_err(&self.dir, e))?;
        write_synced(&self.dir.join(MANIFEST), &json)?;
        fsync_tree(&self.dir)?;
        crate::failpoint("before_rename");
        let final_dir = self.data.snapshot_dir(&self.id);
        fs::rename(&self.dir, &final_dir).map_err(|e| io_err(&final_dir, e))?;
        self.published = true;
        fsync_dir(&self.data.root.join(SNAPSHOTS))?;
        crate::failpoint("before_current");
        let tmp = self.data.root.join("CURRENT.tmp");
        write_synced(&tmp, format!("{}\n", self.id).as_bytes())?;
        let cur = self.data.root.join(CURRENT);
        fs::rename(&tmp, &cur).map_err(|e| io_err(&cur, e))?;
        fsync_dir(&self.data.root)?;
        crate::failpoint("after_current");
        self.data.prune(keep)?;
        Ok(self.id.clone())
    }
}

/// A writer that hashes (sha256) and counts what passes through it.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A file written a part at a time through a buffer and the checksum,
/// then fsynced ([`SyncedFile::finish`]); errors name the path. Lets a
/// writer stream what it produces instead of holding all of it in memory.
pub struct SyncedFile {
    path: PathBuf,
    out: HashingWriter<std::io::BufWriter<File>>,
}

impl SyncedFile {
    pub fn create(p: &Path) -> Result<SyncedFile, StorageError> {
        let f = File::create(p).map_err(|e| io_err(p, e))?;
        Ok(SyncedFile {
            path: p.to_path_buf(),
            out: HashingWriter {
                inner: std::io::BufWriter::with_capacity(1 << 20, f),
                hasher: Sha256::new(),
                bytes: 0,
            },
        })
    }

    pub fn write(&mut self, part: &[u8]) -> Result<(), StorageError> {
        self.out.write_all(part).map_err(|e| io_err(&self.path, e))
    }

    /// Flushes and fsyncs the file; returns its size and sha256 (hex).
    pub fn finish(self) -> Result<(u64, String), StorageError> {
        let SyncedFile { path, out } = self;
        let HashingWriter {
            inner,
            hasher,
            bytes,
        } = out;
        let f = inner
            .into_inner()
            .map_err(|e| io_err(&path, e.into_error()))?;
        f.sync_all().map_err(|e| io_err(&path, e))?;
        Ok((bytes, hex(&hasher.finalize())))
    }
}

/// Writes `parts` one after the other into file `p` through a buffer and
/// the checksum (never joined in memory) and fsyncs it; returns the
/// file's size and sha256 (hex). Errors name the path.
pub fn write_synced_parts<B: AsRef<[u8]>>(
    p: &Path,
    parts: &[B],
) -> Result<(u64, String), StorageError> {
    let mut f = SyncedFile::create(p)?;
    for part in parts {
        f.write(part.as_ref())?;
    }
    f.finish()
}

/// Writes a file and fsyncs it (errors name the path).
pub fn write_synced(p: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let mut f = File::create(p).map_err(|e| io_err(p, e))?;
    f.write_all(bytes).map_err(|e| io_err(p, e))?;
    f.sync_all().map_err(|e| io_err(p, e))
}

fn copy_tree(src: &Path, dst: &Path) -> Result<(), StorageError> {
    fs::create_dir_all(dst).map_err(|e| io_err(dst, e))?;
    for e in fs::read_dir(src).map_err(|e| io_err(src, e))? {
        let e = e.map_err(|e| io_err(src, e))?;
        let (from, to) = (e.path(), dst.join(e.file_name()));
        if e.file_type().map_err(|err| io_err(&from, err))?.is_dir() {
            copy_tree(&from, &to)?;
        } else if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to).map_err(|err| io_err(&to, err))?;
        }
    }
    Ok(())
}

/// fsyncs a directory, so the renames and creations in it are durable.
pub fn fsync_dir(p: &Path) -> Result<(), StorageError> {
    File::open(p)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_err(p, e))
}

/// fsyncs every file and directory below `p` (tantivy and hnsw_rs write
/// their own files; we make them durable before publishing).
fn fsync_tree(p: &Path) -> Result<(), StorageError> {
    for e in fs::read_dir(p).map_err(|e| io_err(p, e))? {
        let e = e.map_err(|e| io_err(p, e))?;
        let path = e.path();
        let ft = e.file_type().map_err(|err| io_err(&path, err))?;
        if ft.is_dir() {
            fsync_tree(&path)?;
        } else if ft.is_file() {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|err| io_err(&path, err))?;
        }
    }
    fsync_dir(p)
}

/// Lower-case hex of bytes (digests in manifests, logs and key files).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

pub fn hex_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// sha256 of a file's contents, streamed.
pub fn file_sha256(p: &Path) -> Result<String, StorageError> {
    let mut f = File::open(p).map_err(|e| io_err(p, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| io_err(p, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Reads an Arrow IPC file into one batch, checking its sha256 if given.
///
/// A large file is mapped, not read ([`map_file`]), and its arrays are
/// decoded in place (zero-copy: they point into the mapping, which lives
/// as long as they do). Reading it into a buffer first cost a copy out of
/// the page cache and, worse on a VM, a fresh page for every 4 KiB of it
/// (850 MB at 1M creators); `FileReader` even copied every block into a
/// second, zeroed buffer. The checksum is verified before decoding: the
/// decoder trusts the offsets it reads and panics on corrupt ones.
pub fn read_ipc(p: &Path, sha256: Option<&str>) -> Result<RecordBatch, StorageError> {
    let file = File::open(p).map_err(|e| io_err(p, e))?;
    let len = file.metadata().map_err(|e| io_err(p, e))?.len();
    // A file system that cannot map files (some network or FUSE ones)
    // gets the file read instead.
    let mapped = (len >= MAP_AT_LEAST)
        .then(|| map_file(&file).ok())
        .flatten();
    let buf = match mapped {
        Some(map) => arrow_buffer::Buffer::from(bytes::Bytes::from_owner(map)),
        None => {
            let mut bytes = Vec::with_capacity(len as usize);
            (&file).read_to_end(&mut bytes).map_err(|e| io_err(p, e))?;
            arrow_buffer::Buffer::from_vec(bytes)
        }
    };
    if let Some(expected) = sha256 {
        let found = hex_sha256(&buf);
        if found != expected {
            return Err(StorageError::Checksum {
                path: p.to_path_buf(),
                expected: expected.to_string(),
                found,
            });
        }
    }
    decode_ipc_file(&buf).map_err(|e| io_err(p, e))
}

/// Files at least this large are mapped by [`read_ipc`]; smaller ones are
/// read (a mapping costs a few system calls and page-table updates).
const MAP_AT_LEAST: u64 = 1 << 20;

/// A read-only mapping of `file`, its pages mapped up front
/// (`MAP_POPULATE`: one call instead of a fault per 4 KiB).
///
/// The workspace denies `unsafe`; this is one of its few exceptions (see
/// `quant::scan_range`). Mapping is unsafe because another process could
/// change or truncate the file while it is mapped. The files mapped here
/// are a snapshot's Arrow tables: written once into a staging directory,
/// checksummed, published by a rename and never written again (a newer
/// snapshot is a new directory whose unchanged files may be hard links;
/// removing an old one unlinks files a mapping keeps alive). The checksum
/// is verified on the mapped bytes; the mapping lives as long as the
/// decoded batch, and the snapshot's tables copy what they keep out of it.
#[allow(unsafe_code)]
fn map_file(file: &File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: see above: the file is immutable once published, so the
    // mapped bytes cannot change under the slices borrowed from them.
    unsafe { memmap2::MmapOptions::new().populate().map(file) }
}

/// The one record batch of a whole Arrow IPC file held in `buf`, its
/// arrays sharing `buf` (an empty batch if the file has none).
fn decode_ipc_file(buf: &arrow_buffer::Buffer) -> Result<RecordBatch, String> {
    use arrow_ipc::reader::{read_footer_length, FileDecoder};
    let len = buf.len();
    if len < 10 {
        return Err(format!("{len} bytes: too short for an Arrow IPC file"));
    }
    let trailer: [u8; 10] = buf[len - 10..]
        .try_into()
        .map_err(|_| "unreadable Arrow IPC trailer".to_string())?;
    let footer_len = read_footer_length(trailer).map_err(|e| e.to_string())?;
    if footer_len > len - 10 {
        return Err(format!(
            "Arrow IPC footer of {footer_len} bytes in a file of {len}"
        ));
    }
    let footer = arrow_ipc::root_as_footer(&buf[len - 10 - footer_len..len - 10])
        .map_err(|e| format!("Arrow IPC footer: {e}"))?;
    let fb_schema = footer
        .schema()
        .ok_or_else(|| "Arrow IPC footer has no schema".to_string())?;
    let schema = std::sync::Arc::new(
        arrow_ipc::convert::try_fb_to_schema(fb_schema).map_err(|e| e.to_string())?,
    );
    let mut decoder = FileDecoder::new(schema.clone(), footer.version());
    let block_data = |b: &arrow_ipc::Block| -> Result<arrow_buffer::Buffer, String> {
        let (off, n) = (b.offset(), b.metaDataLength() as i64 + b.bodyLength());
        if off < 0 || n < 0 || (off as u64).saturating_add(n as u64) > len as u64 {
            return Err(format!(
                "Arrow IPC block of {n} bytes at {off} is outside the file's {len}"
            ));
        }
        Ok(buf.slice_with_length(off as usize, n as usize))
    };
    for b in footer.dictionaries().iter().flatten() {
        decoder
            .read_dictionary(b, &block_data(b)?)
            .map_err(|e| e.to_string())?;
    }
    let mut batches = Vec::new();
    for b in footer.recordBatches().iter().flatten() {
        if let Some(batch) = decoder
            .read_record_batch(b, &block_data(b)?)
            .map_err(|e| e.to_string())?
        {
            batches.push(batch);
        }
    }
    match batches.len() {
        0 => Ok(RecordBatch::new_empty(schema)),
        1 => Ok(batches.pop().unwrap_or_else(|| unreachable!())),
        n => Err(format!(
            "{n} record batches: tables of this engine are written as one"
        )),
    }
}

/// The one-writer lock at `path` (an advisory lock on a file created if
/// missing, so a writer killed mid-way leaves it free): `None` while
/// another process holds it. Snapshot loads and re-rank runs take theirs
/// through this.
pub fn lock_writer(path: &Path) -> Result<Option<File>, StorageError> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(io_err(path, e)),
    }
}

/// The number of a published version's name (`v000012` with prefix 'v').
pub fn version_of(name: &str, prefix: char) -> Option<u64> {
    name.strip_prefix(prefix).and_then(|n| n.parse().ok())
}

/// Clears what a crashed writer left in `dir`, a directory of versions
/// named `{prefix}NNNNNN` (snapshots, re-rank generations) published by
/// switching a `CURRENT` file: staging directories, and every version
/// newer than `current` — renamed into place by a writer killed before it
/// switched `CURRENT`, so never published (it must not count toward
/// `--keep`). With nothing published (`current` is `None`) only staging
/// directories go. Returns the highest version number left (0: none); the
/// next version takes the one after it (a removed version was never
/// published, so its number is free). Call it holding the writer lock
/// ([`lock_writer`]).
pub fn clear_unpublished(
    dir: &Path,
    prefix: char,
    current: Option<u64>,
) -> Result<u64, StorageError> {
    let mut last = 0;
    for e in fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let e = e.map_err(|e| io_err(dir, e))?;
        let name = e.file_name().to_string_lossy().to_string();
        let version = version_of(&name, prefix);
        let unpublished = version.zip(current).is_some_and(|(v, c)| v > c);
        if name.starts_with(STAGING_PREFIX) || unpublished {
            fs::remove_dir_all(e.path()).map_err(|err| io_err(&e.path(), err))?;
        } else {
            last = last.max(version.unwrap_or(0));
        }
    }
    Ok(last)
}

/// Opens the tantivy index stored in a snapshot.
pub fn open_text_index(dir: &Path) -> Result<tantivy::Index, StorageError> {
    let d = tantivy::directory::MmapDirectory::open(dir).map_err(|e| io_err(dir, e))?;
    tantivy::Index::open(PublishedDir(d)).map_err(|e| io_err(dir, e))
}

/// A published snapshot's text index directory, read as it is: tantivy's
/// reader takes a lock file (`.tantivy-meta.lock`) against a concurrent
/// writer, which needs write access to the snapshot, so a data dir its user
/// can only read could not be matched against. A published snapshot is
/// never written again (no writer ever opens it), so the lock is granted
/// without a file; everything else is the memory-mapped directory's.
#[derive(Clone, Debug)]
struct PublishedDir(tantivy::directory::MmapDirectory);

impl tantivy::directory::Directory for PublishedDir {
    fn get_file_handle(
        &self,
        path: &Path,
    ) -> Result<
        std::sync::Arc<dyn tantivy::directory::FileHandle>,
        tantivy::directory::error::OpenReadError,
    > {
        self.0.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), tantivy::directory::error::DeleteError> {
        self.0.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, tantivy::directory::error::OpenReadError> {
        self.0.exists(path)
    }

    fn open_write(
        &self,
        path: &Path,
    ) -> Result<tantivy::directory::WritePtr, tantivy::directory::error::OpenWriteError> {
        self.0.open_write(path)
    }

    fn atomic_read(
        &self,
        path: &Path,
    ) -> Result<Vec<u8>, tantivy::directory::error::OpenReadError> {
        self.0.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> std::io::Result<()> {
        self.0.atomic_write(path, data)
    }

    fn sync_directory(&self) -> std::io::Result<()> {
        self.0.sync_directory()
    }

    fn watch(
        &self,
        cb: tantivy::directory::WatchCallback,
    ) -> tantivy::Result<tantivy::directory::WatchHandle> {
        self.0.watch(cb)
    }

    fn acquire_lock(
        &self,
        _lock: &tantivy::directory::Lock,
    ) -> Result<tantivy::directory::DirectoryLock, tantivy::directory::error::LockError> {
        Ok(tantivy::directory::DirectoryLock::from(Box::new(())))
    }
}

/// Reads a small file of a snapshot (rejects, generation outputs).
pub fn read_file(p: &Path) -> Result<Vec<u8>, StorageError> {
    fs::read(p).map_err(|e| io_err(p, e))
}

/// Creates a tantivy index in a (staging) snapshot directory.
pub fn create_text_index(
    dir: &Path,
    schema: tantivy::schema::Schema,
) -> Result<tantivy::Index, StorageError> {
    fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    tantivy::Index::create_in_dir(dir, schema).map_err(|e| io_err(dir, e))
}

/// Creates a directory inside a (staging) snapshot.
pub fn create_dir(dir: &Path) -> Result<(), StorageError> {
    fs::create_dir_all(dir).map_err(|e| io_err(dir, e))
}

/// Dumps an HNSW graph into `dir` under `basename`.
pub fn dump_hnsw(
    hnsw: &hnsw_rs::hnsw::Hnsw<'static, f32, hnsw_rs::anndists::dist::distances::DistDot>,
    dir: &Path,
    basename: &str,
) -> Result<(), StorageError> {
    use hnsw_rs::api::AnnT;
    fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    hnsw.file_dump(dir, basename).map_err(|e| io_err(dir, e))?;
    Ok(())
}

/// Writes a graph of [`crate::hnsw_build`] into `dir` under `basename` in
/// hnsw_rs's dump format ([`load_hnsw`] loads it), both files synced.
pub fn write_native_hnsw(
    g: &crate::hnsw_build::NativeGraph,
    v: &crate::table::VectorTable,
    dir: &Path,
    basename: &str,
) -> Result<(), StorageError> {
    fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let gp = dir.join(format!("{basename}.hnsw.graph"));
    let dp = dir.join(format!("{basename}.hnsw.data"));
    let open = |p: &Path| {
        fs::File::create(p)
            .map(|f| std::io::BufWriter::with_capacity(1 << 20, f))
            .map_err(|e| io_err(p, e))
    };
    let (gw, dw) = dump_named(g, v, (&gp, open(&gp)?), (&dp, open(&dp)?))?;
    for (p, w) in [(&gp, gw), (&dp, dw)] {
        w.into_inner()
            .map_err(|e| io_err(p, e.into_error()))?
            .sync_all()
            .map_err(|e| io_err(p, e))?;
    }
    Ok(())
}

/// A writer that remembers whether a write to it failed (so that an error
/// of a dump written to two files names the file it happened in).
struct Tracked<W> {
    inner: W,
    failed: bool,
}

impl<W: Write> Write for Tracked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.inner.write(buf);
        self.failed |= r.is_err();
        r
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.inner.flush();
        self.failed |= r.is_err();
        r
    }
}

/// [`crate::hnsw_build::write_hnsw_rs_dump`] into the graph and data
/// writers, each named by its path: an error names the file whose write
/// failed. Gives the writers back (unflushed).
fn dump_named<G: Write, D: Write>(
    g: &crate::hnsw_build::NativeGraph,
    v: &crate::table::VectorTable,
    (gp, gw): (&Path, G),
    (dp, dw): (&Path, D),
) -> Result<(G, D), StorageError> {
    let mut gw = Tracked {
        inner: gw,
        failed: false,
    };
    let mut dw = Tracked {
        inner: dw,
        failed: false,
    };
    crate::hnsw_build::write_hnsw_rs_dump(g, v, &mut gw, &mut dw).map_err(|e| {
        let at = if dw.failed && !gw.failed { dp } else { gp };
        io_err(at, e)
    })?;
    Ok((gw.inner, dw.inner))
}

/// Loads an HNSW graph dumped by [`dump_hnsw`]. The small reloader is
/// leaked on purpose: hnsw_rs ties the graph's lifetime to it, and the graph
/// lives as long as the snapshot that owns it (a few bytes per snapshot).
pub fn load_hnsw(
    dir: &Path,
    basename: &str,
) -> Result<
    hnsw_rs::hnsw::Hnsw<'static, f32, hnsw_rs::anndists::dist::distances::DistDot>,
    StorageError,
> {
    let io: &'static mut hnsw_rs::hnswio::HnswIo =
        Box::leak(Box::new(hnsw_rs::hnswio::HnswIo::new(dir, basename)));
    io.load_hnsw::<f32, hnsw_rs::anndists::dist::distances::DistDot>()
        .map_err(|e| io_err(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes `room` bytes and then fails (a full disk).
    struct Full {
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.room == 0 {
                return Err(std::io::Error::other("no space left on device"));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// An IPC file of `batch` at `p` (as `SnapshotWriter::write_table`
    /// writes it) and its sha256.
    fn ipc_file(p: &Path, batch: &RecordBatch) -> String {
        let mut out = Vec::new();
        {
            let mut w = arrow_ipc::writer::FileWriter::try_new(&mut out, &batch.schema()).unwrap();
            w.write(batch).unwrap();
            w.finish().unwrap();
        }
        fs::write(p, &out).unwrap();
        hex_sha256(&out)
    }

    fn sample_batch() -> RecordBatch {
        use arrow_array::types::Int32Type;
        use arrow_array::{ArrayRef, DictionaryArray, Float32Array, ListArray, StringArray};
        let ids: ArrayRef =
            std::sync::Arc::new(StringArray::from(vec![Some("c1"), None, Some("c3")]));
        let v: ArrayRef = std::sync::Arc::new(Float32Array::from(vec![0.5, f32::NAN, -2.0]));
        let lists: ArrayRef =
            std::sync::Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
                Some(vec![Some(1), Some(2)]),
                None,
                Some(vec![]),
            ]));
        let dict: ArrayRef = std::sync::Arc::new(
            ["us", "gb", "us"]
                .into_iter()
                .collect::<DictionaryArray<Int32Type>>(),
        );
        RecordBatch::try_from_iter([("id", ids), ("v", v), ("l", lists), ("d", dict)]).unwrap()
    }

    #[test]
    fn ipc_tables_read_back_whole_with_their_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.arrow");
        let b = sample_batch();
        let sha = ipc_file(&p, &b);
        let back = read_ipc(&p, Some(&sha)).unwrap();
        assert_eq!(back.schema(), b.schema());
        assert_eq!(back.num_rows(), 3);
        for k in 0..b.num_columns() {
            assert_eq!(
                back.column(k).to_data(),
                b.column(k).to_data(),
                "column {k}"
            );
        }
        // An empty table is a batch of no rows, not an error.
        let empty = RecordBatch::new_empty(b.schema());
        let sha = ipc_file(&p, &empty);
        assert_eq!(read_ipc(&p, Some(&sha)).unwrap().num_rows(), 0);
    }

    #[test]
    fn a_corrupt_or_cut_ipc_table_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.arrow");
        let sha = ipc_file(&p, &sample_batch());
        let good = fs::read(&p).unwrap();
        // One flipped byte in the data: the checksum catches it.
        let mut bad = good.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x40;
        fs::write(&p, &bad).unwrap();
        match read_ipc(&p, Some(&sha)) {
            Err(StorageError::Checksum { path, expected, .. }) => {
                assert_eq!(path, p);
                assert_eq!(expected, sha);
            }
            other => panic!("expected a checksum error, got {other:?}"),
        }
        // Cut files (no checksum to catch them): an error naming the file
        // for every length, never a panic.
        for cut in [
            0,
            5,
            9,
            10,
            11,
            good.len() / 3,
            good.len() - 10,
            good.len() - 1,
        ] {
            fs::write(&p, &good[..cut]).unwrap();
            let e = read_ipc(&p, None).expect_err(&format!("cut at {cut}"));
            assert!(e.to_string().contains("t.arrow"), "cut at {cut}: {e}");
        }
        // A missing file names its path too.
        let e = read_ipc(&dir.path().join("gone.arrow"), None).unwrap_err();
        assert!(e.to_string().contains("gone.arrow"), "{e}");
    }

    #[test]
    fn a_table_past_the_mapping_threshold_reads_the_same_and_is_checked() {
        use arrow_array::{Array, ArrayRef, StringArray, UInt64Array};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.arrow");
        let rows = 150_000u64;
        let ids: ArrayRef = std::sync::Arc::new(UInt64Array::from_iter_values(
            (0..rows).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        ));
        let names: ArrayRef = std::sync::Arc::new(StringArray::from_iter(
            (0..rows).map(|i| (i % 7 != 0).then(|| format!("creator-{i}"))),
        ));
        let b = RecordBatch::try_from_iter([("id", ids), ("name", names)]).unwrap();
        let sha = ipc_file(&p, &b);
        let good = fs::read(&p).unwrap();
        assert!(good.len() as u64 >= MAP_AT_LEAST, "{} bytes", good.len());
        let back = read_ipc(&p, Some(&sha)).unwrap();
        assert_eq!(back.num_rows(), rows as usize);
        for k in 0..b.num_columns() {
            assert_eq!(
                back.column(k).to_data(),
                b.column(k).to_data(),
                "column {k}"
            );
        }
        // The arrays outlive the call: the mapping lives as long as they do.
        let names = back
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(
            names.value(rows as usize - 1),
            format!("creator-{}", rows - 1)
        );
        assert!(names.is_null(7));
        drop(back);
        // A flipped byte deep in the file: the checksum of the mapped bytes
        // catches it.
        let mut bad = good.clone();
        let at = bad.len() * 3 / 4;
        bad[at] ^= 0x01;
        fs::write(&p, &bad).unwrap();
        match read_ipc(&p, Some(&sha)) {
            Err(StorageError::Checksum { path, .. }) => assert_eq!(path, p),
            other => panic!("expected a checksum error, got {other:?}"),
        }
        // Cut, still past the threshold: an error naming the file.
        for cut in [good.len() - 10, good.len() - 1, MAP_AT_LEAST as usize] {
            fs::write(&p, &good[..cut]).unwrap();
            let e = read_ipc(&p, None).expect_err(&format!("cut at {cut}"));
            assert!(e.to_string().contains("big.arrow"), "cut at {cut}: {e}");
        }
    }

    #[test]
    fn parts_are_written_whole_and_checksummed_as_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.jsonl");
        let parts = [b"{\"a\":1}\n".to_vec(), Vec::new(), b"{\"b\":2}\n".to_vec()];
        let (len, sha) = write_synced_parts(&p, &parts).unwrap();
        let bytes = fs::read(&p).unwrap();
        assert_eq!(bytes, parts.concat());
        assert_eq!(len, bytes.len() as u64);
        assert_eq!(sha, hex_sha256(&bytes));
        assert_eq!(file_sha256(&p).unwrap(), sha);
        // An error names the file.
        let bad = dir.path().join("no-such-dir").join("f");
        let e = write_synced_parts(&bad, &parts).unwrap_err().to_string();
        assert!(e.starts_with(&bad.display().to_string()), "{e}");
    }

    #[test]
    fn a_failed_graph_dump_names_the_file_it_failed_in() {
        let v = crate::test_vectors(200, 16, 4, 3);
        let g = crate::hnsw_build::build_native(&v, crate::ann::HnswParams::default(), &|_| {});
        let (gp, dp) = (Path::new("/x/t.hnsw.graph"), Path::new("/x/t.hnsw.data"));
        let err = |graph_room: usize, data_room: usize| {
            dump_named(
                &g,
                &v,
                (gp, Full { room: graph_room }),
                (dp, Full { room: data_room }),
            )
            .err()
            .map(|e| e.to_string())
        };
        let data = err(usize::MAX, 100).expect("the data file is full");
        assert!(data.starts_with("/x/t.hnsw.data: "), "{data}");
        assert!(data.contains("no space left"), "{data}");
        let graph = err(100, usize::MAX).expect("the graph file is full");
        assert!(graph.starts_with("/x/t.hnsw.graph: "), "{graph}");
        assert_eq!(err(usize::MAX, usize::MAX), None);
    }
}
