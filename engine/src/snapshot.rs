//! An immutable, loaded snapshot and the hot-path indexes derived from it.
//!
//! `Snapshot` is shared as `Arc<Snapshot>`; a new ingest produces a new one
//! and servers swap the `Arc`. Invariant: every derived structure here is a
//! pure function of the tables, built once at load, so matching reads only
//! dense arrays and never allocates per creator.

use std::collections::HashMap;
use std::sync::Arc;

use crate::ann::Graph;
use crate::candidates::{graph_can_pay_off, CandidateOptions};
use crate::quant::QuantVectors;
use crate::signals::{shrink_rate, SHRINK_OVERALL};
use crate::storage::{self, DataDir, Manifest, StorageError};
use crate::table::{CreatorTable, NicheStats, OrgTable, VectorTable};
use crate::text::TextIndex;
use crate::vector::{size_band, SIZE_BANDS};

pub const TABLE_CREATORS: &str = "creators";
pub const TABLE_NICHES: &str = "creator_niches";
pub const TABLE_ORGS: &str = "orgs";
pub const TABLE_VECTORS: &str = "vectors";
pub const TEXT_DIR: &str = "text";
pub const HNSW_DIR: &str = "hnsw";
pub const HNSW_BASENAME: &str = "creators";

/// Value used in dense u16 code columns for "unknown".
pub const UNKNOWN_CODE: u16 = u16::MAX;

/// Per-size-band market priors, computed from the snapshot itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Priors {
    /// Median engagement rate per size band (falls back to industry figures).
    pub er_by_band: [f32; SIZE_BANDS],
    /// Median engagement rate per platform (by [`crate::schema::Platform`]
    /// code) and size band, where at least 20 creators have one; else the
    /// band's. Platforms differ in engagement by factors (a short-video
    /// audience engages more than a microblog's), so a creator without
    /// history is expected to engage like its peers on its own platform.
    pub er_by_platform_band: Vec<[f32; SIZE_BANDS]>,
    /// Median audience quality over creators where it is known.
    pub quality: f32,
    /// Median planned fee per follower, per band.
    pub fee_per_follower_by_band: [f64; SIZE_BANDS],
    /// Market cost per expected engagement (median over creators).
    pub market_cpe: f64,
    /// Median engagement rate per niche over creators with niche history.
    pub er_by_niche: Vec<f32>,
}

impl Priors {
    /// The engagement rate a creator of `platform` (code) and size `band`
    /// is expected to have without history of its own.
    pub fn er_prior(&self, platform: u8, band: u8) -> f32 {
        self.er_by_platform_band
            .get(platform as usize)
            .map_or(self.er_by_band[band as usize], |row| row[band as usize])
    }
}

/// Dense hot-path columns.
#[derive(Debug, Clone, Default)]
pub struct Hot {
    pub platform: Vec<u8>,
    pub country: Vec<u16>,
    /// `country` in 8 bits (255: unknown) when the snapshot knows at most
    /// 255 countries, as ISO 3166 allows; empty otherwise. Half the bytes
    /// for the country rule, which reads it for nearly every word.
    pub country_8: Vec<u8>,
    /// Bitmask of languages (index into `language_dict`), 192 bits.
    pub languages: Vec<[u64; 3]>,
    /// `languages[i][0]`, the first 64 language codes, as its own column:
    /// a third of the bytes for the language rule of briefs that only
    /// name such languages (the common case; codes are given out in order
    /// of first appearance).
    pub languages_lo: Vec<u64>,
    pub followers: Vec<u64>,
    pub band: Vec<u8>,
    /// NaN = unknown. The signals' copies (32-bit).
    pub er: Vec<f32>,
    pub quality: Vec<f32>,
    /// The same two as the hard rules compare them: 64-bit, as the data
    /// gave them (a 32-bit copy would let 0.79999999 pass "at least
    /// 0.8"). NaN = unknown (fails every bound).
    pub er_rule: Vec<f64>,
    pub quality_rule: Vec<f64>,
    pub female: Vec<f32>,
    pub ages: Vec<[f32; 5]>,
    pub ages_known: Vec<bool>,
    /// Planned fee in cents (exact budget arithmetic).
    pub fee_cents: Vec<u64>,
    /// Floor in cents; `u64::MAX` never (unknown floor = no floor = 0).
    pub min_fee_cents: Vec<u64>,
    /// `u32::MAX` = unknown.
    pub capacity: Vec<u32>,
    /// 0 = false, 1 = true, 2 = unknown.
    pub usage_rights: Vec<u8>,
    /// CSR: declared niche codes per creator.
    pub niche_off: Vec<u32>,
    pub niche_codes: Vec<u16>,
    /// CSR: (niche code, engagement rate, posts) from history per creator.
    pub hist_off: Vec<u32>,
    pub hist: Vec<(u16, f32, u32)>,
    /// Posts of the creator's history with a niche (the sum of `hist`'s
    /// post counts).
    pub tagged_posts: Vec<u32>,
    /// CSR: (country code, share) of the audience per creator.
    pub aud_off: Vec<u32>,
    pub aud: Vec<(u16, f32)>,
    pub aud_known: Vec<bool>,
    /// Derived once per snapshot (brief-independent parts of the scoring):
    /// the overall engagement rate shrunk toward the size band's prior
    /// (`signals::BriefScorer::predicted_er` before niche evidence) ...
    pub overall_er: Vec<f32>,
    /// ... and followers x audience quality (prior when unknown) / planned
    /// fee in dollars, the reach a dollar buys (for the cheap
    /// value-per-dollar ranking of the candidate stage).
    pub reach_per_dollar: Vec<f32>,
    /// Brief-independent part of the hard rules, 64 creators a word: bit
    /// set iff the planned fee is at or above the floor and
    /// the capacity is not 0 (the rule pass starts from it instead of
    /// reading three columns for every brief).
    pub payable: Vec<u64>,
    /// `followers` and `fee_cents` narrowed to 32 bits for the rule pass
    /// (half the bytes); empty when some value does not fit, and then the
    /// 64-bit columns are read.
    pub followers_u32: Vec<u32>,
    pub fee_cents_u32: Vec<u32>,
    /// One-word summaries of the per-creator lists: bit `code % 64` set
    /// for each declared niche, history niche and audience country. A
    /// brief whose codes share no bit with a creator's word has none of
    /// them in that list (the signals then skip the list; exact for any
    /// dictionary size, since a shared bit only means "look").
    pub niche_bloom: Vec<u64>,
    pub hist_bloom: Vec<u64>,
    pub aud_bloom: Vec<u64>,
    /// What [`crate::signals::BriefScorer::value_bound`] reads, one
    /// 32-byte record per creator (two to a cache line, one stream for
    /// the candidate pass instead of seven columns, with the int8 scale).
    pub bound_words: Vec<BoundWords>,
}

