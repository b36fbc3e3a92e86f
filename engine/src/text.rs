//! The full-text index over creators (tantivy): schema, build, BM25 query.
//!
//! Fields: `bio`, `niches`, `handle`, `brands` (all tokenized by tantivy's
//! default analyzer) and `ordinal` (u64 fast field = row in the creators
//! table). Invariant: every document carries its ordinal, so segment merges
//! and multi-threaded indexing can reorder docs without breaking the map.

use tantivy::query::{BooleanQuery, BoostQuery, EnableScoring, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Schema as TvSchema, FAST, INDEXED, TEXT};
use tantivy::{DocId, Index, IndexReader, TantivyDocument, Term};

use crate::bitset::Bitset;
use crate::table::CreatorTable;

pub const F_ORDINAL: &str = "ordinal";
pub const F_BIO: &str = "bio";
pub const F_NICHES: &str = "niches";
pub const F_HANDLE: &str = "handle";
pub const F_BRANDS: &str = "brands";

#[derive(Debug, Clone, Copy)]
pub struct TextFields {
    pub ordinal: Field,
    pub bio: Field,
    pub niches: Field,
    pub handle: Field,
    pub brands: Field,
}

pub fn text_schema() -> (TvSchema, TextFields) {
    let mut b = TvSchema::builder();
    let ordinal = b.add_u64_field(F_ORDINAL, FAST | INDEXED);
    let bio = b.add_text_field(F_BIO, TEXT);
    let niches = b.add_text_field(F_NICHES, TEXT);
    let handle = b.add_text_field(F_HANDLE, TEXT);
    let brands = b.add_text_field(F_BRANDS, TEXT);
    (
        b.build(),
        TextFields {
            ordinal,
            bio,
            niches,
            handle,
            brands,
        },
    )
}

fn fields_of(schema: &TvSchema) -> tantivy::Result<TextFields> {
    Ok(TextFields {
        ordinal: schema.get_field(F_ORDINAL)?,
        bio: schema.get_field(F_BIO)?,
        niches: schema.get_field(F_NICHES)?,
        handle: schema.get_field(F_HANDLE)?,
        brands: schema.get_field(F_BRANDS)?,
    })
}

/// Indexes every creator of `table` into `index` (created by
/// `storage::create_text_index` with [`text_schema`]) and commits.
pub fn build_text_index(
    index: &Index,
    table: &CreatorTable,
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> tantivy::Result<()> {
    let f = fields_of(&index.schema())?;
    let threads = threads.clamp(1, 8);
    let mut writer: tantivy::IndexWriter<TantivyDocument> =
        index.writer_with_num_threads(threads, 100_000_000 * threads)?;
    for i in 0..table.len() {
        let mut d = TantivyDocument::default();
        d.add_u64(f.ordinal, i as u64);
        if let Some(bio) = &table.bio[i] {
            d.add_text(f.bio, bio);
        }
        if let Some(ns) = &table.niches[i] {
            for n in ns {
                // "vegan-food" is indexed as "vegan food" so words match.
                d.add_text(f.niches, n.replace('-', " "));
            }
        }
        d.add_text(f.handle, table.handle[i].replace(['_', '.', '-'], " "));
        for b in table.brands_worked_with[i].iter().flatten() {
            d.add_text(f.brands, b);
        }
        for b in table.history_brands[i].iter().flatten() {
            d.add_text(f.brands, b);
        }
        writer.add_document(d)?;
        if i % 50_000 == 49_999 {
            progress(50_000);
        }
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    Ok(())
}

/// A loaded text index, ready to answer brief queries.
pub struct TextIndex {
    index: Index,
    fields: TextFields,
    /// The searcher the index was opened with: every query runs on its
    /// segments, the ones `doc_of` and `ord_of` describe (a snapshot's
    /// index never changes, so there is nothing to reload).
    searcher: tantivy::Searcher,
    /// Creator ordinal -> (segment ordinal, doc id); `NO_DOC` when missing.
    doc_of: Vec<(u32, DocId)>,
    /// Per segment, doc id -> creator ordinal (`u32::MAX`: deleted or
    /// without one): the fast field decoded once, not per matching doc.
    ord_of: Vec<Vec<u32>>,
}

const NO_DOC: (u32, DocId) = (u32::MAX, DocId::MAX);

/// Below this share of eligible documents, BM25 scores are computed by
/// seeking the query's scorer to each eligible document instead of
/// scoring every match and filtering.
pub const SPARSE_SHARE: f64 = 0.02;

/// Free-text query words found in more than this share of documents are
/// dropped from the BM25 query (their idf is close to zero).
pub const MAX_DF_SHARE: f64 = 0.2;

impl std::fmt::Debug for TextIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextIndex").finish_non_exhaustive()
    }
}

/// The brief's words to search for, with their field boosts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextQuery {
    /// (text, boost) searched in bio and brands-free fields.
    pub phrases: Vec<(String, f32)>,
    /// Niche names (searched in `niches` with a boost, and in `bio`).
    pub niches: Vec<String>,
}

