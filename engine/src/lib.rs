//! Cloutdesk matching core: the snapshot format, the hard rules, the
//! scoring signals and the budget-feasible selection.
//!
//! A tour: [`storage`] is the only module that touches the filesystem; it
//! writes and reads versioned [`storage::Manifest`]-described snapshots.
//! [`table`] holds the snapshot's tables as column vectors and converts them
//! to and from Arrow ([`arrow_io`]). [`snapshot::Snapshot`] is an immutable,
//! loaded snapshot with its derived indexes (postings per country, language,
//! platform and brand; the tantivy reader; the HNSW graph). A raw brief
//! becomes a [`brief::CampaignBrief`] through one validating constructor;
//! after that, [`matcher::Matcher`] cannot fail: [`filter`] computes the
//! hard-rule bitmap, [`candidates`] picks who gets scored, [`signals`]
//! scores them, [`select`] builds the portfolio and [`explain`] writes the
//! reasons.
//!
//! Architecture invariant: no tokio, no HTTP; the hot path does no I/O.

pub mod ann;
pub mod arrow_io;
pub mod assign;
pub mod bitset;
pub mod brief;
pub mod candidates;
pub mod codes;
pub mod explain;
pub mod feed;
pub mod filter;
pub mod hnsw_build;
pub mod matcher;
pub mod mem;
pub mod pass512;
pub mod pricing;
pub mod quant;
pub mod schema;
pub mod select;
pub mod signals;
pub mod snapshot;
pub mod storage;
pub mod table;
pub mod text;
pub mod topk;
pub mod vector;

/// Crash-test hook: when the environment variable `CLOUTDESK_FAILPOINT`
/// names this point, the process reports it on stderr and then waits to be
/// killed (tests send SIGKILL to prove that no instant of a write can break
/// the published snapshot). A no-op otherwise.
pub fn failpoint(name: &str) {
    if std::env::var("CLOUTDESK_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("FAILPOINT {name}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

/// A seeded source of 31-bit numbers for tests (an LCG: the same numbers
/// on every machine).
#[cfg(test)]
fn test_lcg(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed;
    move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s >> 33
    }
}

/// A seeded uniform source in [-0.5, 0.5) for tests ([`test_lcg`]).
#[cfg(test)]
pub(crate) fn test_uniform(seed: u64) -> impl FnMut() -> f32 {
    let mut next = test_lcg(seed);
    move || (next() as f32 / (1u64 << 31) as f32) - 0.5
}

/// A seeded source of whole numbers below the bound asked for, for tests
/// ([`test_lcg`]).
#[cfg(test)]
pub(crate) fn test_below(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut next = test_lcg(seed);
    move |m| next() % m
}

/// `n` seeded unit vectors for tests: uniform directions, or with
/// `clusters > 0` spread around that many centres (as creators are).
#[cfg(test)]
pub(crate) fn test_vectors(n: usize, dim: usize, seed: u64, clusters: usize) -> table::VectorTable {
    let mut next = test_uniform(seed);
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dim).map(|_| next()).collect())
        .collect();
    let mut data = Vec::with_capacity(n * dim);
    for i in 0..n {
        let mut row: Vec<f32> = match centres.get(i % clusters.max(1)) {
            Some(c) => c.iter().map(|x| x + 0.35 * next()).collect(),
            None => (0..dim).map(|_| next()).collect(),
        };
        vector::normalize(&mut row);
        data.extend(row);
    }
    table::VectorTable {
        dim,
        data,
        user_supplied: false,
    }
}
