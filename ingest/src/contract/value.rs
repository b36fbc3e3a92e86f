//! The format-neutral cell every reader produces, and the per-value parsers
//! (numbers, shares, codes, lists, share maps, dates) the contract's rules
//! are made of.
//!
//! Invariant: a parser either returns a value that satisfies its rule or a
//! human-readable reason that quotes the offending value (truncated); it is
//! never called on `Cell::Missing` (unknown values are handled by the
//! caller), and it behaves the same whichever format the cell came from.

use std::fmt::Write as _;

use cloutdesk_engine::codes::{is_country, is_language};
use cloutdesk_engine::schema::{age_bucket_index, AGE_BUCKETS, SHARE_SUM_TOLERANCE};

/// How long a quoted value may get in a reject reason.
const SHOW_MAX_CHARS: usize = 60;

/// Longest accepted `bio`, in characters.
pub(crate) const BIO_MAX_CHARS: usize = 4000;

/// One value of one row, whatever the file format.
///
/// `Text` holds a string exactly as written (CSV cells, JSON strings, Parquet
/// string columns); lists and share maps given as text use the CSV encoding
/// (`a|b`, `US:0.41|CA:0.2`). An empty string never appears as `Text`: it is
/// `Missing` ("unknown"). List items and map entries may be `Missing` (a JSON
/// `null` item): the parsers reject those.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    Missing,
    Text(&'a str),
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// A 32-bit float column's value (Parquet): read as the decimal it
    /// prints as (0.7f32 is 0.7, not 0.699999988), kept exact for f32
    /// targets (embeddings, shares).
    Float32(f32),
    /// Days since 1970-01-01.
    Date(i32),
    /// Seconds since the Unix epoch, UTC.
    Timestamp(i64),
    /// A timestamp of a column with a time zone: seconds since the epoch
    /// (UTC) and that zone's offset from UTC at that instant, in seconds
    /// (a date field takes the day it falls on there).
    ZonedTimestamp(i64, i32),
    List(Vec<Cell<'a>>),
    /// Entries in file order (duplicates kept: the parsers reject them).
    Map(Vec<(Cell<'a>, Cell<'a>)>),
}

impl<'a> Cell<'a> {
    /// A text cell; the empty string means "unknown".
    pub(crate) fn text(s: &'a str) -> Cell<'a> {
        if s.is_empty() {
            Cell::Missing
        } else {
            Cell::Text(s)
        }
    }
}

/// The cell as it should be quoted in a reject reason (strings quoted and
/// truncated to about 60 characters).
pub(crate) fn show(c: &Cell<'_>) -> String {
    let mut out = String::new();
    show_into(&mut out, c);
    truncate_chars(&out, SHOW_MAX_CHARS + 2)
}

fn show_into(out: &mut String, c: &Cell<'_>) {
    if out.len() > 4 * SHOW_MAX_CHARS {
        return;
    }
    let _ = match c {
        Cell::Missing => write!(out, "null"),
        Cell::Text(s) => write!(out, "{:?}", truncate_chars(s, SHOW_MAX_CHARS)),
        Cell::Bool(b) => write!(out, "{b}"),
        Cell::Int(i) => write!(out, "{i}"),
        Cell::UInt(u) => write!(out, "{u}"),
        Cell::Float(f) => write!(out, "{f}"),
        Cell::Float32(f) => write!(out, "{f}"),
        Cell::Date(d) => write!(out, "{}", format_date(*d)),
        Cell::Timestamp(t) | Cell::ZonedTimestamp(t, _) => write!(out, "{}", format_timestamp(*t)),
        Cell::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                show_into(out, item);
            }
            out.push(']');
            Ok(())
        }
        Cell::Map(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                show_into(out, k);
                out.push_str(": ");
                show_into(out, v);
            }
            out.push('}');
            Ok(())
        }
    };
}

/// `s` cut to at most `max` characters, with an ellipsis when cut.
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((cut, _)) => format!("{}...", &s[..cut]),
    }
}

// ---------------------------------------------------------------------------
// Scalars

/// True iff `s` is a plain decimal number: optional sign, digits with an
/// optional fraction (at least one digit), optional exponent. No `inf`,
/// `NaN`, hex, or surrounding junk.
fn is_decimal_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let mut digits = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == b.len()
}

