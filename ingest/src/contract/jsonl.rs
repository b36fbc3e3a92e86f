//! JSON Lines reading and writing of contract tables (`.jsonl` / `.ndjson`).
//!
//! Invariant: one JSON object per line, row number = line number (blank
//! lines skipped but counted); every object becomes cells handed to the
//! shared `Table::build`. The writer omits unknown values and writes every
//! number so that this reader gets the identical bits back (a float that
//! `serde_json`'s parser would round differently is written as a decimal
//! string, which the reader accepts too).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::table::{Loader, Out, Table};
use super::value::{self, Cell};
use crate::error::IngestError;
use crate::records::LoadedFile;

/// Reads a JSON Lines file of table `T`.
pub(crate) fn read<T: Table>(path: &Path) -> Result<LoadedFile<T::Record>, IngestError> {
    let file =
        File::open(path).map_err(|e| IngestError::file(path, format!("cannot open: {e}")))?;
    let mut rdr = BufReader::with_capacity(1 << 16, file);
    let mut loader = Loader::<T::Record>::new(path.display().to_string());
    let mut line = Vec::new();
    let mut lineno = 0usize;
    loop {
        line.clear();
        let n = rdr.read_until(b'\n', &mut line).map_err(|e| {
            IngestError::file(path, format!("cannot read after line {lineno}: {e}"))
        })?;
        if n == 0 {
            break;
        }
        lineno += 1;
        let Ok(text) = std::str::from_utf8(&line) else {
            loader.reject_row(lineno, "<line>", "is not valid UTF-8".to_string());
            continue;
        };
        let text = if lineno == 1 {
            text.trim_start_matches('\u{feff}')
        } else {
            text
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let v: JVal<'_> = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                loader.reject_row(
                    lineno,
                    "<line>",
                    format!(
                        "is not valid JSON ({e}): {:?}",
                        value::truncate_chars(text, 60)
                    ),
                );
                continue;
            }
        };
        let JVal::Obj(obj) = &v else {
            loader.reject_row(
                lineno,
                "<line>",
                format!(
                    "is not a JSON object: {:?}",
                    value::truncate_chars(text, 60)
                ),
            );
            continue;
        };
        // Keys in any order, unknown keys ignored; a repeated key: the last wins.
        let mut cells: Vec<Cell<'_>> = vec![Cell::Missing; T::FIELDS.len()];
        for (k, v) in obj {
            if let Some(i) = T::FIELDS.iter().position(|f| f.name == k) {
                cells[i] = v.cell();
            }
        }
        loader.row::<T>(lineno, &cells, false);
    }
    Ok(loader.finish())
}

/// A parsed JSON value that keeps object keys in file order (share maps
/// keep their order) and borrows unescaped strings from the line.
#[derive(Debug)]
enum JVal<'a> {
    Null,
    Bool(bool),
    UInt(u64),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Arr(Vec<JVal<'a>>),
    Obj(Vec<(Cow<'a, str>, JVal<'a>)>),
}

impl<'a> JVal<'a> {
    /// The value as a cell: `null` is unknown, arrays are lists, objects
    /// are maps.
    fn cell(&self) -> Cell<'_> {
        match self {
            JVal::Null => Cell::Missing,
            JVal::Bool(b) => Cell::Bool(*b),
            JVal::UInt(u) => Cell::UInt(*u),
            JVal::Int(i) => Cell::Int(*i),
            JVal::Float(f) => Cell::Float(*f),
            JVal::Str(s) => Cell::text(s),
            JVal::Arr(items) => Cell::List(items.iter().map(JVal::cell).collect()),
            JVal::Obj(entries) => Cell::Map(
                entries
                    .iter()
                    .map(|(k, v)| (Cell::Text(k), v.cell()))
                    .collect(),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for JVal<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JValVisitor)
    }
}

struct JValVisitor;

