//! Contract file readers and writers: CSV, JSON Lines and Parquet files of
//! the contract's creators, performance and payments tables.
//!
//! Invariant: every record a reader returns has passed every per-row rule
//! of `shared/spec/CONTRACT.md` (one shared validation core, [`table`] +
//! [`value`], serves all three formats); every row that breaks one yields a
//! `Reject` per bad field naming file, row and field, while the good rows
//! still land; file-level faults are `IngestError::File`. Each writer
//! produces what the readers read back to equal records.
//!
//! Leniencies beyond the contract (accepted, never produced by the writers):
//! surrounding whitespace around numbers, bools, dates, codes and list
//! items; integers spelled with a zero fraction (`12000.0`); bools `1`/`0`;
//! numbers given as JSON strings; lists and share maps given as strings in
//! the CSV encoding (JSONL, Parquet); integer ids; a UTF-8 BOM.
//! What cannot survive a round trip: an empty string reads back as unknown
//! in every format, and an empty list or map reads back as unknown from CSV.

mod csv;
mod jsonl;
mod parquet;
mod table;
mod value;

#[cfg(test)]
mod tests;

use std::path::Path;

use crate::error::IngestError;
use crate::records::{CreatorRecord, LoadedFile, PaymentRecord, PerformanceRecord};
use table::{Creators, Out, Payments, Performance, Table};

/// A contract file format, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Jsonl,
    Parquet,
}

impl FileFormat {
    /// `.csv`, `.jsonl` / `.ndjson`, `.parquet` (case-insensitive); anything
    /// else is a file-level error.
    pub fn from_path(p: &Path) -> Result<FileFormat, IngestError> {
        let ext = p
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("csv") => Ok(FileFormat::Csv),
            Some("jsonl") | Some("ndjson") => Ok(FileFormat::Jsonl),
            Some("parquet") => Ok(FileFormat::Parquet),
            _ => Err(IngestError::file(
                p,
                "unknown file extension (expected .csv, .jsonl, .ndjson or .parquet)",
            )),
        }
    }

    /// The canonical extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Jsonl => "jsonl",
            FileFormat::Parquet => "parquet",
        }
    }
}

fn read<T: Table>(path: &Path) -> Result<LoadedFile<T::Record>, IngestError> {
    match FileFormat::from_path(path)? {
        FileFormat::Csv => csv::read::<T>(path),
        FileFormat::Jsonl => jsonl::read::<T>(path),
        FileFormat::Parquet => parquet::read::<T>(path),
    }
}

fn write<T: Table>(path: &Path, rows: &[T::Record]) -> Result<(), IngestError> {
    match FileFormat::from_path(path)? {
        FileFormat::Csv => csv::write::<T>(path, rows),
        FileFormat::Jsonl => jsonl::write::<T>(path, rows),
        FileFormat::Parquet => parquet::write::<T>(path, rows),
    }
}

/// Which of `T`'s fields a CSV or Parquet writer writes: all of them, except
/// an `embedding` column that no row has a value for.
fn kept_fields<T: Table>(rows: &[T::Record]) -> Vec<bool> {
    let mut keep = vec![true; T::FIELDS.len()];
    if let Some(e) = T::FIELDS.iter().position(|f| f.name == "embedding") {
        let mut vals = Vec::with_capacity(T::FIELDS.len());
        keep[e] = rows.iter().any(|r| {
            vals.clear();
            T::out(r, &mut vals);
            vals.get(e).is_some_and(|v| *v != Out::Null)
        });
    }
    keep
}

/// Reads a creators file (format by extension).
pub fn read_creators(path: &Path) -> Result<LoadedFile<CreatorRecord>, IngestError> {
    let mut l = read::<Creators>(path)?;
    one_embedding_length(&mut l, path);
    Ok(l)
}

/// The contract's "every row of a load has the same length" for
/// embeddings: the length most rows have (the first seen on a tie) is the
/// load's, and each row with another is rejected, so one malformed row
/// (even the first) costs only itself.
fn one_embedding_length(l: &mut LoadedFile<CreatorRecord>, path: &Path) {
    let mut counts: Vec<(usize, usize)> = Vec::new(); // (length, rows), first-seen order
    for (_, r) in &l.rows {
        if let Some(e) = &r.embedding {
            match counts.iter_mut().find(|c| c.0 == e.len()) {
                Some(c) => c.1 += 1,
                None => counts.push((e.len(), 1)),
            }
        }
    }
    if counts.len() < 2 {
        return;
    }
    let mut dim = counts[0];
    for &c in &counts[1..] {
        if c.1 > dim.1 {
            dim = c;
        }
    }
    let (dim, rows) = dim;
    let file = path.display().to_string();
    let rejects = &mut l.rejects;
    l.rows.retain(|(row, r)| match &r.embedding {
        Some(e) if e.len() != dim => {
            rejects.push(crate::records::Reject {
                file: file.clone(),
                row: *row,
                field: "embedding".into(),
                reason: format!(
                    "has {} values, but the load's embeddings have {dim} ({rows} rows)",
                    e.len()
                ),
            });
            false
        }
        _ => true,
    });
    rejects.sort_by_key(|r| r.row);
}

/// Reads a performance file (format by extension).
pub fn read_performance(path: &Path) -> Result<LoadedFile<PerformanceRecord>, IngestError> {
    read::<Performance>(path)
}

/// Reads a payments file (format by extension).
pub fn read_payments(path: &Path) -> Result<LoadedFile<PaymentRecord>, IngestError> {
    read::<Payments>(path)
}

/// Writes a creators file (format by extension).
pub fn write_creators(path: &Path, rows: &[CreatorRecord]) -> Result<(), IngestError> {
    write::<Creators>(path, rows)
}

/// Writes a performance file (format by extension).
pub fn write_performance(path: &Path, rows: &[PerformanceRecord]) -> Result<(), IngestError> {
    write::<Performance>(path, rows)
}

/// Writes a payments file (format by extension).
pub fn write_payments(path: &Path, rows: &[PaymentRecord]) -> Result<(), IngestError> {
    write::<Payments>(path, rows)
}