impl TextQuery {
    pub fn is_empty(&self) -> bool {
        self.phrases.is_empty() && self.niches.is_empty()
    }
}

impl TextIndex {
    pub fn open(index: Index) -> tantivy::Result<TextIndex> {
        let fields = fields_of(&index.schema())?;
        let reader: IndexReader = index
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()?;
        let searcher = reader.searcher();
        let mut doc_of: Vec<(u32, DocId)> = Vec::new();
        let mut ord_of: Vec<Vec<u32>> = Vec::new();
        for (seg_ord, seg) in searcher.segment_readers().iter().enumerate() {
            let ordinals = seg
                .fast_fields()
                .u64(F_ORDINAL)?
                .first_or_default_col(u64::MAX);
            let mut seg_ords = vec![u32::MAX; seg.max_doc() as usize];
            for doc in 0..seg.max_doc() {
                if seg.alive_bitset().is_some_and(|a| !a.is_alive(doc)) {
                    continue;
                }
                let o = ordinals.get_val(doc);
                if o >= u32::MAX as u64 {
                    continue;
                }
                seg_ords[doc as usize] = o as u32;
                let o = o as usize;
                if doc_of.len() <= o {
                    doc_of.resize(o + 1, NO_DOC);
                }
                doc_of[o] = (seg_ord as u32, doc);
            }
            ord_of.push(seg_ords);
        }
        Ok(TextIndex {
            index,
            fields,
            searcher,
            doc_of,
            ord_of,
        })
    }

    fn terms(&self, field: Field, text: &str) -> Vec<Term> {
        let mut out = Vec::new();
        if let Ok(mut an) = self.index.tokenizer_for_field(field) {
            let mut ts = an.token_stream(text);
            ts.process(&mut |t| out.push(Term::from_field_text(field, &t.text)));
        }
        out.sort();
        out.dedup();
        out
    }

    /// Builds the BM25 query; `None` when the brief has no searchable words.
    pub fn build_query(&self, q: &TextQuery) -> Option<Box<dyn Query>> {
        let niches: Vec<String> = q.niches.iter().map(|n| n.replace('-', " ")).collect();
        let mut parts: Vec<(Field, &str, f32, bool)> = q
            .phrases
            .iter()
            .map(|(text, boost)| (self.fields.bio, text.as_str(), *boost, true))
            .collect();
        for words in &niches {
            parts.push((self.fields.niches, words, 2.0, false));
            parts.push((self.fields.bio, words, 0.5, false));
        }
        self.query_of(&parts)
    }

    /// The BM25 query of a free-text search (`q` of the creator search):
    /// its words in bios (less the uninformative ones, as a brief's text)
    /// and in declared niches (boost 2, as a brief's niches); `None` when
    /// nothing is left to search.
    pub fn build_search_query(&self, q: &str) -> Option<Box<dyn Query>> {
        let words = q.replace('-', " ");
        self.query_of(&[
            (self.fields.bio, q, 1.0, true),
            (self.fields.niches, &words, 2.0, false),
        ])
    }

