//! CSV reading and writing of contract tables (RFC 4180, header row, UTF-8).
//!
//! Invariant: the header decides where each field is (any order, extra
//! columns ignored, a missing required column is a file-level error); every
//! data row becomes cells handed to the shared `Table::build`, so a CSV row
//! is judged exactly like the same row in any other format. What the writer
//! writes, the reader reads back to equal records (except that an empty
//! list or map, which CSV cannot tell from "unknown", reads back as unknown).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rayon::prelude::*;

use super::table::{Loader, Out, Table};
use super::value::{self, Cell};
use crate::error::IngestError;
use crate::records::LoadedFile;

/// Reads a CSV file of table `T`.
pub(crate) fn read<T: Table>(path: &Path) -> Result<LoadedFile<T::Record>, IngestError> {
    let file =
        File::open(path).map_err(|e| IngestError::file(path, format!("cannot open: {e}")))?;
    let mut rdr = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(file);

    // The header: field -> column index.
    let header = rdr
        .byte_headers()
        .map_err(|e| IngestError::file(path, format!("cannot read the CSV header: {e}")))?
        .clone();
    if header.is_empty() {
        return Err(IngestError::file(
            path,
            "empty file: a CSV header row is required",
        ));
    }
    let ncols = header.len();
    let mut col_of: Vec<Option<usize>> = vec![None; T::FIELDS.len()];
    for (i, raw) in header.iter().enumerate() {
        let name = std::str::from_utf8(raw).map_err(|_| {
            IngestError::file(
                path,
                format!("CSV header column {} is not valid UTF-8", i + 1),
            )
        })?;
        let name = name.trim_start_matches('\u{feff}').trim();
        if let Some(f) = T::FIELDS.iter().position(|f| f.name == name) {
            if col_of[f].is_some() {
                return Err(IngestError::file(
                    path,
                    format!("duplicate CSV column {name:?}"),
                ));
            }
            col_of[f] = Some(i);
        }
    }
    let missing: Vec<&str> = T::FIELDS
        .iter()
        .zip(&col_of)
        .filter(|(f, c)| f.required && c.is_none())
        .map(|(f, _)| f.name)
        .collect();
    if !missing.is_empty() {
        return Err(IngestError::file(
            path,
            format!("missing required CSV column(s): {}", missing.join(", ")),
        ));
    }

    // Rows are tokenised one after another (a quoted cell may span lines)
    // a chunk at a time, then validated in parallel (numbers, lists,
    // share maps and the records' strings: most of a row's cost), each
    // piece into its own loader, appended in row order.
    let name = path.display().to_string();
    let mut loader = Loader::<T::Record>::new(name.clone());
    let mut chunk: Vec<(usize, ::csv::ByteRecord)> = Vec::new();
    let mut row = 0usize;
    // Where the last record read starts (its row, byte offset and line).
    let mut last: Option<(usize, ::csv::Position)> = None;
    loop {
        let mut filled = 0;
        let mut at_end = false;
        while filled < CHUNK_ROWS {
            if filled == chunk.len() {
                chunk.push((0, ::csv::ByteRecord::new()));
            }
            match rdr.read_byte_record(&mut chunk[filled].1) {
                Ok(true) => {}
                Ok(false) => {
                    at_end = true;
                    break;
                }
                Err(e) => {
                    return Err(IngestError::file(
                        path,
                        format!("cannot read CSV after row {row}: {e}"),
                    ))
                }
            }
            row += 1;
            chunk[filled].0 = row;
            filled += 1;
        }
        if let Some((r, rec)) = filled.checked_sub(1).map(|k| &chunk[k]) {
            last = rec.position().map(|p| (*r, p.clone()));
        }
        if at_end {
            if let Some((r, at)) = &last {
                unclosed_quote_check(path, *r, at, &header)?;
            }
        }
        let pieces: Vec<LoadedFile<T::Record>> = chunk[..filled]
            .par_chunks(PIECE_ROWS)
            .map(|recs| {
                let mut l = Loader::<T::Record>::new(name.clone());
                for (row, rec) in recs {
                    validate_row::<T>(&mut l, *row, rec, &col_of, ncols);
                }
                l.finish()
            })
            .collect();
        for p in pieces {
            loader.append(p);
        }
        if at_end {
            break;
        }
    }
    Ok(loader.finish())
}

