//! Parquet reading and writing of contract tables (via arrow-rs).
//!
//! Invariant: columns are found by name (extra columns ignored, a missing
//! required column or an unusable column type is a file-level error, as is
//! a truncated or corrupt file); each row becomes cells handed to the
//! shared `Table::build`. Accepted types: any integer or float, decimals,
//! bool, strings (also dictionary-encoded), Date32/Date64, Timestamp (any
//! unit), lists (list, large list, fixed-size list), and share maps as
//! `Map`, `list<struct<key, share|value>>` or CSV-encoded strings. The
//! writer uses list columns, `list<struct<key: utf8, share: f32>>` for share
//! maps, Date32 for dates and Timestamp(millisecond, UTC) for `posted_at`; what
//! it writes reads back to equal records.

use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use ::parquet::arrow::ArrowWriter;
use ::parquet::basic::Compression;
use ::parquet::file::properties::WriterProperties;
use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder, ListBuilder,
    StringBuilder, StructBuilder, TimestampMillisecondBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Decimal256Type, Decimal32Type, Decimal64Type,
    DecimalType, Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};

use super::table::{Kind, Loader, Out, Table};
use super::value::Cell;
use crate::error::IngestError;
use crate::records::LoadedFile;

/// Rows per record batch, reading and writing.
const BATCH_ROWS: usize = 8192;
/// Rows per record batch handed to the writer.
const WRITE_BATCH_ROWS: usize = 65_536;

/// Reads a Parquet file of table `T`. A panic inside the Parquet decoder
/// (possible on some corrupt files) is reported as a file-level error.
pub(crate) fn read<T: Table>(path: &Path) -> Result<LoadedFile<T::Record>, IngestError> {
    catch_unwind(AssertUnwindSafe(|| read_inner::<T>(path))).unwrap_or_else(|_| {
        Err(IngestError::file(
            path,
            "corrupt Parquet file: the decoder failed",
        ))
    })
}

fn read_inner<T: Table>(path: &Path) -> Result<LoadedFile<T::Record>, IngestError> {
    let file =
        File::open(path).map_err(|e| IngestError::file(path, format!("cannot open: {e}")))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
        IngestError::file(
            path,
            format!("not a readable Parquet file (truncated or corrupt?): {e}"),
        )
    })?;
    let schema = builder.schema().clone();
    let mut col_of: Vec<Option<usize>> = vec![None; T::FIELDS.len()];
    let mut missing = Vec::new();
    for (f, slot) in T::FIELDS.iter().zip(col_of.iter_mut()) {
        match schema.index_of(f.name) {
            Ok(i) => {
                let dt = schema.field(i).data_type();
                if !supported(dt) {
                    return Err(IngestError::file(
                        path,
                        format!("column {:?} has an unsupported type {dt}", f.name),
                    ));
                }
                *slot = Some(i);
            }
            Err(_) if f.required => missing.push(f.name),
            Err(_) => {}
        }
    }
    if !missing.is_empty() {
        return Err(IngestError::file(
            path,
            format!("missing required Parquet column(s): {}", missing.join(", ")),
        ));
    }
    let reader = builder
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| IngestError::file(path, format!("cannot read Parquet data: {e}")))?;

    let mut loader = Loader::<T::Record>::new(path.display().to_string());
    let mut row = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| {
            IngestError::file(path, format!("corrupt Parquet data after row {row}: {e}"))
        })?;
        let cols: Vec<Option<&dyn Array>> = col_of
            .iter()
            .map(|c| c.map(|i| batch.column(i).as_ref()))
            .collect();
        for r in 0..batch.num_rows() {
            row += 1;
            let cells: Vec<Cell<'_>> = cols
                .iter()
                .map(|c| c.map_or(Cell::Missing, |a| cell_at(a, r)))
                .collect();
            loader.row::<T>(row, &cells, false);
        }
    }
    Ok(loader.finish())
}

/// The (key, share) field indexes of a share-map entry struct: fields named
/// `key` and `share` (or `value`).
fn entry_fields(fields: &Fields) -> Option<(usize, usize)> {
    let k = fields.iter().position(|f| f.name() == "key")?;
    let v = fields
        .iter()
        .position(|f| f.name() == "share")
        .or_else(|| fields.iter().position(|f| f.name() == "value"))?;
    Some((k, v))
}

