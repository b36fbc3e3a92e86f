//! Conversions between the engine's column vectors and Arrow arrays.
//!
//! Pure functions, no I/O. Invariant: for every helper pair,
//! `read_x(build_x(v)) == v` (nulls stand for unknown values).

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Float64Array, ListArray,
    RecordBatch, StringArray, StructArray, UInt32Array, UInt64Array, UInt8Array,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Field, Fields};

use crate::storage::StorageError;

/// A share map column value: (key, share) pairs, e.g. `US:0.6|CA:0.2`.
pub type ShareMap = Vec<(String, f32)>;

/// `row(i)` for `i` in `0..len`, in order, computed in parallel: turning a
/// column of a million strings or lists into owned values is one small
/// allocation and copy per value, the bulk of a snapshot's load, and
/// independent row by row.
fn par_rows<T: Send>(len: usize, row: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    use rayon::prelude::*;
    (0..len)
        .into_par_iter()
        .with_min_len(1 << 14)
        .map(row)
        .collect()
}

pub fn str_col(v: &[String]) -> ArrayRef {
    str_col_of(v.iter().map(String::as_str))
}

pub fn opt_str_col(v: &[Option<String>]) -> ArrayRef {
    opt_str_col_of(v.iter().map(|s| s.as_deref()))
}

/// A utf8 column straight from borrowed strings (no owned copies first).
pub fn str_col_of<'a>(v: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(v))
}

/// A nullable utf8 column straight from borrowed strings.
pub fn opt_str_col_of<'a>(v: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(v.collect::<StringArray>())
}

pub fn u64_col(v: &[u64]) -> ArrayRef {
    Arc::new(UInt64Array::from(v.to_vec()))
}

pub fn u32_col(v: &[u32]) -> ArrayRef {
    Arc::new(UInt32Array::from(v.to_vec()))
}

pub fn u8_col(v: &[u8]) -> ArrayRef {
    Arc::new(UInt8Array::from(v.to_vec()))
}

pub fn opt_u64_col(v: &[Option<u64>]) -> ArrayRef {
    Arc::new(UInt64Array::from(v.to_vec()))
}

pub fn opt_u32_col(v: &[Option<u32>]) -> ArrayRef {
    Arc::new(UInt32Array::from(v.to_vec()))
}

pub fn opt_f32_col(v: &[Option<f32>]) -> ArrayRef {
    Arc::new(Float32Array::from(v.to_vec()))
}

pub fn f32_col(v: &[f32]) -> ArrayRef {
    Arc::new(Float32Array::from(v.to_vec()))
}

pub fn opt_f64_col(v: &[Option<f64>]) -> ArrayRef {
    Arc::new(Float64Array::from(v.to_vec()))
}

pub fn f64_col(v: &[f64]) -> ArrayRef {
    Arc::new(Float64Array::from(v.to_vec()))
}

pub fn i64_col(v: &[i64]) -> ArrayRef {
    Arc::new(arrow_array::Int64Array::from(v.to_vec()))
}

pub fn opt_i64_col(v: &[Option<i64>]) -> ArrayRef {
    Arc::new(arrow_array::Int64Array::from(v.to_vec()))
}

pub fn opt_bool_col(v: &[Option<bool>]) -> ArrayRef {
    Arc::new(BooleanArray::from(v.to_vec()))
}

fn nulls_of<T>(v: &[Option<T>]) -> Option<NullBuffer> {
    if v.iter().all(Option::is_some) {
        None
    } else {
        Some(NullBuffer::from(
            v.iter().map(Option::is_some).collect::<Vec<bool>>(),
        ))
    }
}

/// `list<utf8>`; `None` rows are null lists.
pub fn list_str_col(v: &[Option<Vec<String>>]) -> ArrayRef {
    let lens = v.iter().map(|x| x.as_ref().map_or(0, Vec::len));
    let offsets = OffsetBuffer::<i32>::from_lengths(lens);
    let values = StringArray::from_iter_values(v.iter().flatten().flatten());
    let field = Arc::new(Field::new("item", DataType::Utf8, false));
    Arc::new(ListArray::new(
        field,
        offsets,
        Arc::new(values),
        nulls_of(v),
    ))
}

/// `list<utf8>` of borrowed lists, none null: the same column as
/// [`list_str_col`] of the lists wrapped in `Some`, without owned copies.
pub fn list_str_col_of<S: AsRef<str>>(v: &[&[S]]) -> ArrayRef {
    let offsets = OffsetBuffer::<i32>::from_lengths(v.iter().map(|x| x.len()));
    let values = StringArray::from_iter_values(v.iter().flat_map(|x| x.iter().map(AsRef::as_ref)));
    let field = Arc::new(Field::new("item", DataType::Utf8, false));
    Arc::new(ListArray::new(field, offsets, Arc::new(values), None))
}

pub fn share_map_type() -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(share_struct_fields()),
        false,
    )))
}

fn share_struct_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("share", DataType::Float32, false),
    ])
}