/// Creator `i`'s inputs to the brief's value bound: `value_bound` and
/// `overall_bound`, the audience summary and the declared-or-history
/// niche summary folded to 32 bits (bit `code % 32`: a brief whose folded
/// bits share none with them has none of those codes — a looser "maybe"
/// than 64 bits, never a wrong "no"), the history's own summary (64
/// bits), the home country, whether the audience is known, and upper
/// bounds of its share in the home country and in any other country (a
/// brief's audience target takes one of the two per targeted country its
/// summary may hold); and the scale of its int8 vector. 32 bytes, two to
/// a cache line; the AVX-512 pass (`pass512`) reads its fields at these
/// offsets.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(C, align(32))]
pub struct BoundWords {
    /// An upper bound of `signals::BriefScorer::quick_value_per_dollar`
    /// for any brief: the best rate the creator could be predicted (its
    /// overall rate or a niche rate, whichever is higher) x
    /// `reach_per_dollar`, never below 0, with a margin for rounding (the
    /// brief's geography and niche factors are at most 1).
    pub value_bound: f32,
    /// The same with the overall rate alone: the bound for a brief none
    /// of whose niches is in the creator's history (`hist_bloom` shares no
    /// bit with them), whose predicted rate is then the overall rate.
    pub overall_bound: f32,
    pub aud_bloom: u32,
    pub niche_bloom: u32,
    /// `Hot::hist_bloom`: the history's niches, 64 bits.
    pub hist_bloom: u64,
    pub country: u16,
    /// Bit 7: the audience is known; bits 0-6: the share of the first
    /// audience entry of the home country (0 when none) rounded up in
    /// 126ths, 127 when it is not a share in [0, 1] (no bound).
    pub home_share: u8,
    /// The largest share of an audience entry of another country rounded
    /// up in 254ths, 255 when one is not a share in [0, 1].
    pub other_share: u8,
    /// The scale of the creator's int8 vector (`Snapshot::qvectors`'s, the
    /// same float): the one-brief pass reads it here, with the rest of
    /// the row's record, instead of from a stream of its own.
    pub scale: f32,
}

impl BoundWords {
    /// The creator's audience data is known.
    #[inline(always)]
    pub fn aud_known(&self) -> bool {
        self.home_share & 0x80 != 0
    }

    /// At least the share of the audience's first home-country entry.
    #[inline(always)]
    pub fn home_bound(&self) -> f32 {
        HOME_SHARE_BOUND[(self.home_share & 0x7f) as usize]
    }

    /// At least the share of any audience entry of another country.
    #[inline(always)]
    pub fn other_bound(&self) -> f32 {
        OTHER_SHARE_BOUND[self.other_share as usize]
    }
}

/// `q / steps` for every step `q` up to `steps`, then infinity (a value
/// that is no share bounds nothing): the share bounds' decoding, a table
/// read in the candidate pass instead of a division per creator.
const fn share_bounds<const N: usize>() -> [f32; N] {
    let steps = (N - 2) as f32;
    let mut t = [f32::INFINITY; N];
    let mut q = 0;
    while q < N - 1 {
        t[q] = q as f32 / steps;
        q += 1;
    }
    t
}

static HOME_SHARE_BOUND: [f32; 128] = share_bounds::<128>();
static OTHER_SHARE_BOUND: [f32; 256] = share_bounds::<256>();

