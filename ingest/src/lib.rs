//! Cloutdesk offline pipeline: contract files in, a published snapshot out.
//!
//! A tour: [`contract`] reads and writes the contract's files (CSV, JSON
//! Lines, Parquet) and checks every rule, row by row; [`records`] are the
//! validated rows; [`features`] is the polars stage (engagement rates, cost
//! per engagement, reliability, payment records); [`history`] keeps the raw
//! history inside each snapshot for incremental loads; [`pipeline`] runs a
//! load end to end and publishes through `cloutdesk_engine::storage`;
//! [`generate`] is the seeded generator of realistic worlds.
//!
//! Architecture invariant: polars never leaves this crate (it converts to
//! the engine's column vectors once), and nothing is published unless the
//! whole load succeeded.

pub mod contract;
pub mod error;
pub mod features;
pub mod generate;
pub mod history;
pub mod pipeline;
pub mod records;

pub use error::IngestError;
pub use pipeline::{ingest, IngestOptions, LoadReport, NoProgress, Progress, VectorIndexMode};