/// `list<struct<key: utf8, share: f32>>`.
pub fn share_map_col(v: &[Option<Vec<(String, f32)>>]) -> ArrayRef {
    let lens = v.iter().map(|x| x.as_ref().map_or(0, Vec::len));
    let offsets = OffsetBuffer::<i32>::from_lengths(lens);
    let keys = StringArray::from_iter_values(v.iter().flatten().flatten().map(|(k, _)| k));
    let shares = Float32Array::from_iter_values(v.iter().flatten().flatten().map(|(_, s)| *s));
    let st = StructArray::new(
        share_struct_fields(),
        vec![Arc::new(keys), Arc::new(shares)],
        None,
    );
    let field = Arc::new(Field::new(
        "item",
        DataType::Struct(share_struct_fields()),
        false,
    ));
    Arc::new(ListArray::new(field, offsets, Arc::new(st), nulls_of(v)))
}

/// `fixed_size_list<f32, N>`.
pub fn fixed_f32_col<const N: usize>(v: &[Option<[f32; N]>]) -> ArrayRef {
    let values =
        Float32Array::from_iter_values(v.iter().flat_map(|x| x.unwrap_or([0.0; N]).into_iter()));
    let field = Arc::new(Field::new("item", DataType::Float32, false));
    Arc::new(FixedSizeListArray::new(
        field,
        N as i32,
        Arc::new(values),
        nulls_of(v),
    ))
}

/// A flat row-major `n x dim` f32 matrix as `fixed_size_list<f32, dim>`,
/// taking its buffer (no copy).
pub fn matrix_col(flat: Vec<f32>, dim: usize) -> ArrayRef {
    let field = Arc::new(Field::new("item", DataType::Float32, false));
    Arc::new(FixedSizeListArray::new(
        field,
        dim as i32,
        Arc::new(Float32Array::from(flat)),
        None,
    ))
}

// ---------------------------------------------------------------- readers

/// Typed access to one table's columns, with errors that name the table and
/// the column.
pub struct Columns<'a> {
    pub table: &'a str,
    pub batch: &'a RecordBatch,
}

