//! Cloutdesk offline pipeline.
pub mod contract;
pub mod error;
pub mod generate;
pub mod records;

pub use error::IngestError;