/// Whether `cell_at` can read a column of this type.
fn supported(dt: &DataType) -> bool {
    use DataType as D;
    match dt {
        D::Null
        | D::Boolean
        | D::Int8
        | D::Int16
        | D::Int32
        | D::Int64
        | D::UInt8
        | D::UInt16
        | D::UInt32
        | D::UInt64
        | D::Float32
        | D::Float64
        | D::Float16
        | D::Decimal32(_, _)
        | D::Decimal64(_, _)
        | D::Decimal128(_, _)
        | D::Decimal256(_, _)
        | D::Utf8
        | D::LargeUtf8
        | D::Utf8View
        | D::Date32
        | D::Date64
        | D::Timestamp(_, _) => true,
        D::List(f) | D::LargeList(f) | D::FixedSizeList(f, _) => match f.data_type() {
            D::Struct(fields) => entry_fields(fields).is_some_and(|(k, v)| {
                supported(fields[k].data_type()) && supported(fields[v].data_type())
            }),
            other => supported(other),
        },
        D::Map(entries, _) => match entries.data_type() {
            D::Struct(fields) if fields.len() == 2 => {
                supported(fields[0].data_type()) && supported(fields[1].data_type())
            }
            _ => false,
        },
        D::Dictionary(_, values) => supported(values),
        _ => false,
    }
}

/// Entries `start..end` of a list's child array as cells (a struct child
/// gives share-map entries).
fn list_cell(child: &dyn Array, start: usize, end: usize) -> Cell<'_> {
    if let Some(s) = child.as_struct_opt() {
        let (k, v) = entry_fields(s.fields()).unwrap_or((0, 1));
        let (kc, vc) = (s.column(k).as_ref(), s.column(v).as_ref());
        Cell::Map(
            (start..end)
                .map(|j| {
                    if s.is_null(j) {
                        (Cell::Missing, Cell::Missing)
                    } else {
                        (cell_at(kc, j), cell_at(vc, j))
                    }
                })
                .collect(),
        )
    } else {
        Cell::List((start..end).map(|j| cell_at(child, j)).collect())
    }
}

/// A decimal cell from its unscaled value and scale. `unscaled` and
/// `10^|scale|` exact in f64 (|unscaled| <= 2^53, |scale| <= 22): one
/// correctly rounded division or product, which is the f64 nearest the
/// decimal, as parsing its text gives; else the text (`text`), which costs
/// an allocation but no precision.
fn decimal_cell(unscaled: i128, scale: i8, text: impl FnOnce() -> String) -> Cell<'static> {
    const EXACT: i128 = 1 << 53;
    if (-EXACT..=EXACT).contains(&unscaled) && scale.unsigned_abs() <= 22 {
        let (v, p) = (unscaled as f64, 10f64.powi(i32::from(scale.unsigned_abs())));
        return Cell::Float(if scale >= 0 { v / p } else { v * p });
    }
    text().parse::<f64>().map_or(Cell::Missing, Cell::Float)
}

/// A timestamp cell from `secs` (UTC) of a column with time zone `tz`
/// (an IANA name such as `Asia/Tokyo` or an offset such as `+09:00`): the
/// zone's offset at that instant goes with it, so that a date field takes
/// the day it falls on in that zone. No zone, or one that does not parse:
/// UTC.
fn zoned(tz: Option<&str>, secs: i64) -> Cell<'static> {
    use chrono::{Offset, TimeZone};
    // What our writer, pandas and most tools write: no lookup per cell.
    if tz.is_none_or(|z| matches!(z, "UTC" | "Z" | "+00:00" | "Etc/UTC")) {
        return Cell::Timestamp(secs);
    }
    let offset = tz
        .and_then(|name| name.parse::<arrow_array::timezone::Tz>().ok())
        .and_then(|zone| {
            let at = chrono::DateTime::from_timestamp(secs, 0)?.naive_utc();
            Some(zone.offset_from_utc_datetime(&at).fix().local_minus_utc())
        });
    match offset {
        Some(off) if off != 0 => Cell::ZonedTimestamp(secs, off),
        _ => Cell::Timestamp(secs),
    }
}