impl<'a> Columns<'a> {
    fn col(&self, name: &str) -> Result<&'a ArrayRef, StorageError> {
        self.batch
            .column_by_name(name)
            .ok_or_else(|| StorageError::Schema {
                table: self.table.to_string(),
                message: format!("missing column `{name}`"),
            })
    }

    /// Column `name` as array type `T`; an error names the table and the
    /// column when it is missing or of another type.
    pub fn typed<T: 'static>(&self, name: &str) -> Result<&'a T, StorageError> {
        let c = self.col(name)?;
        c.as_any()
            .downcast_ref::<T>()
            .ok_or_else(|| StorageError::Schema {
                table: self.table.to_string(),
                message: format!("column `{name}` has type {}", c.data_type()),
            })
    }

    pub fn strings(&self, name: &str) -> Result<Vec<String>, StorageError> {
        let a: &StringArray = self.typed(name)?;
        Ok(par_rows(a.len(), |i| {
            if a.is_valid(i) {
                a.value(i).to_string()
            } else {
                String::new()
            }
        }))
    }

    pub fn opt_strings(&self, name: &str) -> Result<Vec<Option<String>>, StorageError> {
        let a: &StringArray = self.typed(name)?;
        Ok(par_rows(a.len(), |i| {
            a.is_valid(i).then(|| a.value(i).to_string())
        }))
    }

    pub fn u64s(&self, name: &str) -> Result<Vec<u64>, StorageError> {
        let a: &UInt64Array = self.typed(name)?;
        Ok(a.values().to_vec())
    }

    pub fn opt_u64s(&self, name: &str) -> Result<Vec<Option<u64>>, StorageError> {
        let a: &UInt64Array = self.typed(name)?;
        Ok(a.iter().collect())
    }

    pub fn u32s(&self, name: &str) -> Result<Vec<u32>, StorageError> {
        let a: &UInt32Array = self.typed(name)?;
        Ok(a.values().to_vec())
    }

    pub fn u8s(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        let a: &UInt8Array = self.typed(name)?;
        Ok(a.values().to_vec())
    }

    pub fn opt_u32s(&self, name: &str) -> Result<Vec<Option<u32>>, StorageError> {
        let a: &UInt32Array = self.typed(name)?;
        Ok(a.iter().collect())
    }

    pub fn opt_f32s(&self, name: &str) -> Result<Vec<Option<f32>>, StorageError> {
        let a: &Float32Array = self.typed(name)?;
        Ok(a.iter().collect())
    }

    pub fn f32s(&self, name: &str) -> Result<Vec<f32>, StorageError> {
        let a: &Float32Array = self.typed(name)?;
        Ok(a.values().to_vec())
    }

    /// A Float64 column, or a Float32 one widened through its shortest
    /// decimal (what snapshots written before a column became 64-bit hold:
    /// their 0.7f32 was read from "0.7", so it reads back as 0.7, not
    /// 0.699999988, which would fail "at least 0.7").
    pub fn opt_f64s_or_f32s(&self, name: &str) -> Result<Vec<Option<f64>>, StorageError> {
        match self.col(name)?.data_type() {
            DataType::Float32 => Ok(self
                .opt_f32s(name)?
                .into_iter()
                .map(|x| x.map(crate::schema::f32_as_written))
                .collect()),
            _ => self.opt_f64s(name),
        }
    }

    pub fn opt_f64s(&self, name: &str) -> Result<Vec<Option<f64>>, StorageError> {
        let a: &Float64Array = self.typed(name)?;
        Ok(a.iter().collect())
    }

    pub fn f64s(&self, name: &str) -> Result<Vec<f64>, StorageError> {
        let a: &Float64Array = self.typed(name)?;
        Ok(a.values().to_vec())
    }

    pub fn i64s(&self, name: &str) -> Result<Vec<i64>, StorageError> {
        let a: &arrow_array::Int64Array = self.typed(name)?;
        Ok(a.values().to_vec())
    }

    pub fn opt_i64s(&self, name: &str) -> Result<Vec<Option<i64>>, StorageError> {
        let a: &arrow_array::Int64Array = self.typed(name)?;
        Ok(a.iter().collect())
    }

    pub fn opt_bools(&self, name: &str) -> Result<Vec<Option<bool>>, StorageError> {
        let a: &BooleanArray = self.typed(name)?;
        Ok(a.iter().collect())
    }

    pub fn list_strs(&self, name: &str) -> Result<Vec<Option<Vec<String>>>, StorageError> {
        let a: &ListArray = self.typed(name)?;
        let values = a
            .values()
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| self.bad(name, "list items are not utf8"))?;
        let offs = a.value_offsets();
        Ok(par_rows(a.len(), |i| {
            a.is_valid(i).then(|| {
                (offs[i] as usize..offs[i + 1] as usize)
                    .map(|j| values.value(j).to_string())
                    .collect()
            })
        }))
    }

    pub fn share_maps(&self, name: &str) -> Result<Vec<Option<ShareMap>>, StorageError> {
        let a: &ListArray = self.typed(name)?;
        let st = a
            .values()
            .as_any()
            .downcast_ref::<StructArray>()
            .ok_or_else(|| self.bad(name, "list items are not structs"))?;
        let keys = st
            .column_by_name("key")
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| self.bad(name, "struct lacks utf8 `key`"))?;
        let shares = st
            .column_by_name("share")
            .and_then(|c| c.as_any().downcast_ref::<Float32Array>())
            .ok_or_else(|| self.bad(name, "struct lacks f32 `share`"))?;
        let offs = a.value_offsets();
        Ok(par_rows(a.len(), |i| {
            a.is_valid(i).then(|| {
                (offs[i] as usize..offs[i + 1] as usize)
                    .map(|j| (keys.value(j).to_string(), shares.value(j)))
                    .collect()
            })
        }))
    }

    pub fn fixed_f32<const N: usize>(
        &self,
        name: &str,
    ) -> Result<Vec<Option<[f32; N]>>, StorageError> {
        let a: &FixedSizeListArray = self.typed(name)?;
        if a.value_length() as usize != N {
            return Err(self.bad(name, &format!("expected {N} values per row")));
        }
        let values = a
            .values()
            .as_any()
            .downcast_ref::<Float32Array>()
            .ok_or_else(|| self.bad(name, "items are not f32"))?;
        Ok((0..a.len())
            .map(|i| {
                a.is_valid(i).then(|| {
                    let mut out = [0.0f32; N];
                    out.copy_from_slice(&values.values()[i * N..i * N + N]);
                    out
                })
            })
            .collect())
    }

    /// A `fixed_size_list<f32, dim>` column as a flat matrix and its dim.
    pub fn matrix(&self, name: &str) -> Result<(Vec<f32>, usize), StorageError> {
        let a: &FixedSizeListArray = self.typed(name)?;
        let values = a
            .values()
            .as_any()
            .downcast_ref::<Float32Array>()
            .ok_or_else(|| self.bad(name, "items are not f32"))?;
        Ok((values.values().to_vec(), a.value_length() as usize))
    }

    fn bad(&self, name: &str, what: &str) -> StorageError {
        StorageError::Schema {
            table: self.table.to_string(),
            message: format!("column `{name}`: {what}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::batch;

    #[test]
    fn a_64_bit_column_reads_its_32_bit_predecessor() {
        // Snapshots written before `audience_quality` and
        // `engagement_rate` became 64-bit hold Float32 columns.
        let b = batch(
            "t",
            vec![
                ("old", opt_f32_col(&[Some(0.7), None])),
                ("new", opt_f64_col(&[Some(0.79999999), None])),
                ("text", str_col(&["a".to_string(), "b".to_string()])),
            ],
        )
        .unwrap();
        let r = Columns {
            table: "t",
            batch: &b,
        };
        // 0.7f32 is 0.699999988 in binary: it reads back as 0.7.
        assert_eq!(r.opt_f64s_or_f32s("old").unwrap(), vec![Some(0.7), None]);
        assert_eq!(
            r.opt_f64s_or_f32s("new").unwrap(),
            vec![Some(0.79999999), None]
        );
        let err = r.opt_f64s_or_f32s("text").unwrap_err().to_string();
        assert!(err.contains("`text`"), "{err}");
    }
}