/// `share` rounded up in `steps`ths (`steps + 1` when it is not in
/// [0, 1]): the quantised share bounds of [`BoundWords`]. Rounded up in
/// f64 from the f32 share, so `q / steps` is at least the share as a real
/// number, and its f32 too (rounding to the nearest f32 is monotone and
/// the share is an f32).
fn share_steps(share: f32, steps: u8) -> u8 {
    if !(0.0..=1.0).contains(&share) {
        return steps + 1;
    }
    ((share as f64) * steps as f64).ceil().min(steps as f64) as u8
}

/// Creator `i`'s [`BoundWords::home_share`] and
/// [`BoundWords::other_share`].
fn share_words(hot: &Hot, i: usize) -> (u8, u8) {
    let home = hot.country[i];
    let aud = &hot.aud[hot.aud_off[i] as usize..hot.aud_off[i + 1] as usize];
    let first = aud.iter().find(|a| a.0 == home).map_or(0.0, |a| a.1);
    let other = aud
        .iter()
        .filter(|a| a.0 != home)
        .map(|a| share_steps(a.1, 254))
        .max()
        .unwrap_or(0);
    (
        ((hot.aud_known[i] as u8) << 7) | share_steps(first, 126),
        other,
    )
}

/// A one-word list summary folded to 32 bits (bit `code % 32`).
#[inline]
pub fn fold_bloom(bloom: u64) -> u32 {
    (bloom as u32) | ((bloom >> 32) as u32)
}

/// The bit of `code` in a folded summary ([`fold_bloom`]).
#[inline]
pub fn folded_bit(code: u16) -> u8 {
    fold_bloom(bloom_bit(code)).trailing_zeros() as u8
}

impl Hot {
    /// Asks for the per-creator words of creator `i` that the value
    /// estimate (`signals::BriefScorer::quick_value_per_dollar`) reads:
    /// its three list offsets and summaries, audience-known flag, overall
    /// rate, reach per dollar and tagged posts (a prefetch hint, for creators visited
    /// out of row order; [`Hot::prefetch_lists`] then finds the offsets
    /// in cache).
    #[inline(always)]
    pub fn prefetch_value_words(&self, i: usize) {
        use crate::mem::prefetch;
        prefetch(self.aud_off.as_ptr().wrapping_add(i));
        prefetch(self.hist_off.as_ptr().wrapping_add(i));
        prefetch(self.niche_off.as_ptr().wrapping_add(i));
        prefetch(self.aud_bloom.as_ptr().wrapping_add(i));
        prefetch(self.niche_bloom.as_ptr().wrapping_add(i));
        prefetch(self.hist_bloom.as_ptr().wrapping_add(i));
        prefetch(self.aud_known.as_ptr().wrapping_add(i));
        prefetch(self.overall_er.as_ptr().wrapping_add(i));
        prefetch(self.reach_per_dollar.as_ptr().wrapping_add(i));
        prefetch(self.tagged_posts.as_ptr().wrapping_add(i));
    }

    /// Asks for the first cache line of each of creator `i`'s three lists
    /// (audience, history, declared niches): what the value estimate and
    /// the signals walk, scattered (a prefetch hint; reads the offsets).
    #[inline(always)]
    pub fn prefetch_lists(&self, i: usize) {
        use crate::mem::prefetch;
        prefetch(self.aud.as_ptr().wrapping_add(self.aud_off[i] as usize));
        prefetch(self.hist.as_ptr().wrapping_add(self.hist_off[i] as usize));
        self.prefetch_niche_list(i);
    }

    /// Asks for the head of creator `i`'s declared niches (scoring reads
    /// its first even when the evidence is known).
    #[inline]
    pub fn prefetch_niche_list(&self, i: usize) {
        crate::mem::prefetch(
            self.niche_codes
                .as_ptr()
                .wrapping_add(self.niche_off[i] as usize),
        );
    }
}

/// Relative margin of `BoundWords::value_bound` over the products it bounds
/// (their f32 roundings are a few parts in 10^7).
pub const VALUE_BOUND_MARGIN: f32 = 1.0001;

/// The bit of `code` in a one-word list summary (`Hot::niche_bloom` ...).
#[inline]
pub fn bloom_bit(code: u16) -> u64 {
    1u64 << (code % 64)
}

/// The summary word of each creator's list in a CSR layout.
fn blooms<T>(off: &[u32], items: &[T], code: impl Fn(&T) -> u16) -> Vec<u64> {
    off.windows(2)
        .map(|w| {
            items[w[0] as usize..w[1] as usize]
                .iter()
                .fold(0u64, |m, x| m | bloom_bit(code(x)))
        })
        .collect()
}

/// `v` as 32-bit values, or empty when one is `u32::MAX` or more (so that
/// every stored value is below `u32::MAX` and bounds can saturate).
fn narrow(v: &[u64]) -> Vec<u32> {
    if v.iter().all(|&x| x < u32::MAX as u64) {
        v.iter().map(|&x| x as u32).collect()
    } else {
        Vec::new()
    }
}