/// Row `i` of `arr` as a cell (the type was checked by `supported`).
fn cell_at(arr: &dyn Array, i: usize) -> Cell<'_> {
    use DataType as D;
    if arr.is_null(i) {
        return Cell::Missing;
    }
    match arr.data_type() {
        D::Null => Cell::Missing,
        D::Boolean => Cell::Bool(arr.as_boolean().value(i)),
        D::Int8 => Cell::Int(i64::from(arr.as_primitive::<Int8Type>().value(i))),
        D::Int16 => Cell::Int(i64::from(arr.as_primitive::<Int16Type>().value(i))),
        D::Int32 => Cell::Int(i64::from(arr.as_primitive::<Int32Type>().value(i))),
        D::Int64 => Cell::Int(arr.as_primitive::<Int64Type>().value(i)),
        D::UInt8 => Cell::UInt(u64::from(arr.as_primitive::<UInt8Type>().value(i))),
        D::UInt16 => Cell::UInt(u64::from(arr.as_primitive::<UInt16Type>().value(i))),
        D::UInt32 => Cell::UInt(u64::from(arr.as_primitive::<UInt32Type>().value(i))),
        D::UInt64 => Cell::UInt(arr.as_primitive::<UInt64Type>().value(i)),
        D::Float32 => Cell::Float32(arr.as_primitive::<Float32Type>().value(i)),
        D::Float64 => Cell::Float(arr.as_primitive::<Float64Type>().value(i)),
        D::Float16 => Cell::Float32(arr.as_primitive::<Float16Type>().value(i).to_f32()),
        // A decimal as the value it writes: unscaled / 10^scale, which is
        // the correctly rounded (same as parsing "150.10") when both are
        // exact in f64; otherwise through its text (wide or deep values).
        D::Decimal32(p, sc) => {
            let v = arr.as_primitive::<Decimal32Type>().value(i);
            decimal_cell(v.into(), *sc, || Decimal32Type::format_decimal(v, *p, *sc))
        }
        D::Decimal64(p, sc) => {
            let v = arr.as_primitive::<Decimal64Type>().value(i);
            decimal_cell(v.into(), *sc, || Decimal64Type::format_decimal(v, *p, *sc))
        }
        D::Decimal128(p, sc) => {
            let v = arr.as_primitive::<Decimal128Type>().value(i);
            decimal_cell(v, *sc, || Decimal128Type::format_decimal(v, *p, *sc))
        }
        D::Decimal256(p, sc) => {
            let v = arr.as_primitive::<Decimal256Type>().value(i);
            decimal_cell(v.to_i128().unwrap_or(i128::MAX), *sc, || {
                Decimal256Type::format_decimal(v, *p, *sc)
            })
        }
        D::Utf8 => Cell::text(arr.as_string::<i32>().value(i)),
        D::LargeUtf8 => Cell::text(arr.as_string::<i64>().value(i)),
        D::Utf8View => Cell::text(arr.as_string_view().value(i)),
        D::Date32 => Cell::Date(arr.as_primitive::<Date32Type>().value(i)),
        D::Date64 => {
            let ms = arr.as_primitive::<Date64Type>().value(i);
            i32::try_from(ms.div_euclid(86_400_000)).map_or(Cell::Missing, Cell::Date)
        }
        D::Timestamp(unit, tz) => zoned(
            tz.as_deref(),
            match unit {
                TimeUnit::Second => arr.as_primitive::<TimestampSecondType>().value(i),
                TimeUnit::Millisecond => arr
                    .as_primitive::<TimestampMillisecondType>()
                    .value(i)
                    .div_euclid(1_000),
                TimeUnit::Microsecond => arr
                    .as_primitive::<TimestampMicrosecondType>()
                    .value(i)
                    .div_euclid(1_000_000),
                TimeUnit::Nanosecond => arr
                    .as_primitive::<TimestampNanosecondType>()
                    .value(i)
                    .div_euclid(1_000_000_000),
            },
        ),
        D::List(_) => {
            let l = arr.as_list::<i32>();
            let off = l.value_offsets();
            list_cell(l.values().as_ref(), off[i] as usize, off[i + 1] as usize)
        }
        D::LargeList(_) => {
            let l = arr.as_list::<i64>();
            let off = l.value_offsets();
            list_cell(l.values().as_ref(), off[i] as usize, off[i + 1] as usize)
        }
        D::FixedSizeList(_, _) => {
            let l = arr.as_fixed_size_list();
            let start = l.value_offset_at(i);
            list_cell(
                l.values().as_ref(),
                start,
                start + l.value_length() as usize,
            )
        }
        D::Map(_, _) => {
            let m = arr.as_map();
            let off = m.value_offsets();
            let (kc, vc) = (m.keys().as_ref(), m.values().as_ref());
            Cell::Map(
                (off[i] as usize..off[i + 1] as usize)
                    .map(|j| (cell_at(kc, j), cell_at(vc, j)))
                    .collect(),
            )
        }
        D::Dictionary(_, _) => {
            let d = arr.as_any_dictionary();
            let key = match cell_at(d.keys(), i) {
                Cell::UInt(k) => usize::try_from(k).ok(),
                Cell::Int(k) => usize::try_from(k).ok(),
                _ => None,
            };
            match key {
                Some(k) if k < d.values().len() => cell_at(d.values().as_ref(), k),
                _ => Cell::Missing,
            }
        }
        _ => Cell::Missing,
    }
}

