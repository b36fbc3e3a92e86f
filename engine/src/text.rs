//! The full-text index over creators (tantivy): schema, build, BM25 query.
//!
//! Fields: `bio`, `niches`, `handle`, `brands` (all tokenized by tantivy's
//! default analyzer) and `ordinal` (u64 fast field = row in the creators
//! table). Invariant: every document carries its ordinal, so segment merges
//! and multi-threaded indexing can reorder docs without breaking the map.

use tantivy::query::{
    Bm25Weight, BooleanQuery, BoostQuery, EnableScoring, Occur, Query, TermQuery, Weight,
};
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
            !stop && self.doc_freq(t) <= max_df
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
        Some(Box::new(TermUnion { clauses: terms }))
    }

    /// BM25 scores of every matching creator whose bit is set in `allowed`,
    /// as (score, ordinal), in (segment, doc) order whatever the thread
    /// count: by seeking to each allowed document when they are under
    /// [`SPARSE_SHARE`] of the index ([`TextIndex::sparse_scores`]), else
    /// term at a time for a [`TermUnion`] (what [`TextIndex::build_query`]
    /// and [`TextIndex::build_search_query`] build;
    /// [`TextIndex::union_scores`]), else by scoring every match with
    /// tantivy's scorer ([`TextIndex::full_scores`]). The same scores, to
    /// the bit, every way (tested).
    pub fn scores(&self, query: &dyn Query, allowed: &Bitset) -> Vec<(f32, u32)> {
        let count = allowed.count();
        if (count as f64) < SPARSE_SHARE * self.doc_of.len() as f64 {
            if let Some(v) = self.sparse_scores(query, allowed) {
                return v;
            }
        }
        if let Some(u) = query.downcast_ref::<TermUnion>() {
            if let Some(v) = self.union_scores(u, allowed) {
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

    /// [`TextIndex::scores`] of a brief's [`TermUnion`], term at a time:
    /// in each segment (segments in parallel) every clause's posting
    /// blocks are walked in clause order and, for each allowed document
    /// only, the clause's BM25 — tantivy's own [`Bm25Weight`], boosted as
    /// tantivy boosts it — is added to the document's sum. The sums are
    /// formed in clause order from zero, as tantivy's union scorer forms
    /// them, so every score equals [`TextIndex::full_scores`]'s bit for
    /// bit (tested), in the same (segment, doc) order; but a posting of a
    /// creator the brief's rules exclude (most of them) costs a bit test
    /// instead of a score, a window insert and a callback. `None` if
    /// tantivy fails.
    pub fn union_scores(&self, query: &TermUnion, allowed: &Bitset) -> Option<Vec<(f32, u32)>> {
        self.union_scores_ranged(query, allowed, UNION_RANGE)
    }

    /// [`TextIndex::union_scores`] with the segments cut into jobs of
    /// `range` documents (for tests: small indexes have one job a segment
    /// otherwise).
    #[doc(hidden)]
    pub fn union_scores_ranged(
        &self,
        query: &TermUnion,
        allowed: &Bitset,
        range: usize,
    ) -> Option<Vec<(f32, u32)>> {
        use rayon::prelude::*;
        let range = range.max(1);
        let searcher = &self.searcher;
        let weights = query
            .clauses
            .iter()
            .map(|(t, boost)| {
                Bm25Weight::for_terms(searcher, std::slice::from_ref(t)).map(|w| w.boost_by(*boost))
            })
            .collect::<tantivy::Result<Vec<_>>>()
            .ok()?;
        // Per segment, each clause's postings (looked up once) and norms;
        // then the segments' documents in ranges of `range`, in parallel, so that the work splits evenly between threads
        // whatever the segments' sizes.
        let mut plans = Vec::new();
        let mut jobs: Vec<(usize, usize, usize)> = Vec::new();
        for (k, seg) in searcher.segment_readers().iter().enumerate() {
            let plan = SegmentPlan::new(seg, &query.clauses, &weights).ok()?;
            let n = (seg.max_doc() as usize).min(self.ord_of[k].len());
            if !plan.clauses.is_empty() {
                jobs.extend((0..n).step_by(range).map(|a| (k, a, (a + range).min(n))));
            }
            plans.push(plan);
        }
        let parts: Option<Vec<Vec<(f32, u32)>>> = jobs
            .par_iter()
            .map(|&(k, a, b)| union_range(&plans[k], &self.ord_of[k], a, b, allowed).ok())
            .collect();
        parts.map(|p| p.concat())
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
        let union = query
            .downcast_ref::<TermUnion>()
            .map(TermUnion::clause_queries);
        let clauses: Vec<&dyn Query> = match (&union, query.downcast_ref::<BooleanQuery>()) {
            (Some(qs), _) => qs.iter().map(|q| q as &dyn Query).collect(),
            (None, Some(bq))
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

    /// How many documents hold `term`, over all segments.
    pub fn doc_freq(&self, term: &Term) -> u64 {
        self.searcher.doc_freq(term).unwrap_or(0)
    }

    pub fn num_docs(&self) -> u64 {
        self.searcher.num_docs()
    }
}

/// A brief's BM25 query: one SHOULD clause per distinct term, each with
/// its boost, summed in clause order — the tantivy query of
/// `BooleanQuery` over `BoostQuery(TermQuery)` clauses (its `weight` is
/// exactly that query's), kept as terms so that [`TextIndex::scores`] can
/// score it term at a time ([`TextIndex::union_scores`]).
#[derive(Debug, Clone)]
pub struct TermUnion {
    clauses: Vec<(Term, f32)>,
}

impl TermUnion {
    /// The (term, boost) clauses, in summing order.
    pub fn clauses(&self) -> &[(Term, f32)] {
        &self.clauses
    }

    /// The clauses as tantivy queries, in order.
    fn clause_queries(&self) -> Vec<BoostQuery> {
        self.clauses
            .iter()
            .map(|(t, boost)| {
                BoostQuery::new(
                    Box::new(TermQuery::new(t.clone(), IndexRecordOption::WithFreqs)),
                    *boost,
                )
            })
            .collect()
    }

    /// The equivalent tantivy query.
    fn boolean(&self) -> BooleanQuery {
        BooleanQuery::new(
            self.clause_queries()
                .into_iter()
                .map(|q| (Occur::Should, Box::new(q) as Box<dyn Query>))
                .collect(),
        )
    }
}

impl Query for TermUnion {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        self.boolean().weight(enable_scoring)
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for (t, _) in &self.clauses {
            visitor(t, false);
        }
    }
}

/// Documents per window of [`union_range`]: their sums stay in the
/// first-level cache.
const WINDOW: usize = 4096;

/// Postings listed at a time by [`union_range`] (tantivy's block length).
const KEEP: usize = 128;

/// Documents per parallel job of [`TextIndex::union_scores`] (a multiple
/// of [`WINDOW`]).
const UNION_RANGE: usize = 16 * WINDOW;

/// One segment's part of a [`TermUnion`]: each clause found in it, with
/// its postings' place in the index, its weight and its field's norms.
struct SegmentPlan {
    clauses: Vec<(
        std::sync::Arc<tantivy::InvertedIndexReader>,
        tantivy::postings::TermInfo,
        Bm25Weight,
        tantivy::fieldnorm::FieldNormReader,
    )>,
}

impl SegmentPlan {
    fn new(
        seg: &tantivy::SegmentReader,
        clauses: &[(Term, f32)],
        weights: &[Bm25Weight],
    ) -> tantivy::Result<SegmentPlan> {
        let mut out = Vec::with_capacity(clauses.len());
        for ((term, _), w) in clauses.iter().zip(weights) {
            let field = term.field();
            let inverted = seg.inverted_index(field)?;
            let Some(info) = inverted.get_term_info(term)? else {
                continue;
            };
            // As tantivy's term scorer: the field's norms, else norm 1.
            let norms = match seg.fieldnorms_readers().get_field(field)? {
                Some(r) => r,
                None => tantivy::fieldnorm::FieldNormReader::constant(seg.max_doc(), 1),
            };
            out.push((inverted, info, w.clone(), norms));
        }
        Ok(SegmentPlan { clauses: out })
    }
}

/// One clause's place in its posting list, for [`union_range`].
struct Cursor<'p> {
    block: tantivy::postings::BlockSegmentPostings,
    /// Next posting of the loaded block.
    at: usize,
    weight: &'p Bm25Weight,
    norms: &'p tantivy::fieldnorm::FieldNormReader,
}

/// Documents `from..to` of one segment of [`TextIndex::union_scores`]:
/// (score, ordinal) of every allowed document matching a clause, in doc
/// order. Documents are taken a window at a time; within a window,
/// clause after clause.
fn union_range(
    plan: &SegmentPlan,
    ords: &[u32],
    from: usize,
    to: usize,
    allowed: &Bitset,
) -> tantivy::Result<Vec<(f32, u32)>> {
    let mut cursors = Vec::with_capacity(plan.clauses.len());
    for (inverted, info, weight, norms) in &plan.clauses {
        let mut block =
            inverted.read_block_postings_from_terminfo(info, IndexRecordOption::WithFreqs)?;
        let at = if from > 0 {
            block.seek(from as DocId)
        } else {
            0
        };
        cursors.push(Cursor {
            block,
            at,
            weight,
            norms,
        });
    }
    let n = to.min(ords.len());
    let mut out = Vec::new();
    let mut sums = [0f32; WINDOW];
    let mut hit = [0u64; WINDOW / 64];
    let mut start = from;
    while start < n && !cursors.is_empty() {
        let end = (start + WINDOW).min(n);
        for c in cursors.iter_mut() {
            loop {
                let docs = c.block.docs();
                if docs.is_empty() || c.at > docs.len() {
                    break;
                }
                let freqs = c.block.freqs();
                // The postings of this block inside the window ...
                let from = c.at;
                let to = from + docs[from..].partition_point(|&d| (d as usize) < end);
                // ... the allowed ones listed without a branch (most are
                // not: a branch per posting mispredicts), then scored; in
                // pieces of a block's length (tantivy's blocks are 128).
                for lo in (from..to).step_by(KEEP) {
                    let hi = (lo + KEEP).min(to);
                    let mut keep = [0u8; KEEP];
                    let mut kept = 0usize;
                    for (j, &d) in docs[lo..hi].iter().enumerate() {
                        keep[kept] = j as u8;
                        kept += allowed.get(ords[d as usize] as usize) as usize;
                    }
                    for &j in &keep[..kept] {
                        let j = lo + j as usize;
                        let d = docs[j] as usize;
                        // Postings stored without frequencies read as 1,
                        // as tantivy reads them.
                        let tf = freqs.get(j).copied().unwrap_or(1);
                        let k = d - start;
                        sums[k] += c.weight.score(c.norms.fieldnorm_id(d as DocId), tf);
                        hit[k / 64] |= 1 << (k % 64);
                    }
                }
                let i = to;
                if i < docs.len() {
                    c.at = i;
                    break;
                }
                c.block.advance();
                c.at = 0;
            }
        }
        cursors.retain(|c| !c.block.docs().is_empty());
        for (w, word) in hit.iter_mut().enumerate() {
            let mut bits = std::mem::take(word);
            while bits != 0 {
                let k = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                out.push((std::mem::take(&mut sums[k]), ords[start + k]));
            }
        }
        start = end;
    }
    Ok(out)
}