impl<'de> Visitor<'de> for JValVisitor {
    type Value = JVal<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<JVal<'de>, E> {
        Ok(JVal::Null)
    }
    fn visit_none<E>(self) -> Result<JVal<'de>, E> {
        Ok(JVal::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<JVal<'de>, D::Error> {
        JVal::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<JVal<'de>, E> {
        Ok(JVal::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<JVal<'de>, E> {
        Ok(JVal::UInt(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<JVal<'de>, E> {
        Ok(if v >= 0 {
            JVal::UInt(v as u64)
        } else {
            JVal::Int(v)
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<JVal<'de>, E> {
        Ok(JVal::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<JVal<'de>, E> {
        Ok(JVal::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<JVal<'de>, E> {
        Ok(JVal::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<JVal<'de>, E> {
        Ok(JVal::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JVal<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(JVal::Arr(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JVal<'de>, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(k) = map.next_key::<JKey<'de>>()? {
            let v = map.next_value()?;
            entries.push((k.0, v));
        }
        Ok(JVal::Obj(entries))
    }
}

/// An object key, borrowed when it has no escapes.
struct JKey<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for JKey<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match JVal::deserialize(d)? {
            JVal::Str(s) => Ok(JKey(s)),
            _ => Err(serde::de::Error::custom("object key is not a string")),
        }
    }
}

/// Writes `rows` as JSON Lines: one object per row, keys in contract order,
/// unknown values omitted, lists as arrays, share maps as objects.
pub(crate) fn write<T: Table>(path: &Path, rows: &[T::Record]) -> Result<(), IngestError> {
    let io_err = |e: std::io::Error| IngestError::file(path, format!("cannot write: {e}"));
    let file = File::create(path).map_err(io_err)?;
    let mut w = BufWriter::with_capacity(1 << 16, file);
    let mut vals = Vec::with_capacity(T::FIELDS.len());
    let mut line: Vec<u8> = Vec::with_capacity(1024);
    let mut scratch = String::new();
    for r in rows {
        vals.clear();
        T::out(r, &mut vals);
        line.clear();
        line.push(b'{');
        let mut first = true;
        for (f, v) in T::FIELDS.iter().zip(&vals) {
            if *v == Out::Null {
                continue;
            }
            if !first {
                line.push(b',');
            }
            first = false;
            json_str(&mut line, f.name);
            line.push(b':');
            json_value(&mut line, &mut scratch, v);
        }
        line.extend_from_slice(b"}\n");
        w.write_all(&line).map_err(io_err)?;
    }
    w.flush().map_err(io_err)?;
    Ok(())
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    // Serialising a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn json_value(out: &mut Vec<u8>, scratch: &mut String, v: &Out<'_>) {
    match v {
        Out::Null => out.extend_from_slice(b"null"),
        Out::Str(s) => json_str(out, s),
        Out::U64(x) => out.extend_from_slice(x.to_string().as_bytes()),
        Out::U32(x) => out.extend_from_slice(x.to_string().as_bytes()),
        Out::F64(x) => json_f64(out, scratch, *x),
        Out::F32(x) => json_f32(out, scratch, *x),
        Out::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Out::StrList(items) => {
            out.push(b'[');
            for (i, s) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_str(out, s);
            }
            out.push(b']');
        }
        Out::F32List(items) => {
            out.push(b'[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_f32(out, scratch, *x);
            }
            out.push(b']');
        }
        Out::ShareMap(entries) => {
            out.push(b'{');
            for (i, (k, s)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_str(out, k);
                out.push(b':');
                json_f32(out, scratch, *s);
            }
            out.push(b'}');
        }
        Out::Date(d) => json_str(out, &value::format_date(*d)),
        Out::Timestamp(t) => json_str(out, &value::format_timestamp(*t)),
    }
}

/// True when `serde_json`'s default (fast, not always correctly rounded)
/// float parser is certain to read the plain decimal `s` correctly rounded:
/// at most 15 significant digits (so the significand is exact) and at most
/// 22 fraction digits (so the power of ten is exact): one rounding in all.
fn parses_exactly(s: &str) -> bool {
    let body = s.trim_start_matches('-');
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let sig = int.trim_start_matches('0').len()
        + if int.trim_start_matches('0').is_empty() {
            frac.trim_start_matches('0').len()
        } else {
            frac.len()
        };
    sig <= 15 && frac.len() <= 22
}

/// What the JSONL reader will make of the number text `s`, as f64.
fn read_back(s: &str) -> Option<f64> {
    if parses_exactly(s) {
        s.parse::<f64>().ok()
    } else {
        serde_json::from_str::<f64>(s).ok()
    }
}

fn json_f64(out: &mut Vec<u8>, scratch: &mut String, x: f64) {
    use std::fmt::Write as _;
    scratch.clear();
    let _ = write!(scratch, "{x}");
    if x == 0.0 && x.is_sign_negative() {
        // `-0` would parse as the integer 0.
        scratch.push_str(".0");
    }
    if !x.is_finite() {
        out.extend_from_slice(b"null");
    } else if read_back(scratch).is_some_and(|v| v.to_bits() == x.to_bits()) {
        out.extend_from_slice(scratch.as_bytes());
    } else {
        json_str(out, scratch);
    }
}

fn json_f32(out: &mut Vec<u8>, scratch: &mut String, x: f32) {
    use std::fmt::Write as _;
    scratch.clear();
    let _ = write!(scratch, "{x}");
    if x == 0.0 && x.is_sign_negative() {
        // `-0` would parse as the integer 0.
        scratch.push_str(".0");
    }
    if !x.is_finite() {
        out.extend_from_slice(b"null");
    } else if read_back(scratch).is_some_and(|v| (v as f32).to_bits() == x.to_bits()) {
        out.extend_from_slice(scratch.as_bytes());
    } else {
        json_str(out, scratch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn floats_read_back_bit_exactly() {
        let mut out = Vec::new();
        let mut scratch = String::new();
        let f64s = [
            0.1,
            420.5,
            0.30000000000000004,
            1e300,
            5e-324,
            123_456_789.123_456_79,
            -0.0,
            1e17,
        ];
        for x in f64s {
            out.clear();
            json_f64(&mut out, &mut scratch, x);
            let v: Value = serde_json::from_slice(&out).unwrap();
            let back = match &v {
                Value::Number(n) => n.as_f64().unwrap(),
                Value::String(s) => s.parse().unwrap(),
                _ => panic!("{v}"),
            };
            assert_eq!(back.to_bits(), x.to_bits(), "{x}");
        }
        let f32s = [
            0.41f32,
            -0.0,
            1e-30,
            3.402_823_5e38,
            1.175_494_4e-38,
            0.333_333_34,
        ];
        for x in f32s {
            out.clear();
            json_f32(&mut out, &mut scratch, x);
            let v: Value = serde_json::from_slice(&out).unwrap();
            let back = match &v {
                Value::Number(n) => n.as_f64().unwrap() as f32,
                Value::String(s) => s.parse().unwrap(),
                _ => panic!("{v}"),
            };
            assert_eq!(back.to_bits(), x.to_bits(), "{x}");
        }
    }
}