#[derive(Debug, Default, Clone)]
pub struct Dicts {
    pub countries: Vec<String>,
    pub country_index: HashMap<String, u16>,
    pub languages: Vec<String>,
    pub language_index: HashMap<String, u16>,
    pub niches: Vec<String>,
    pub niche_index: HashMap<String, u16>,
}

impl Dicts {
    fn intern(map: &mut HashMap<String, u16>, list: &mut Vec<String>, s: &str) -> u16 {
        if let Some(&c) = map.get(s) {
            return c;
        }
        let c = list.len().min(u16::MAX as usize - 1) as u16;
        list.push(s.to_string());
        map.insert(s.to_string(), c);
        c
    }
}

pub struct Snapshot {
    pub id: String,
    pub manifest: Manifest,
    pub creators: CreatorTable,
    pub niche_stats: NicheStats,
    pub orgs: OrgTable,
    pub vectors: VectorTable,
    /// Int8 copy of `vectors` for the exact semantic scan (see `quant`).
    pub qvectors: QuantVectors,
    pub text: Option<TextIndex>,
    pub hnsw: Option<Graph>,
    pub hot: Hot,
    pub dicts: Dicts,
    pub priors: Priors,
    pub by_id: HashMap<String, u32>,
    /// Lower-cased brand -> ordinals that worked with it (profile or history).
    pub brand_postings: HashMap<String, Vec<u32>>,
    /// Per niche code, the unit mean vector of the creators who declare
    /// that niche, when the creators' vectors came from the user's model
    /// (`embedding`); empty otherwise. A brief without an `embedding` is
    /// searched with the mean of its niches' vectors in that space (the
    /// engine cannot place its own derived vectors there).
    pub niche_centroids: Vec<Vec<f32>>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("id", &self.id)
            .field("creators", &self.creators.len())
            .finish_non_exhaustive()
    }
}

/// How to load a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// Load the HNSW graph when the snapshot has one (default). Without it,
    /// semantic candidates come from the exact scan of the eligible
    /// vectors, which the candidate stage's cost model picks anyway at its
    /// depths up to a few million creators (`candidates::hnsw_is_cheaper`),
    /// so results are the same and loading is faster and smaller.
    pub vector_graph: bool,
    /// With `Some(options)` (and `vector_graph`), the graph is loaded only
    /// if a matcher with these candidate options could ever search it on
    /// this snapshot ([`crate::candidates::graph_can_pay_off`]); below that
    /// size (about 6.4M creators with the defaults) it would sit unused in
    /// memory. What the server does.
    pub graph_if_useful_for: Option<CandidateOptions>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            vector_graph: true,
            graph_if_useful_for: None,
        }
    }
}

impl OpenOptions {
    /// [`OpenOptions::for_matching`] with the default candidate options
    /// (those of `Matcher::default`: the server and the matching CLI).
    pub fn for_default_matcher() -> OpenOptions {
        OpenOptions::for_matching(CandidateOptions::default())
    }

    /// Loads the graph only where `opts`' candidate stage could use it.
    pub fn for_matching(opts: CandidateOptions) -> OpenOptions {
        OpenOptions {
            vector_graph: true,
            graph_if_useful_for: Some(opts),
        }
    }
}

impl Snapshot {
    /// Loads the published snapshot of a data dir.
    pub fn open(data: &DataDir) -> Result<Arc<Snapshot>, StorageError> {
        let id = data
            .current()?
            .ok_or_else(|| StorageError::NoSnapshot(data.root().to_path_buf()))?;
        Snapshot::open_id(data, &id)
    }

    /// Loads the published snapshot with options (e.g. without its HNSW
    /// graph).
    pub fn open_with(data: &DataDir, opts: &OpenOptions) -> Result<Arc<Snapshot>, StorageError> {
        let id = data
            .current()?
            .ok_or_else(|| StorageError::NoSnapshot(data.root().to_path_buf()))?;
        Snapshot::open_id_with(data, &id, opts)
    }

    /// Loads one snapshot by id.
    pub fn open_id(data: &DataDir, id: &str) -> Result<Arc<Snapshot>, StorageError> {
        Snapshot::open_id_with(data, id, &OpenOptions::default())
    }

