//! Cloutdesk's edge: the `cloutdesk` CLI ([`cli`]) and the wire format
//! ([`dto`]). JSON, terminals and (later) HTTP live here; ranking lives in
//! `cloutdesk-engine`, loading in `cloutdesk-ingest`.

pub mod briefs;
pub mod cli;
pub mod dto;
pub mod progress;