/// A file-level error if the file's last record, which starts at `at`
/// (data row `row`), ends inside a quoted field. The CSV reader takes a
/// quote that is never closed as running to the end of the file: every
/// row after it would otherwise vanish into one field of one bad row.
/// Only the last record can end so (the open quote swallows everything
/// after it), so only it is scanned again, from its first byte, with the
/// reader's rules (RFC 4180: a field that starts with `"` is quoted, `""`
/// inside it is a quote; a `"` elsewhere is a character).
fn unclosed_quote_check(
    path: &Path,
    row: usize,
    at: &::csv::Position,
    header: &::csv::ByteRecord,
) -> Result<(), IngestError> {
    use std::io::{BufRead, BufReader, Seek, SeekFrom};
    let io = |e: std::io::Error| IngestError::file(path, format!("cannot read: {e}"));
    let mut file = File::open(path).map_err(io)?;
    file.seek(SeekFrom::Start(at.byte())).map_err(io)?;
    let mut r = BufReader::with_capacity(1 << 16, file);
    let mut scan = QuoteScan::default();
    loop {
        let buf = r.fill_buf().map_err(io)?;
        if buf.is_empty() {
            break;
        }
        buf.iter().for_each(|&b| scan.byte(b));
        let n = buf.len();
        r.consume(n);
    }
    match scan.open.filter(|_| scan.state == QState::Quoted) {
        Some((field, line)) => {
            let name = header
                .get(field)
                .map(|h| {
                    String::from_utf8_lossy(h)
                        .trim_start_matches('\u{feff}')
                        .trim()
                        .to_string()
                })
                .unwrap_or_else(|| format!("column {}", field + 1));
            Err(IngestError::file(
                path,
                format!(
                    "row {row}: field {name}: a quoted field opened on line {} is never \
                     closed, so the rest of the file ({} more line(s)) would be read into \
                     it; close the quote, or double a quote meant literally (\"\")",
                    at.line() + line,
                    scan.lines - line,
                ),
            ))
        }
        None => Ok(()),
    }
}

/// The tokenizer state of [`unclosed_quote_check`]: the field being read,
/// the lines passed, and the field and line of a quote still open.
#[derive(Debug, Default)]
struct QuoteScan {
    state: QState,
    field: usize,
    lines: u64,
    open: Option<(usize, u64)>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum QState {
    #[default]
    FieldStart,
    Unquoted,
    Quoted,
    /// A `"` inside a quoted field: the end of it, or the first of `""`.
    QuoteInQuoted,
}

impl QuoteScan {
    fn byte(&mut self, b: u8) {
        use QState::*;
        let end_of_field = |s: &mut QuoteScan| {
            if b == b',' {
                s.field += 1;
            } else {
                // A record ends: the next one starts at field 0.
                s.field = 0;
            }
            s.state = FieldStart;
        };
        if b == b'\n' {
            self.lines += 1;
        }
        match (self.state, b) {
            (Quoted, b'"') => self.state = QuoteInQuoted,
            (Quoted, _) => {}
            (QuoteInQuoted, b'"') => self.state = Quoted,
            (FieldStart, b'"') => {
                self.state = Quoted;
                self.open = Some((self.field, self.lines));
            }
            (_, b',' | b'\n' | b'\r') => {
                self.open = None;
                end_of_field(self)
            }
            // Text after a closing quote, or any other byte.
            _ => self.state = Unquoted,
        }
        if !matches!(self.state, Quoted | QuoteInQuoted) {
            self.open = None;
        }
    }
}

/// Rows tokenised before a parallel validation; rows a task validates.
const CHUNK_ROWS: usize = 16_384;
const PIECE_ROWS: usize = 1_024;

/// One tokenised data row (1-based `row`) through `T::build`.
fn validate_row<T: Table>(
    loader: &mut Loader<T::Record>,
    row: usize,
    rec: &::csv::ByteRecord,
    col_of: &[Option<usize>],
    ncols: usize,
) {
    if rec.len() != ncols {
        loader.reject_row(
            row,
            "<row>",
            format!("has {} fields, but the header has {ncols}", rec.len()),
        );
        return;
    }
    let mut bad = false;
    let mut cells = Vec::with_capacity(col_of.len());
    for (f, col) in T::FIELDS.iter().zip(col_of) {
        let cell = match col.and_then(|c| rec.get(c)) {
            None => Cell::Missing,
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(s) => Cell::text(s),
                Err(_) => {
                    bad = true;
                    loader.reject_field(row, f.name, "is not valid UTF-8".to_string());
                    Cell::Missing
                }
            },
        };
        cells.push(cell);
    }
    loader.row::<T>(row, &cells, bad);
}