    /// Loads one snapshot by id, with options.
    pub fn open_id_with(
        data: &DataDir,
        id: &str,
        opts: &OpenOptions,
    ) -> Result<Arc<Snapshot>, StorageError> {
        let manifest = data.manifest(id)?;
        let table = |name: &str| {
            manifest
                .tables
                .get(name)
                .ok_or_else(|| StorageError::Manifest {
                    path: data.snapshot_dir(id),
                    message: format!("manifest lists no `{name}` table"),
                })
        };
        // The creators table (the largest, and the slowest to convert) on
        // one core, the others meanwhile on the other.
        let (creators, rest) = rayon::join(
            || CreatorTable::from_batch(&data.read_table(id, table(TABLE_CREATORS)?)?),
            || -> Result<_, StorageError> {
                let niche_stats =
                    NicheStats::from_batch(&data.read_table(id, table(TABLE_NICHES)?)?)?;
                let orgs = OrgTable::from_batch(&data.read_table(id, table(TABLE_ORGS)?)?)?;
                let vectors = VectorTable::from_batch(
                    &data.read_table(id, table(TABLE_VECTORS)?)?,
                    manifest.vectors_user_supplied,
                )?;
                Ok((niche_stats, orgs, vectors))
            },
        );
        let creators = creators?;
        let (niche_stats, orgs, vectors) = rest?;
        let dir = data.snapshot_dir(id);
        let text = match &manifest.text_index {
            Some(t) => Some(
                TextIndex::open(storage::open_text_index(&dir.join(t))?).map_err(|e| {
                    StorageError::Io {
                        path: dir.join(t),
                        message: e.to_string(),
                    }
                })?,
            ),
            None => None,
        };
        let useful = opts
            .graph_if_useful_for
            .is_none_or(|o| graph_can_pay_off(creators.len(), &o));
        let hnsw = match &manifest.vector_index {
            Some(v) if opts.vector_graph && useful => {
                Some(storage::load_hnsw(&dir.join(&v.dir), &v.basename)?)
            }
            _ => None,
        };
        Snapshot::from_parts(
            id.to_string(),
            manifest,
            creators,
            niche_stats,
            orgs,
            vectors,
            text,
            hnsw,
        )
        .map(Arc::new)
    }

    /// Assembles a snapshot from loaded parts and derives its indexes.
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        id: String,
        manifest: Manifest,
        creators: CreatorTable,
        niche_stats: NicheStats,
        orgs: OrgTable,
        vectors: VectorTable,
        text: Option<TextIndex>,
        hnsw: Option<Graph>,
    ) -> Result<Snapshot, StorageError> {
        let n = creators.len();
        if vectors.len() != n {
            return Err(StorageError::Schema {
                table: TABLE_VECTORS.into(),
                message: format!("{} vectors for {n} creators", vectors.len()),
            });
        }
        // The creators' indexes by id and by brand are independent of the
        // derived columns: built on the other core meanwhile.
        let ((by_id, brand_postings), derived) = rayon::join(
            || rayon::join(|| id_index(&creators), || brand_index(&creators)),
            || derive(&creators, &niche_stats, &vectors),
        );
        let Derived {
            hot,
            dicts,
            priors,
            qvectors,
            niche_centroids,
        } = derived?;
        Ok(Snapshot {
            niche_centroids,
            id,
            manifest,
            creators,
            niche_stats,
            orgs,
            vectors,
            qvectors,
            text,
            hnsw,
            hot,
            dicts,
            priors,
            by_id,
            brand_postings,
        })
    }

    pub fn len(&self) -> usize {
        self.creators.len()
    }

    /// The vector a brief without an `embedding` is searched with when the
    /// creators' vectors came from the user's model: the unit mean of its
    /// niches' centroids ([`Snapshot::niche_centroids`]); empty (no
    /// semantic signal, no vector retriever) when none of its niches is
    /// declared by any creator.
    pub fn user_space_vector(&self, niches: &[String]) -> Vec<f32> {
        let mut v = vec![0.0f32; self.vectors.dim];
        let mut any = false;
        for n in niches {
            let Some(&code) = self.dicts.niche_index.get(n) else {
                continue;
            };
            if let Some(c) = self
                .niche_centroids
                .get(code as usize)
                .filter(|c| !c.is_empty())
            {
                v.iter_mut().zip(c).for_each(|(a, b)| *a += b);
                any = true;
            }
        }
        if !any {
            return Vec::new();
        }
        crate::vector::normalize(&mut v);
        v
    }

    pub fn is_empty(&self) -> bool {
        self.creators.is_empty()
    }

    pub fn ordinal(&self, creator_id: &str) -> Option<u32> {
        self.by_id.get(creator_id).copied()
    }

    #[inline]
    pub fn niches_of(&self, i: usize) -> &[u16] {
        &self.hot.niche_codes[self.hot.niche_off[i] as usize..self.hot.niche_off[i + 1] as usize]
    }

    #[inline]
    pub fn history_of(&self, i: usize) -> &[(u16, f32, u32)] {
        &self.hot.hist[self.hot.hist_off[i] as usize..self.hot.hist_off[i + 1] as usize]
    }

    /// Creator `i`'s audience quality, the snapshot's prior when unknown.
    #[inline]
    pub fn audience_quality(&self, i: usize) -> f32 {
        let q = self.hot.quality[i];
        if q.is_finite() {
            q
        } else {
            self.priors.quality
        }
    }

    #[inline]
    pub fn audience_of(&self, i: usize) -> &[(u16, f32)] {
        &self.hot.aud[self.hot.aud_off[i] as usize..self.hot.aud_off[i + 1] as usize]
    }
}

/// Industry engagement-rate priors per size band, used when a band has too
/// few creators with history to measure its own median.
pub const INDUSTRY_ER: [f32; SIZE_BANDS] = [0.08, 0.04, 0.024, 0.02, 0.017];

