//! Errors of the offline pipeline.
//!
//! `File` errors are the user's (a file that cannot be read as the contract
//! says); `Internal` ones are ours. Row-level problems are not errors: they
//! are [`crate::records::Reject`]s, and the good rows still land.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A file-level fault: unreadable, unknown extension, bad header,
    /// truncated or corrupt Parquet. Nothing is published.
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    /// `--strict` and at least one row was rejected.
    #[error("strict load: {count} row(s) rejected, first: {first}")]
    Strict { count: usize, first: String },
    /// The load would leave no creators at all: with the rows it rejected
    /// (how many, and the first few problems, each naming file, row and
    /// field), so that a file whose every row is bad says why.
    #[error("no valid creator rows: nothing to publish{}", rejected_summary(*.rejected, .first))]
    Empty { rejected: usize, first: Vec<String> },
    /// The storage error as it is (it names its file): a prefix here was
    /// printed before the same message twice in an error chain.
    #[error(transparent)]
    Snapshot(#[from] cloutdesk_engine::storage::StorageError),
    #[error("internal error: {0}")]
    Internal(String),
}

fn rejected_summary(rejected: usize, first: &[String]) -> String {
    if rejected == 0 {
        return String::new();
    }
    format!(
        "; {rejected} row(s) rejected, first:\n  {}",
        first.join("\n  ")
    )
}

impl IngestError {
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        IngestError::File {
            path: path.into(),
            message: message.into(),
        }
    }
}
