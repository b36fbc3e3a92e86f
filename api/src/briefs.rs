//! Reading campaign briefs from files (`.json`: one object; `.jsonl` /
//! `.ndjson`: one per line) and validating them against a snapshot.
//!
//! Invariant: every error names the file, the line (for JSON Lines) and
//! each field path at fault.

use std::path::Path;

use anyhow::{anyhow, Context};
use cloutdesk_engine::brief::{BriefContext, CampaignBrief};
use cloutdesk_engine::snapshot::Snapshot;
use serde_json::Value;

/// Raw brief objects with where each came from (`file` or `file:line`).
pub fn read_brief_values(path: &Path) -> anyhow::Result<Vec<(String, Value)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext == "jsonl" || ext == "ndjson" {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = format!("{}:{}", path.display(), i + 1);
            let v: Value =
                serde_json::from_str(line).map_err(|e| anyhow!("{at}: not valid JSON: {e}"))?;
            out.push((at, v));
        }
        Ok(out)
    } else {
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| anyhow!("{}: not valid JSON: {e}", path.display()))?;
        Ok(vec![(path.display().to_string(), v)])
    }
}

pub fn context(s: &Snapshot) -> BriefContext<'_> {
    BriefContext {
        vector_dim: s.vectors.dim,
        user_vectors: s.vectors.user_supplied,
        creators: Some(&s.by_id),
        user_space: Some(s),
    }
}

/// Validates briefs one by one: the valid ones, and each problem of the
/// invalid ones (`where: path: problem`).
pub fn validate_each(s: &Snapshot, raw: &[(String, Value)]) -> (Vec<CampaignBrief>, Vec<String>) {
    use rayon::prelude::*;
    let ctx = context(s);
    // In parallel (10,000 briefs of a nightly run), kept in input order.
    let checked: Vec<_> = raw
        .par_iter()
        .with_min_len(64)
        .map(|(_, v)| CampaignBrief::from_json(v, &ctx))
        .collect();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for ((at, _), r) in raw.iter().zip(checked) {
        match r {
            Ok(b) => out.push(b),
            Err(e) => {
                for p in e.0 {
                    errors.push(format!("{at}: {}: {}", p.path, p.problem));
                }
            }
        }
    }
    (out, errors)
}

/// Validates briefs; the error lists every problem of every invalid brief.
pub fn validate_all(s: &Snapshot, raw: &[(String, Value)]) -> anyhow::Result<Vec<CampaignBrief>> {
    let (out, errors) = validate_each(s, raw);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(anyhow!("invalid brief(s):\n  {}", errors.join("\n  ")))
    }
}

/// `match --out` writes one `<campaign_id>.json` per brief: an error
/// naming every campaign id that more than one brief of `briefs` (read
/// from the places `raw` gives, in the same order) carries, before any
/// file is written, so no result overwrites another.
pub fn distinct_campaign_ids(
    raw: &[(String, Value)],
    briefs: &[CampaignBrief],
) -> anyhow::Result<()> {
    let mut at: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for ((place, _), b) in raw.iter().zip(briefs) {
        at.entry(b.campaign_id.as_str()).or_default().push(place);
    }
    let repeated: Vec<String> = at
        .iter()
        .filter(|(_, places)| places.len() > 1)
        .map(|(id, places)| format!("campaign_id {id:?} at {}", places.join(", ")))
        .collect();
    if repeated.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(
            "--out writes one <campaign_id>.json per brief, so each brief needs its own \
             campaign_id; repeated:\n  {}",
            repeated.join("\n  ")
        ))
    }
}