/// What [`Snapshot::from_parts`] derives from the creators' columns.
struct Derived {
    hot: Hot,
    dicts: Dicts,
    priors: Priors,
    qvectors: QuantVectors,
    niche_centroids: Vec<Vec<f32>>,
}

/// The hot columns, dictionaries, priors and quantized vectors of a
/// snapshot's tables (lengths checked by the caller).
fn derive(
    c: &CreatorTable,
    niche_stats: &NicheStats,
    vectors: &VectorTable,
) -> Result<Derived, StorageError> {
    let n = c.len();
    let mut dicts = Dicts::default();
    let mut hot = Hot::default();
    let cents = |x: f64| (x * 100.0).round().max(0.0) as u64;
    hot.platform = c.platform.iter().map(|p| p.code()).collect();
    hot.followers = c.followers.clone();
    hot.band = c.followers.iter().map(|&f| size_band(f) as u8).collect();
    hot.er_rule = c
        .engagement_rate
        .iter()
        .map(|x| x.unwrap_or(f64::NAN))
        .collect();
    hot.quality_rule = c
        .audience_quality
        .iter()
        .map(|x| x.unwrap_or(f64::NAN))
        .collect();
    hot.er = hot.er_rule.iter().map(|&x| x as f32).collect();
    hot.quality = hot.quality_rule.iter().map(|&x| x as f32).collect();
    hot.female = c
        .audience_female
        .iter()
        .map(|x| x.unwrap_or(f32::NAN))
        .collect();
    hot.ages = c
        .audience_ages
        .iter()
        .map(|a| a.unwrap_or([0.0; 5]))
        .collect();
    hot.ages_known = c.audience_ages.iter().map(Option::is_some).collect();
    hot.fee_cents = c.planned_fee_usd.iter().map(|&f| cents(f)).collect();
    // Floors round up to the cent: a planned fee that passes is never below it.
    hot.min_fee_cents = c
        .min_fee_usd
        .iter()
        .map(|m| m.map_or(0, crate::pricing::cents_at_least))
        .collect();
    hot.capacity = c.capacity.iter().map(|x| x.unwrap_or(u32::MAX)).collect();
    hot.usage_rights = c
        .accepts_usage_rights
        .iter()
        .map(|x| match x {
            Some(false) => 0,
            Some(true) => 1,
            None => 2,
        })
        .collect();
    hot.country = Vec::with_capacity(n);
    hot.languages = Vec::with_capacity(n);
    hot.niche_off = Vec::with_capacity(n + 1);
    hot.aud_off = Vec::with_capacity(n + 1);
    hot.niche_off.push(0);
    hot.aud_off.push(0);
    for i in 0..n {
        hot.country.push(match &c.country[i] {
            Some(cc) => Dicts::intern(&mut dicts.country_index, &mut dicts.countries, cc),
            None => UNKNOWN_CODE,
        });
        let mut mask = [0u64; 3];
        for l in c.languages[i].iter().flatten() {
            let code = Dicts::intern(&mut dicts.language_index, &mut dicts.languages, l) as usize;
            if code < 192 {
                mask[code / 64] |= 1 << (code % 64);
            }
        }
        hot.languages.push(mask);
        for ni in c.niches[i].iter().flatten() {
            let code = Dicts::intern(&mut dicts.niche_index, &mut dicts.niches, ni);
            hot.niche_codes.push(code);
        }
        hot.niche_off.push(hot.niche_codes.len() as u32);
        for (cc, s) in c.audience_countries[i].iter().flatten() {
            let code = Dicts::intern(&mut dicts.country_index, &mut dicts.countries, cc);
            hot.aud.push((code, *s));
        }
        hot.aud_off.push(hot.aud.len() as u32);
        hot.aud_known.push(c.audience_countries[i].is_some());
    }
    // History per niche, CSR by ordinal (niche_stats is sorted by ordinal).
    hot.hist_off = vec![0u32; n + 1];
    let ns = niche_stats;
    for k in 0..ns.ordinal.len() {
        let o = ns.ordinal[k] as usize;
        if o >= n || (k > 0 && ns.ordinal[k - 1] > ns.ordinal[k]) {
            return Err(StorageError::Schema {
                table: TABLE_NICHES.into(),
                message: format!("row {k}: ordinal {o} out of order or range"),
            });
        }
        let code = Dicts::intern(&mut dicts.niche_index, &mut dicts.niches, &ns.niche[k]);
        hot.hist.push((code, ns.engagement_rate[k], ns.posts[k]));
        hot.hist_off[o + 1] += 1;
    }
    for i in 0..n {
        hot.hist_off[i + 1] += hot.hist_off[i];
    }
    hot.tagged_posts = (0..n)
        .map(|i| {
            hot.hist[hot.hist_off[i] as usize..hot.hist_off[i + 1] as usize]
                .iter()
                .map(|h| h.2)
                .sum()
        })
        .collect();
    let priors = compute_priors(&hot, c, &dicts);
    hot.overall_er = (0..n)
        .map(|i| {
            let prior = priors.er_prior(hot.platform[i], hot.band[i]);
            let posts = c.post_count[i] as f32;
            let er = hot.er[i];
            if er.is_finite() && posts > 0.0 {
                shrink_rate(posts, er, SHRINK_OVERALL, prior)
            } else {
                prior
            }
        })
        .collect();
    hot.reach_per_dollar = (0..n)
        .map(|i| {
            let q = hot.quality[i];
            let q = if q.is_finite() { q } else { priors.quality };
            let fee = hot.fee_cents[i].max(1) as f32 / 100.0;
            hot.followers[i] as f32 * q / fee
        })
        .collect();
    hot.languages_lo = hot.languages.iter().map(|l| l[0]).collect();
    hot.country_8 = if dicts.countries.len() <= 255 {
        hot.country
            .iter()
            .map(|&c| if c == UNKNOWN_CODE { 255 } else { c as u8 })
            .collect()
    } else {
        Vec::new()
    };
    hot.payable = (0..n.div_ceil(64))
        .map(|w| {
            let mut m = 0u64;
            for i in w * 64..((w + 1) * 64).min(n) {
                let fee = hot.fee_cents[i];
                if fee >= hot.min_fee_cents[i] && hot.capacity[i] != 0 {
                    m |= 1 << (i % 64);
                }
            }
            m
        })
        .collect();
    hot.followers_u32 = narrow(&hot.followers);
    hot.niche_bloom = blooms(&hot.niche_off, &hot.niche_codes, |&c| c);
    hot.hist_bloom = blooms(&hot.hist_off, &hot.hist, |h| h.0);
    hot.aud_bloom = blooms(&hot.aud_off, &hot.aud, |a| a.0);
    hot.bound_words = (0..n)
        .map(|i| (i, share_words(&hot, i)))
        .map(|(i, (home_share, other_share))| BoundWords {
            value_bound: {
                let hist = &hot.hist[hot.hist_off[i] as usize..hot.hist_off[i + 1] as usize];
                let best = hist
                    .iter()
                    .filter(|h| h.1.is_finite())
                    .fold(hot.overall_er[i], |m, h| m.max(h.1));
                (best * hot.reach_per_dollar[i]).max(0.0) * VALUE_BOUND_MARGIN
            },
            overall_bound: (hot.overall_er[i] * hot.reach_per_dollar[i]).max(0.0)
                * VALUE_BOUND_MARGIN,
            aud_bloom: fold_bloom(hot.aud_bloom[i]),
            niche_bloom: fold_bloom(hot.niche_bloom[i] | hot.hist_bloom[i]),
            hist_bloom: hot.hist_bloom[i],
            country: hot.country[i],
            home_share,
            other_share,
            // Set once the int8 vectors are made, below.
            scale: 0.0,
        })
        .collect();
    hot.fee_cents_u32 = narrow(&hot.fee_cents);
    let qvectors = QuantVectors::from_table(vectors);
    for (w, &scale) in hot.bound_words.iter_mut().zip(&qvectors.scale) {
        w.scale = scale;
    }
    let niche_centroids = if vectors.user_supplied {
        niche_centroids(&hot, vectors, dicts.niches.len())
    } else {
        Vec::new()
    };
    Ok(Derived {
        hot,
        dicts,
        priors,
        qvectors,
        niche_centroids,
    })
}