/// A non-negative integer: decimal digits (a zero fraction such as
/// `12000.0` is accepted), a JSON integer, or an integral float.
pub(crate) fn uint(c: &Cell<'_>) -> Result<u64, String> {
    let bad = || format!("{} is not a non-negative integer", show(c));
    let negative = || {
        format!(
            "{} is negative; a non-negative integer is required",
            show(c)
        )
    };
    let widened;
    let c = match c {
        Cell::Float32(f) => {
            widened = Cell::Float(f64::from(*f));
            &widened
        }
        c => c,
    };
    match c {
        Cell::UInt(u) => Ok(*u),
        Cell::Int(i) => u64::try_from(*i).map_err(|_| negative()),
        Cell::Float(f) => {
            if !f.is_finite() || f.fract() != 0.0 {
                Err(bad())
            } else if *f < 0.0 {
                Err(negative())
            } else if *f >= 18_446_744_073_709_551_616.0 {
                Err(format!("{} is too large", show(c)))
            } else {
                Ok(*f as u64)
            }
        }
        Cell::Text(s) => {
            let t = s.trim();
            let (neg, body) = match t.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, t),
            };
            let int_part = match body.split_once('.') {
                Some((int, frac)) if !frac.is_empty() && frac.bytes().all(|b| b == b'0') => int,
                Some(_) => return Err(bad()),
                None => body,
            };
            if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            if neg {
                return if int_part.bytes().all(|b| b == b'0') {
                    Ok(0)
                } else {
                    Err(negative())
                };
            }
            int_part
                .parse::<u64>()
                .map_err(|_| format!("{} is too large", show(c)))
        }
        _ => Err(bad()),
    }
}

/// A non-negative integer that fits in 32 bits.
pub(crate) fn uint32(c: &Cell<'_>) -> Result<u32, String> {
    let v = uint(c)?;
    u32::try_from(v).map_err(|_| format!("{} is too large (at most {})", show(c), u32::MAX))
}

/// Any finite number (f64), from text or a numeric cell.
fn number(c: &Cell<'_>, what: &str) -> Result<f64, String> {
    let v = match c {
        Cell::UInt(u) => *u as f64,
        Cell::Int(i) => *i as f64,
        Cell::Float(f) => *f,
        // The shortest decimal that reads back as this f32: what the
        // writer meant (money written as float32 150.1 is $150.10).
        Cell::Float32(f) => cloutdesk_engine::schema::f32_as_written(*f),
        Cell::Text(s) => {
            let t = s.trim();
            if !is_decimal_syntax(t) {
                return Err(format!("{} is not {what}", show(c)));
            }
            t.parse::<f64>()
                .map_err(|_| format!("{} is not {what}", show(c)))?
        }
        _ => return Err(format!("{} is not {what}", show(c))),
    };
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{} is not {what}", show(c)))
    }
}

/// Money: a finite decimal number >= 0 (US dollars). `-0` reads as `0`.
pub(crate) fn money(c: &Cell<'_>) -> Result<f64, String> {
    let v = number(c, "a decimal amount")?;
    if v < 0.0 {
        return Err(format!(
            "{} is negative; an amount >= 0 is required",
            show(c)
        ));
    }
    Ok(v + 0.0)
}

/// A share: a fraction in [0, 1], kept as f32. Text is parsed straight to
/// f32 (no double rounding), so `{}`-formatted f32 values read back
/// bit-exactly.
pub(crate) fn share(c: &Cell<'_>) -> Result<f32, String> {
    let v = number(c, "a share (a fraction in [0, 1])")?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("{} is not a share in [0, 1]", show(c)));
    }
    let f = match c {
        Cell::Text(s) => s.trim().parse::<f32>().unwrap_or(v as f32),
        Cell::Float32(f) => *f,
        _ => v as f32,
    };
    Ok(f.clamp(0.0, 1.0) + 0.0)
}

/// A share kept at 64 bits, as written (a hard rule compares it: an f32
/// copy of 0.79999999 is 0.8).
pub(crate) fn share64(c: &Cell<'_>) -> Result<f64, String> {
    let v = number(c, "a share (a fraction in [0, 1])")?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("{} is not a share in [0, 1]", show(c)));
    }
    Ok(v + 0.0)
}

/// A finite f32 (embedding component).
fn finite_f32(c: &Cell<'_>) -> Result<f32, String> {
    let v = number(c, "a finite number")?;
    let f = match c {
        Cell::Text(s) => s.trim().parse::<f32>().unwrap_or(v as f32),
        Cell::Float32(f) => *f,
        _ => v as f32,
    };
    if f.is_finite() {
        Ok(f)
    } else {
        Err(format!("{} is out of the f32 range", show(c)))
    }
}