/// One output column being built.
enum Col {
    Str(StringBuilder),
    U64(UInt64Builder),
    U32(UInt32Builder),
    F64(Float64Builder),
    F32(Float32Builder),
    Bool(BooleanBuilder),
    StrList(ListBuilder<StringBuilder>),
    F32List(ListBuilder<Float32Builder>),
    ShareMap(ListBuilder<StructBuilder>),
    Date(Date32Builder),
    /// Milliseconds: Parquet has no seconds unit, so a seconds column
    /// would be written as a bare int64 that other readers (pyarrow,
    /// pandas, DuckDB) see as integers.
    Timestamp(TimestampMillisecondBuilder),
}

fn entry_struct_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("share", DataType::Float32, false),
    ])
}

impl Col {
    fn new(kind: Kind) -> Col {
        match kind {
            Kind::Str => Col::Str(StringBuilder::new()),
            Kind::U64 => Col::U64(UInt64Builder::new()),
            Kind::U32 => Col::U32(UInt32Builder::new()),
            Kind::F64 => Col::F64(Float64Builder::new()),
            Kind::F32 => Col::F32(Float32Builder::new()),
            Kind::Bool => Col::Bool(BooleanBuilder::new()),
            Kind::StrList => Col::StrList(
                ListBuilder::new(StringBuilder::new()).with_field(Field::new(
                    "item",
                    DataType::Utf8,
                    false,
                )),
            ),
            Kind::F32List => Col::F32List(
                ListBuilder::new(Float32Builder::new()).with_field(Field::new(
                    "item",
                    DataType::Float32,
                    false,
                )),
            ),
            Kind::ShareMap => {
                let fields = entry_struct_fields();
                let entry = StructBuilder::new(
                    fields.clone(),
                    vec![
                        Box::new(StringBuilder::new()) as Box<dyn ArrayBuilder>,
                        Box::new(Float32Builder::new()),
                    ],
                );
                Col::ShareMap(ListBuilder::new(entry).with_field(Field::new(
                    "item",
                    DataType::Struct(fields),
                    false,
                )))
            }
            Kind::Date => Col::Date(Date32Builder::new()),
            Kind::Timestamp => {
                Col::Timestamp(TimestampMillisecondBuilder::new().with_timezone("UTC"))
            }
        }
    }

    /// Appends one value (its variant matches the column's kind; anything
    /// else is written as null).
    fn push(&mut self, v: &Out<'_>) {
        match (self, v) {
            (Col::Str(b), Out::Str(s)) => b.append_value(s),
            (Col::U64(b), Out::U64(x)) => b.append_value(*x),
            (Col::U32(b), Out::U32(x)) => b.append_value(*x),
            (Col::F64(b), Out::F64(x)) => b.append_value(*x),
            (Col::F32(b), Out::F32(x)) => b.append_value(*x),
            (Col::Bool(b), Out::Bool(x)) => b.append_value(*x),
            (Col::StrList(b), Out::StrList(items)) => {
                for s in *items {
                    b.values().append_value(s);
                }
                b.append(true);
            }
            (Col::F32List(b), Out::F32List(items)) => {
                b.values().append_slice(items);
                b.append(true);
            }
            (Col::ShareMap(b), Out::ShareMap(entries)) => {
                let sb = b.values();
                for (k, s) in entries {
                    if let Some(kb) = sb.field_builder::<StringBuilder>(0) {
                        kb.append_value(k);
                    }
                    if let Some(vb) = sb.field_builder::<Float32Builder>(1) {
                        vb.append_value(*s);
                    }
                    sb.append(true);
                }
                b.append(true);
            }
            (Col::Date(b), Out::Date(d)) => b.append_value(*d),
            (Col::Timestamp(b), Out::Timestamp(t)) => b.append_value(t.saturating_mul(1_000)),
            (col, _) => col.push_null(),
        }
    }