/// Creator id -> ordinal.
fn id_index(c: &CreatorTable) -> HashMap<String, u32> {
    c.creator_id
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), i as u32))
        .collect()
}

/// Lower-cased brand -> ordinals that worked with it (profile or history),
/// each ordinal once, ascending.
fn brand_index(c: &CreatorTable) -> HashMap<String, Vec<u32>> {
    let mut brand_postings: HashMap<String, Vec<u32>> = HashMap::new();
    for i in 0..c.len() {
        let brands = c.brands_worked_with[i]
            .iter()
            .flatten()
            .chain(c.history_brands[i].iter().flatten());
        for b in brands {
            let list = brand_postings.entry(b.to_lowercase()).or_default();
            if list.last() != Some(&(i as u32)) {
                list.push(i as u32);
            }
        }
    }
    brand_postings
}

/// Unit mean vector of the creators declaring each niche code (empty for a
/// niche no creator declares).
fn niche_centroids(hot: &Hot, vectors: &VectorTable, niches: usize) -> Vec<Vec<f32>> {
    let dim = vectors.dim;
    let mut sums = vec![vec![0.0f32; dim]; niches];
    let mut counts = vec![0u32; niches];
    for i in 0..vectors.len() {
        let codes = &hot.niche_codes[hot.niche_off[i] as usize..hot.niche_off[i + 1] as usize];
        for &code in codes {
            if let Some(sum) = sums.get_mut(code as usize) {
                sum.iter_mut()
                    .zip(vectors.row(i))
                    .for_each(|(a, b)| *a += b);
                counts[code as usize] += 1;
            }
        }
    }
    sums.into_iter()
        .zip(counts)
        .map(|(mut v, c)| {
            if c == 0 {
                return Vec::new();
            }
            crate::vector::normalize(&mut v);
            v
        })
        .collect()
}

fn median_f32(mut v: Vec<f32>) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    let mid = v.len() / 2;
    v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    Some(v[mid])
}