/// A bool: `true`/`false` (any case) or `1`/`0`.
pub(crate) fn boolean(c: &Cell<'_>) -> Result<bool, String> {
    match c {
        Cell::Bool(b) => Ok(*b),
        Cell::UInt(0) | Cell::Int(0) => Ok(false),
        Cell::UInt(1) | Cell::Int(1) => Ok(true),
        Cell::Text(s) => {
            let t = s.trim();
            if t.eq_ignore_ascii_case("true") || t == "1" {
                Ok(true)
            } else if t.eq_ignore_ascii_case("false") || t == "0" {
                Ok(false)
            } else {
                Err(format!("{} is not a bool (true/false or 1/0)", show(c)))
            }
        }
        _ => Err(format!("{} is not a bool (true/false or 1/0)", show(c))),
    }
}

/// An id: 1-64 characters of `[A-Za-z0-9._-]` (a non-negative integer cell
/// is taken as its decimal spelling).
pub(crate) fn id(c: &Cell<'_>) -> Result<String, String> {
    let s = match c {
        Cell::Text(s) => s.to_string(),
        Cell::UInt(u) => u.to_string(),
        Cell::Int(i) if *i >= 0 => i.to_string(),
        _ => String::new(),
    };
    if cloutdesk_engine::schema::is_valid_id(&s) {
        Ok(s)
    } else {
        Err(format!(
            "{} is not a valid id (1-64 characters of A-Z a-z 0-9 . _ -)",
            show(c)
        ))
    }
}

/// Free text (any string); surrounding whitespace is kept.
pub(crate) fn text(c: &Cell<'_>) -> Result<String, String> {
    match c {
        Cell::Text(s) => Ok((*s).to_string()),
        _ => Err(format!("{} is not a string", show(c))),
    }
}

/// A non-empty string, trimmed.
pub(crate) fn nonempty_text(c: &Cell<'_>) -> Result<String, String> {
    let s = text(c)?;
    let t = s.trim();
    if t.is_empty() {
        Err(format!("{} is blank", show(c)))
    } else {
        Ok(t.to_string())
    }
}

/// A public handle: non-empty, trimmed, without a leading `@`.
pub(crate) fn handle(c: &Cell<'_>) -> Result<String, String> {
    let h = nonempty_text(c)?;
    if h.starts_with('@') {
        return Err(format!(
            "{} must not start with @ (give the handle without it)",
            show(c)
        ));
    }
    Ok(h)
}

/// The bio: at most 4000 characters.
pub(crate) fn bio(c: &Cell<'_>) -> Result<String, String> {
    let s = text(c)?;
    let n = s.chars().count();
    if n > BIO_MAX_CHARS {
        return Err(format!(
            "is {n} characters long (at most {BIO_MAX_CHARS}): {}",
            show(c)
        ));
    }
    Ok(s)
}

/// A lower-cased, trimmed, non-empty category (a niche).
pub(crate) fn category(c: &Cell<'_>) -> Result<String, String> {
    Ok(nonempty_text(c)?.to_lowercase())
}

/// An enum value, trimmed, spelled exactly as the contract lists it.
pub(crate) fn enumerated<T>(
    c: &Cell<'_>,
    parse: fn(&str) -> Option<T>,
    allowed: &str,
) -> Result<T, String> {
    match c {
        Cell::Text(s) => parse(s.trim()),
        _ => None,
    }
    .ok_or_else(|| format!("{} is not one of {allowed} (lower case)", show(c)))
}

/// An ISO 3166-1 alpha-2 country code, upper case.
pub(crate) fn country(c: &Cell<'_>) -> Result<String, String> {
    let Cell::Text(s) = c else {
        return Err(format!("{} is not a country code", show(c)));
    };
    country_code(s.trim()).map_err(|e| format!("{} {e}", show(c)))
}

fn country_code(s: &str) -> Result<String, String> {
    if is_country(s) {
        return Ok(s.to_string());
    }
    let upper = s.to_ascii_uppercase();
    if is_country(&upper) {
        Err(format!("must be upper case ({upper:?})"))
    } else {
        Err("is not an ISO 3166-1 alpha-2 country code".to_string())
    }
}