    fn push_null(&mut self) {
        match self {
            Col::Str(b) => b.append_null(),
            Col::U64(b) => b.append_null(),
            Col::U32(b) => b.append_null(),
            Col::F64(b) => b.append_null(),
            Col::F32(b) => b.append_null(),
            Col::Bool(b) => b.append_null(),
            Col::StrList(b) => b.append(false),
            Col::F32List(b) => b.append(false),
            Col::ShareMap(b) => b.append(false),
            Col::Date(b) => b.append_null(),
            Col::Timestamp(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Col::Str(b) => Arc::new(b.finish()),
            Col::U64(b) => Arc::new(b.finish()),
            Col::U32(b) => Arc::new(b.finish()),
            Col::F64(b) => Arc::new(b.finish()),
            Col::F32(b) => Arc::new(b.finish()),
            Col::Bool(b) => Arc::new(b.finish()),
            Col::StrList(b) => Arc::new(b.finish()),
            Col::F32List(b) => Arc::new(b.finish()),
            Col::ShareMap(b) => Arc::new(b.finish()),
            Col::Date(b) => Arc::new(b.finish()),
            Col::Timestamp(b) => Arc::new(b.finish()),
        }
    }
}

/// Writes `rows` as Parquet (snappy), columns in contract order (an
/// `embedding` column only if some row has one).
pub(crate) fn write<T: Table>(path: &Path, rows: &[T::Record]) -> Result<(), IngestError> {
    let err = |e: &dyn std::fmt::Display| IngestError::file(path, format!("cannot write: {e}"));
    let keep = super::kept_fields::<T>(rows);
    let fields: Vec<_> = T::FIELDS
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(f, _)| *f)
        .collect();
    let mut cols: Vec<Col> = fields.iter().map(|f| Col::new(f.kind)).collect();
    let mut file = Some(File::create(path).map_err(|e| err(&e))?);
    let mut writer: Option<ArrowWriter<File>> = None;
    let mut vals = Vec::with_capacity(T::FIELDS.len());
    let mut start = 0;
    // At least one batch, so that an empty table still gets its schema.
    loop {
        let end = (start + WRITE_BATCH_ROWS).min(rows.len());
        for r in &rows[start..end] {
            vals.clear();
            T::out(r, &mut vals);
            let kept = vals.iter().zip(&keep).filter(|(_, k)| **k).map(|(v, _)| v);
            for (col, v) in cols.iter_mut().zip(kept) {
                col.push(v);
            }
        }
        let arrays: Vec<ArrayRef> = cols.iter_mut().map(Col::finish).collect();
        let schema = Arc::new(Schema::new(
            fields
                .iter()
                .zip(&arrays)
                .map(|(f, a)| Field::new(f.name, a.data_type().clone(), !f.required))
                .collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| err(&e))?;
        let w = match (&mut writer, file.take()) {
            (Some(w), _) => w,
            (None, Some(f)) => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .build();
                writer.insert(ArrowWriter::try_new(f, schema, Some(props)).map_err(|e| err(&e))?)
            }
            (None, None) => return Err(IngestError::Internal("parquet writer lost".into())),
        };
        w.write(&batch).map_err(|e| err(&e))?;
        start = end;
        if start >= rows.len() {
            break;
        }
    }
    if let Some(w) = writer {
        w.close().map_err(|e| err(&e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_read_as_the_values_they_write() {
        let f = |unscaled: i128, scale: i8| match decimal_cell(unscaled, scale, || {
            Decimal128Type::format_decimal(unscaled, 38, scale)
        }) {
            Cell::Float(v) => v,
            other => panic!("{other:?}"),
        };
        // The arithmetic path: the f64 that "150.10" parses to.
        assert_eq!(f(15010, 2), 150.1);
        assert_eq!(f(102409, 2), 1024.09);
        assert_eq!(f(-5, 1), -0.5);
        assert_eq!(f(12, -3), 12_000.0);
        // Beyond 2^53 unscaled: the text path, still the nearest f64.
        assert_eq!(f(1_234_567_890_123_456_789, 2), 12_345_678_901_234_567.89);
        assert_eq!(f(1, 30), 1e-30);
    }
}