fn compute_priors(hot: &Hot, c: &CreatorTable, dicts: &Dicts) -> Priors {
    let n = c.len();
    let mut er_by_band = INDUSTRY_ER;
    let mut fee_per_follower_by_band = [0.01f64; SIZE_BANDS];
    // One pass over the creators: engagement rates by (platform, band),
    // rate cards per follower by band.
    let platforms = crate::schema::Platform::ALL.len();
    let mut rates: Vec<Vec<f32>> = vec![Vec::new(); platforms * SIZE_BANDS];
    let mut fees: Vec<Vec<f32>> = vec![Vec::new(); SIZE_BANDS];
    for i in 0..n {
        let (p, band, er) = (hot.platform[i] as usize, hot.band[i] as usize, hot.er[i]);
        if p < platforms && er.is_finite() && er > 0.0 {
            rates[p * SIZE_BANDS + band].push(er);
        }
        if c.followers[i] > 0 {
            if let Some(r) = c.rate_usd[i] {
                fees[band].push((r / c.followers[i] as f64) as f32);
            }
        }
    }
    // A median of at least 20 values, else the fallback kept.
    let median_of = |v: Vec<f32>| (v.len() >= 20).then(|| median_f32(v)).flatten();
    for (band, slot) in er_by_band.iter_mut().enumerate() {
        let all: Vec<f32> = (0..platforms)
            .flat_map(|p| rates[p * SIZE_BANDS + band].iter().copied())
            .collect();
        if let Some(m) = median_of(all) {
            *slot = m;
        }
    }
    for (band, f) in fees.into_iter().enumerate() {
        if let Some(m) = median_of(f) {
            fee_per_follower_by_band[band] = m as f64;
        }
    }
    let mut er_by_platform_band = vec![er_by_band; platforms];
    for (k, v) in rates.into_iter().enumerate() {
        if let Some(m) = median_of(v) {
            er_by_platform_band[k / SIZE_BANDS][k % SIZE_BANDS] = m;
        }
    }
    let quality = median_f32(
        hot.quality
            .iter()
            .copied()
            .filter(|q| q.is_finite())
            .collect(),
    )
    .unwrap_or(0.85);
    let cpe: Vec<f32> = (0..n)
        .filter_map(|i| {
            let er = if hot.er[i].is_finite() {
                hot.er[i]
            } else {
                er_by_band[hot.band[i] as usize]
            };
            let e = er as f64 * c.followers[i] as f64;
            (e > 0.0).then(|| (c.planned_fee_usd[i] / e) as f32)
        })
        .collect();
    let market_cpe = median_f32(cpe).unwrap_or(0.5).max(1e-4) as f64;
    let mut per_niche: Vec<Vec<f32>> = vec![Vec::new(); dicts.niches.len()];
    for &(code, er, _) in &hot.hist {
        if (code as usize) < per_niche.len() && er.is_finite() {
            per_niche[code as usize].push(er);
        }
    }
    let er_by_niche = per_niche
        .into_iter()
        .map(|v| median_f32(v).unwrap_or(f32::NAN))
        .collect();
    Priors {
        er_by_band,
        er_by_platform_band,
        quality,
        fee_per_follower_by_band,
        market_cpe,
        er_by_niche,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A share's quantised bound is at or above it (as the f32 the engine
    /// reads), by at most a step; a value that is no share bounds
    /// nothing; the audience-known bit leaves the home share alone.
    #[test]
    fn share_bounds_hold_and_are_tight() {
        let mut shares: Vec<f32> = (0..=10_000).map(|k| k as f32 / 10_000.0).collect();
        shares.extend([
            1e-9,
            0.1,
            0.3,
            1.0 / 3.0,
            0.7,
            0.999_999_9,
            f32::MIN_POSITIVE,
        ]);
        for &s in &shares {
            for known in [false, true] {
                let w = BoundWords {
                    home_share: ((known as u8) << 7) | share_steps(s, 126),
                    other_share: share_steps(s, 254),
                    ..BoundWords::default()
                };
                assert_eq!(w.aud_known(), known);
                assert!(
                    w.home_bound() >= s && w.home_bound() <= s + 1.0 / 126.0 + 1e-6,
                    "{s}"
                );
                assert!(
                    w.other_bound() >= s && w.other_bound() <= s + 1.0 / 254.0 + 1e-6,
                    "{s}"
                );
            }
        }
        for bad in [f32::NAN, -0.5, 1.000_001, f32::INFINITY] {
            let w = BoundWords {
                home_share: 0x80 | share_steps(bad, 126),
                other_share: share_steps(bad, 254),
                ..BoundWords::default()
            };
            assert_eq!(w.home_bound(), f32::INFINITY, "{bad}");
            assert_eq!(w.other_bound(), f32::INFINITY, "{bad}");
            assert!(w.aud_known());
        }
        assert_eq!(folded_bit(3), 3);
        assert_eq!(folded_bit(35), 3);
        assert_eq!(fold_bloom(bloom_bit(35)), 1 << folded_bit(35));
    }
}