    /// One SHOULD clause per term of each `(field, text, boost, prune)`, in
    /// that order (BM25 sums the clauses in order); `prune` leaves out the
    /// words that say nothing about a creator — stop words, and words in
    /// more than MAX_DF_SHARE of all documents, whose idf is near zero:
    /// they add almost nothing to BM25 but make it walk most of the index
    /// (niche names are never pruned). `None` when no clause is left.
    fn query_of(&self, parts: &[(Field, &str, f32, bool)]) -> Option<Box<dyn Query>> {
        let max_df = (MAX_DF_SHARE * self.searcher.num_docs() as f64) as u64;
        let informative = |t: &Term| {
            let stop = t.value().as_str().is_some_and(crate::vector::is_stopword);
            !stop && self.searcher.doc_freq(t).unwrap_or(0) <= max_df
        };
        // A word the brief repeats (in its keywords, title and description,
        // or in a niche name as well) is one clause whose boost is the sum
        // of its boosts: BM25 is linear in the boost, so the score is the
        // same but for rounding, and its postings are walked once.
        let mut terms: Vec<(Term, f32)> = Vec::new();
        let mut at: std::collections::HashMap<Term, usize> = std::collections::HashMap::new();
        for &(field, text, boost, prune) in parts {
            for t in self.terms(field, text) {
                if prune && !informative(&t) {
                    continue;
                }
                match at.get(&t) {
                    Some(&k) => terms[k].1 += boost,
                    None => {
                        at.insert(t.clone(), terms.len());
                        terms.push((t, boost));
                    }
                }
            }
        }
        if terms.is_empty() {
            return None;
        }
        let clauses: Vec<(Occur, Box<dyn Query>)> = terms
            .into_iter()
            .map(|(t, boost)| {
                let tq: Box<dyn Query> = Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs));
                (
                    Occur::Should,
                    Box::new(BoostQuery::new(tq, boost)) as Box<dyn Query>,
                )
            })
            .collect();
        Some(Box::new(BooleanQuery::new(clauses)))
    }

    /// BM25 scores of every matching creator whose bit is set in `allowed`,
    /// as (score, ordinal), in (segment, doc) order whatever the thread
    /// count: by seeking to each allowed document when they are under
    /// [`SPARSE_SHARE`] of the index ([`TextIndex::sparse_scores`]), else by
    /// scoring every match ([`TextIndex::full_scores`]).
    pub fn scores(&self, query: &dyn Query, allowed: &Bitset) -> Vec<(f32, u32)> {
        let count = allowed.count();
        if (count as f64) < SPARSE_SHARE * self.doc_of.len() as f64 {
            if let Some(v) = self.sparse_scores(query, allowed) {
                return v;
            }
        }
        self.full_scores(query, allowed)
    }

    /// [`TextIndex::scores`] by scoring every match of the query and
    /// keeping the allowed ones (segments in parallel).
    pub fn full_scores(&self, query: &dyn Query, allowed: &Bitset) -> Vec<(f32, u32)> {
        use rayon::prelude::*;
        let searcher = &self.searcher;
        let Ok(weight) = query.weight(EnableScoring::enabled_from_searcher(searcher)) else {
            return Vec::new();
        };
        let parts: Vec<Vec<(f32, u32)>> = searcher
            .segment_readers()
            .par_iter()
            .zip(&self.ord_of)
            .map(|(seg, ords)| {
                let mut out = Vec::new();
                let _ = weight.for_each(seg, &mut |doc, score| {
                    // Deleted documents map to u32::MAX, like missing ones.
                    let o = ords.get(doc as usize).copied().unwrap_or(u32::MAX);
                    if o != u32::MAX && allowed.get(o as usize) {
                        out.push((score, o));
                    }
                });
                out
            })
            .collect();
        parts.concat()
    }

    /// [`TextIndex::scores`] for few allowed creators: in each segment
    /// (segments in parallel) every clause's own scorer is advanced
    /// (`seek`) to each allowed document in doc order and the clause scores
    /// are summed, so the cost follows the allowed set rather than the
    /// posting lists. Same BM25 weights, same per-document scores; the
    /// result is in (segment, doc) order, like the full pass. `None` if
    /// tantivy fails.
    pub fn sparse_scores(&self, query: &dyn Query, allowed: &Bitset) -> Option<Vec<(f32, u32)>> {
        use tantivy::DocSet;
        let searcher = &self.searcher;
        let segments = searcher.segment_readers();
        let mut targets: Vec<Vec<(DocId, u32)>> = vec![Vec::new(); segments.len()];
        for o in allowed.iter_ones() {
            if let Some(&(seg, doc)) = self.doc_of.get(o) {
                if seg != u32::MAX {
                    targets[seg as usize].push((doc, o as u32));
                }
            }
        }
        // The brief query is a union of SHOULD clauses whose score is the
        // sum of the clauses' scores, added in clause order. A union
        // scorer's `seek` refills a window of thousands of documents from
        // every clause — as costly as scoring them all when the targets are
        // that close — so each clause's own scorer seeks its skip list
        // instead, and the sums are formed here in the same order (a test
        // checks the scores equal the full pass's, bit for bit).
        let clauses: Vec<&dyn Query> = match query.downcast_ref::<BooleanQuery>() {
            Some(bq)
                if bq
                    .clauses()
                    .iter()
                    .all(|(occur, _)| *occur == Occur::Should) =>
            {
                bq.clauses().iter().map(|(_, q)| q.as_ref()).collect()
            }
            _ => vec![query],
        };
        let weights = clauses
            .iter()
            .map(|q| q.weight(EnableScoring::enabled_from_searcher(searcher)))
            .collect::<tantivy::Result<Vec<_>>>()
            .ok()?;
        // Segments in parallel, concatenated in segment order.
        use rayon::prelude::*;
        let parts: Option<Vec<Vec<(f32, u32)>>> = segments
            .par_iter()
            .zip(targets)
            .map(|(seg, mut docs)| {
                let mut out = Vec::new();
                if docs.is_empty() {
                    return Some(out);
                }
                docs.sort_unstable();
                let mut scorers = weights
                    .iter()
                    .map(|w| w.scorer(seg, 1.0))
                    .collect::<tantivy::Result<Vec<_>>>()
                    .ok()?;
                for (doc, o) in docs {
                    let mut sum = 0.0f32;
                    let mut matched = false;
                    for scorer in scorers.iter_mut() {
                        let mut at = scorer.doc();
                        if at < doc {
                            at = scorer.seek(doc);
                        }
                        if at == doc {
                            sum += scorer.score();
                            matched = true;
                        }
                    }
                    if matched {
                        out.push((sum, o));
                    }
                }
                Some(out)
            })
            .collect();
        parts.map(|p| p.concat())
    }

    pub fn num_docs(&self) -> u64 {
        self.searcher.num_docs()
    }
}