/// Writes `rows` as CSV: the contract's header names in contract order (an
/// `embedding` column only if some row has one), unknown values empty.
pub(crate) fn write<T: Table>(path: &Path, rows: &[T::Record]) -> Result<(), IngestError> {
    let io_err = |e: &dyn std::fmt::Display| IngestError::file(path, format!("cannot write: {e}"));
    let keep = super::kept_fields::<T>(rows);
    let file = File::create(path).map_err(|e| io_err(&e))?;
    let mut w = ::csv::WriterBuilder::new().from_writer(BufWriter::with_capacity(1 << 16, file));
    w.write_record(
        T::FIELDS
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(f, _)| f.name),
    )
    .map_err(|e| io_err(&e))?;
    let mut vals = Vec::with_capacity(T::FIELDS.len());
    let mut buf = String::new();
    for r in rows {
        vals.clear();
        T::out(r, &mut vals);
        for (v, k) in vals.iter().zip(&keep) {
            if !*k {
                continue;
            }
            buf.clear();
            cell_text(&mut buf, v);
            w.write_field(buf.as_bytes()).map_err(|e| io_err(&e))?;
        }
        w.write_record(None::<&[u8]>).map_err(|e| io_err(&e))?;
    }
    let inner = w.into_inner().map_err(|e| io_err(&e.error()))?;
    let mut file = inner.into_inner().map_err(|e| io_err(&e.error()))?;
    file.flush().map_err(|e| io_err(&e))?;
    Ok(())
}

/// A value in the CSV encoding: lists `a|b`, maps `K:v|L:w`, dates
/// `YYYY-MM-DD`, timestamps RFC 3339 UTC, floats in their shortest
/// round-tripping decimal form.
fn cell_text(buf: &mut String, v: &Out<'_>) {
    use std::fmt::Write as _;
    let _ = match v {
        Out::Null => Ok(()),
        Out::Str(s) => {
            buf.push_str(s);
            Ok(())
        }
        Out::U64(x) => write!(buf, "{x}"),
        Out::U32(x) => write!(buf, "{x}"),
        Out::F64(x) => write!(buf, "{x}"),
        Out::F32(x) => write!(buf, "{x}"),
        Out::Bool(b) => write!(buf, "{b}"),
        Out::StrList(items) => {
            for (i, s) in items.iter().enumerate() {
                if i > 0 {
                    buf.push('|');
                }
                buf.push_str(s);
            }
            Ok(())
        }
        Out::F32List(items) => {
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    buf.push('|');
                }
                let _ = write!(buf, "{x}");
            }
            Ok(())
        }
        Out::ShareMap(entries) => {
            for (i, (k, s)) in entries.iter().enumerate() {
                if i > 0 {
                    buf.push('|');
                }
                let _ = write!(buf, "{k}:{s}");
            }
            Ok(())
        }
        Out::Date(d) => {
            buf.push_str(&value::format_date(*d));
            Ok(())
        }
        Out::Timestamp(t) => {
            buf.push_str(&value::format_timestamp(*t));
            Ok(())
        }
    };
}