fn language_code(s: &str) -> Result<String, String> {
    if is_language(s) {
        return Ok(s.to_string());
    }
    let lower = s.to_ascii_lowercase();
    if is_language(&lower) {
        Err(format!("must be lower case ({lower:?})"))
    } else {
        Err("is not an ISO 639-1 language code".to_string())
    }
}

// ---------------------------------------------------------------------------
// Lists and share maps

/// Calls `f` on each item of a list cell (an array / list column, or text
/// in the CSV encoding `a|b|c`, items trimmed). Stops at the first error,
/// which names the item.
fn for_each_item<'c>(
    c: &Cell<'c>,
    mut f: impl FnMut(&Cell<'_>) -> Result<(), String>,
) -> Result<(), String> {
    match c {
        Cell::Text(s) => {
            for item in s.split('|') {
                let item = item.trim();
                if item.is_empty() {
                    return Err(format!("{}: empty item", show(c)));
                }
                f(&Cell::Text(item)).map_err(|e| format!("item {e}"))?;
            }
            Ok(())
        }
        Cell::List(items) => {
            for item in items {
                if *item == Cell::Missing {
                    return Err(format!("{}: empty or null item", show(c)));
                }
                f(item).map_err(|e| format!("item {e}"))?;
            }
            Ok(())
        }
        _ => Err(format!("{} is not a list", show(c))),
    }
}

/// A list of values, each parsed with `item`.
fn list<T>(
    c: &Cell<'_>,
    mut item: impl FnMut(&Cell<'_>) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    for_each_item(c, |i| {
        out.push(item(i)?);
        Ok(())
    })?;
    Ok(out)
}

/// `niches`: lower-cased, trimmed, non-empty items.
pub(crate) fn niches(c: &Cell<'_>) -> Result<Vec<String>, String> {
    list(c, category).map(first_of_each)
}

/// `v` with each item kept once, at its first place: a niche or language
/// listed twice (`tech|Tech|TECH`) is one, not a stronger claim (it raised
/// the creator's text and semantic signals and repeated in reasons).
fn first_of_each(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(v.len());
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

/// `brands_worked_with`: trimmed, non-empty items (case kept).
pub(crate) fn brands(c: &Cell<'_>) -> Result<Vec<String>, String> {
    list(c, nonempty_text)
}

/// `languages`: ISO 639-1 codes, lower case.
pub(crate) fn languages(c: &Cell<'_>) -> Result<Vec<String>, String> {
    list(c, |i| match i {
        Cell::Text(s) => language_code(s.trim()).map_err(|e| format!("{} {e}", show(i))),
        _ => Err(format!("{} is not a language code", show(i))),
    })
    .map(first_of_each)
}

/// `embedding`: a non-empty list of finite f32.
pub(crate) fn embedding(c: &Cell<'_>) -> Result<Vec<f32>, String> {
    let v = list(c, finite_f32)?;
    if v.is_empty() {
        return Err("is an empty list (leave it out when unknown)".to_string());
    }
    Ok(v)
}

/// Calls `f(key, share)` on each entry of a share-map cell (an object /
/// map column / list of key-share structs, or text `K:0.4|L:0.2`), checking
/// that every share is in [0, 1] and that they sum to at most
/// 1 + `SHARE_SUM_TOLERANCE`. `f` validates the key.
fn share_map(
    c: &Cell<'_>,
    mut f: impl FnMut(&str, f32) -> Result<(), String>,
) -> Result<(), String> {
    let mut sum = 0.0f64;
    let mut entry = |k: &Cell<'_>, v: &Cell<'_>| -> Result<(), String> {
        let Cell::Text(key) = k else {
            return Err(format!("key {} is not a string", show(k)));
        };
        if *v == Cell::Missing {
            return Err(format!("{key:?} has no share"));
        }
        let s = share(v).map_err(|e| format!("{key:?}: {e}"))?;
        sum += f64::from(s);
        f(key.trim(), s)
    };
    match c {
        Cell::Text(s) => {
            for part in s.split('|') {
                let part = part.trim();
                let Some((k, v)) = part.split_once(':') else {
                    return Err(format!(
                        "{}: entry {:?} is not KEY:SHARE (missing ':')",
                        show(c),
                        truncate_chars(part, SHOW_MAX_CHARS)
                    ));
                };
                entry(&Cell::Text(k.trim()), &Cell::text(v.trim()))
                    .map_err(|e| format!("{}: {e}", show(c)))?;
            }
        }
        Cell::Map(entries) => {
            for (k, v) in entries {
                entry(k, v).map_err(|e| format!("{}: {e}", show(c)))?;
            }
        }
        _ => return Err(format!("{} is not a share map", show(c))),
    }
    // f32 shares summed in f64: allow for their representation error.
    if sum > 1.0 + SHARE_SUM_TOLERANCE + 1e-6 {
        return Err(format!(
            "{}: shares sum to {} (at most {})",
            show(c),
            (sum * 1e6).round() / 1e6,
            1.0 + SHARE_SUM_TOLERANCE
        ));
    }
    Ok(())
}

/// `audience_countries`: country code -> share, keys unique.
pub(crate) fn country_shares(c: &Cell<'_>) -> Result<Vec<(String, f32)>, String> {
    let mut out: Vec<(String, f32)> = Vec::new();
    share_map(c, |k, s| {
        let code = country_code(k).map_err(|e| format!("key {k:?} {e}"))?;
        if out.iter().any(|(o, _)| *o == code) {
            return Err(format!("duplicate key {k:?}"));
        }
        out.push((code, s));
        Ok(())
    })?;
    Ok(out)
}

/// `audience_ages`: age bucket -> share, as `[f32; 5]` in `AGE_BUCKETS`
/// order (absent buckets are 0), keys unique.
pub(crate) fn age_shares(c: &Cell<'_>) -> Result<[f32; 5], String> {
    let mut out = [0.0f32; 5];
    let mut seen = [false; 5];
    share_map(c, |k, s| {
        let i = age_bucket_index(k).ok_or_else(|| {
            format!(
                "key {k:?} is not an age bucket ({})",
                AGE_BUCKETS.join(", ")
            )
        })?;
        if seen[i] {
            return Err(format!("duplicate key {k:?}"));
        }
        seen[i] = true;
        out[i] = s;
        Ok(())
    })?;
    Ok(out)
}

// ---------------------------------------------------------------------------
// Dates and timestamps (proleptic Gregorian, UTC)

const SECS_PER_DAY: i64 = 86_400;
pub(crate) use cloutdesk_engine::schema::{civil_from_days, format_date, parse_date};

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
}

