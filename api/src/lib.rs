//! Cloutdesk's edge: the `cloutdesk` CLI ([`cli`]) and the wire format
//! ([`dto`]). JSON, terminals and (later) HTTP live here; ranking lives in
//! `cloutdesk-engine`, loading in `cloutdesk-ingest`.

pub mod bench;
pub mod briefs;
pub mod campaigns;
pub mod cli;
pub mod declines;
pub mod dto;
pub mod eval;
pub mod keys;
pub mod progress;
pub mod rerank;
pub mod server;