/// An RFC 3339 timestamp (`2026-03-01T12:30:00Z`, `...+02:00`, fractional
/// seconds dropped) or a plain `YYYY-MM-DD` (its midnight UTC), to seconds
/// since the epoch, UTC.
pub(crate) fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let day = i64::from(parse_date(s.get(..10)?)?);
    if b.len() == 10 {
        return Some(day * SECS_PER_DAY);
    }
    // Separator, then HH:MM:SS.
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let h = digits(&b[11..13])?;
    let mi = digits(&b[14..16])?;
    let sec = digits(&b[17..19])?;
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
            let oh = digits(&[*oh1, *oh2])?;
            let om = digits(&[*om1, *om2])?;
            if oh > 23 || om > 59 {
                return None;
            }
            let o = i64::from(oh * 3600 + om * 60);
            if *sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    Some(day * SECS_PER_DAY + i64::from(h * 3600 + mi * 60 + sec) - offset)
}

/// Seconds since the epoch as RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn format_timestamp(secs: i64) -> String {
    let days = secs.div_euclid(SECS_PER_DAY);
    let rest = secs.rem_euclid(SECS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// A date field: `YYYY-MM-DD` text, or a date / timestamp cell (the day
/// it falls on).
pub(crate) fn date(c: &Cell<'_>) -> Result<i32, String> {
    let bad = || format!("{} is not a date (YYYY-MM-DD)", show(c));
    match c {
        Cell::Text(s) => parse_date(s.trim()).ok_or_else(bad),
        Cell::Date(d) => Ok(*d),
        Cell::Timestamp(t) => i32::try_from(t.div_euclid(SECS_PER_DAY)).map_err(|_| bad()),
        // Local midnight in Tokyo is the previous day in UTC: the day is
        // the zone's.
        Cell::ZonedTimestamp(t, offset) => {
            i32::try_from((t + i64::from(*offset)).div_euclid(SECS_PER_DAY)).map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

/// A timestamp field: RFC 3339 or `YYYY-MM-DD` text, or a date / timestamp
/// cell.
pub(crate) fn timestamp(c: &Cell<'_>) -> Result<i64, String> {
    match c {
        Cell::Text(s) => parse_timestamp(s.trim()).ok_or_else(|| {
            format!(
                "{} is not an RFC 3339 timestamp or a YYYY-MM-DD date",
                show(c)
            )
        }),
        Cell::Date(d) => Ok(i64::from(*d) * SECS_PER_DAY),
        Cell::Timestamp(t) | Cell::ZonedTimestamp(t, _) => Ok(*t),
        _ => Err(format!(
            "{} is not an RFC 3339 timestamp or a YYYY-MM-DD date",
            show(c)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_match_known_values() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-03-01"), Some(11_017));
        assert_eq!(parse_date("1969-12-31"), Some(-1));
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("1900-02-29"), None);
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(parse_date("2024-1-01"), None);
        // Years 0000..=9999 (the YYYY format's range).
        assert_eq!(parse_date("0000-01-01"), Some(-719_528));
        assert_eq!(parse_date("9999-12-31"), Some(2_932_896));
        for d in (-719_528..=2_932_896).step_by(997) {
            assert_eq!(parse_date(&format_date(d)), Some(d), "{d}");
        }
        assert_eq!(format_date(19_782), "2024-02-29");
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("2026-03-01"), Some(1_772_323_200));
        assert_eq!(parse_timestamp("2026-03-01T12:30:15Z"), Some(1_772_368_215));
        assert_eq!(
            parse_timestamp("2026-03-01T14:30:15.250+02:00"),
            Some(1_772_368_215)
        );
        assert_eq!(parse_timestamp("2026-03-01t12:30:15z"), Some(1_772_368_215));
        assert_eq!(parse_timestamp("2026-03-01T12:30:15"), None);
        assert_eq!(parse_timestamp("2026-03-01T24:00:00Z"), None);
        assert_eq!(parse_timestamp("2026-03-01T12:30:15+0200"), None);
        assert_eq!(format_timestamp(1_772_368_215), "2026-03-01T12:30:15Z");
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn numbers() {
        assert_eq!(uint(&Cell::Text("12000.0")), Ok(12000));
        assert_eq!(uint(&Cell::Text("007")), Ok(7));
        assert!(uint(&Cell::Text("12k")).unwrap_err().contains("\"12k\""));
        assert!(uint(&Cell::Text("-5")).unwrap_err().contains("negative"));
        assert!(uint(&Cell::Text("1.5")).is_err());
        assert!(uint(&Cell::Text("1e3")).is_err());
        assert_eq!(uint(&Cell::Float(3.0)), Ok(3));
        assert!(uint(&Cell::Int(-3)).is_err());
        assert_eq!(money(&Cell::Text("12.5")), Ok(12.5));
        assert!(money(&Cell::Text("-1")).is_err());
        assert!(money(&Cell::Text("inf")).is_err());
        assert!(money(&Cell::Text("NaN")).is_err());
        assert_eq!(share(&Cell::Text("0.41")), Ok(0.41f32));
        assert!(share(&Cell::Text("1.2")).is_err());
        assert_eq!(boolean(&Cell::Text("TRUE")), Ok(true));
        assert_eq!(boolean(&Cell::Text("0")), Ok(false));
        assert!(boolean(&Cell::Text("yes")).is_err());
    }

    #[test]
    fn maps() {
        let m = country_shares(&Cell::Text("US:0.41|CA:0.20")).unwrap();
        assert_eq!(m, vec![("US".into(), 0.41), ("CA".into(), 0.2)]);
        assert!(country_shares(&Cell::Text("US:0.41|us:0.2"))
            .unwrap_err()
            .contains("upper case"));
        assert!(country_shares(&Cell::Text("US:0.41|US:0.2"))
            .unwrap_err()
            .contains("duplicate"));
        assert!(country_shares(&Cell::Text("US:0.9|CA:0.2"))
            .unwrap_err()
            .contains("sum"));
        assert!(country_shares(&Cell::Text("US0.9"))
            .unwrap_err()
            .contains("':'"));
        assert_eq!(
            age_shares(&Cell::Text("18-24:0.5|45+:0.25")).unwrap(),
            [0.0, 0.5, 0.0, 0.0, 0.25]
        );
        assert!(age_shares(&Cell::Text("18-25:0.5")).is_err());
        // The tolerance: 1.01 is fine.
        assert!(country_shares(&Cell::Text("US:0.41|CA:0.6")).is_ok());
    }
}
