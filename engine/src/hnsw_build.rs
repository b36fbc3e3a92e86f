//! A native builder for the HNSW graph, written in hnsw_rs's dump format.
//!
//! hnsw_rs 0.3.5 inserts about 2,500 vectors/s at 1M x 64 on two cores
//! (400-415 s for the 1M graph, BENCHMARKS.md), over half of it in its own
//! bookkeeping: an `Arc` and a lock per point and per link, hash-set visited
//! sets, heaps of reference-counted points. The graph it searches is plain
//! HNSW (Malkov & Yashunin), so this module builds the same structure with
//! flat arrays — the int8 copies of the vectors ([`crate::quant`], one
//! cache line a row) for the build's distances, every link list in one
//! array of atomics, a generation-stamped visited array per thread — and
//! writes it exactly as hnsw_rs's `file_dump` does (full mode, description
//! format 4). The snapshot's graph is then loaded and searched by hnsw_rs
//! as before ([`crate::storage::load_hnsw`]); its recall is measured on
//! that loaded graph.
//!
//! Same parameters and shape as hnsw_rs: M links per node on the upper
//! layers and 2M on layer 0, a search of breadth `ef_construction` per
//! layer on insertion, levels drawn with scale 1/ln(M) and at most 15,
//! Malkov's neighbour-selection heuristic (a candidate is kept unless it is
//! closer to an already kept neighbour than to the node) for the new
//! node's M links and when a full list takes a new link.
//!
//! Insertion runs in parallel (rayon). A node's list is written under its
//! own spin lock and read without it: every slot is an atomic, the count is
//! stored after the slots (release) and loaded before them (acquire), so a
//! reader sees whole node ids, at worst a list being replaced. The graph
//! therefore depends on the thread interleaving, as hnsw_rs's does.
//!
//! Invariants: every link of layer `l` joins two nodes whose level is at
//! least `l`; no node links to itself; the entry point has the highest
//! level.

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::ann::{HnswParams, HNSW_SCALE};
use crate::mem::prefetch;
use crate::quant::{dispatch, dot_i8_body, QuantVectors};
use crate::table::VectorTable;
use crate::vector::dot;

/// hnsw_rs's layer count (`NB_LAYER_MAX`): levels 0..=15.
const NB_LAYERS: usize = 16;

// hnsw_rs 0.3.5's dump magics (hnswio.rs).
const MAGIC_DESCR_4: u32 = 0x002a_6779;
const MAGIC_LAYER: u32 = 0x000a_676f;
const MAGIC_POINT: u32 = 0x000a_678f;
const MAGIC_DATA: u32 = 0xa67f_0000;

/// A node and its distance to the node being placed.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cand {
    d: f32,
    id: u32,
}

impl Eq for Cand {}

impl Ord for Cand {
    fn cmp(&self, o: &Self) -> CmpOrdering {
        self.d.total_cmp(&o.d).then(self.id.cmp(&o.id))
    }
}

impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}

/// The built graph: levels and link lists.
pub struct NativeGraph {
    m: usize,
    m0: usize,
    ef_construction: usize,
    levels: Vec<u8>,
    /// Layer 0: `m0 + 1` slots a node, the count then the links.
    links0: Vec<AtomicU32>,
    /// Upper layers: a node of level L >= 1 owns L blocks of `m + 1` slots
    /// (layers 1..=L) from `upper_off[node]`.
    upper_off: Vec<u32>,
    upper: Vec<AtomicU32>,
    locks: Vec<AtomicBool>,
    /// (level << 32) | node.
    entry: AtomicU64,
}

/// Per-thread working memory of the insertion.
struct Scratch {
    visited: Vec<u32>,
    stamp: u32,
    cand: BinaryHeap<Reverse<Cand>>,
    res: BinaryHeap<Cand>,
    links: Vec<u32>,
    tmp: Vec<Cand>,
}

impl Scratch {
    fn new(n: usize) -> Scratch {
        Scratch {
            visited: vec![0; n],
            stamp: 0,
            cand: BinaryHeap::new(),
            res: BinaryHeap::new(),
            links: Vec::new(),
            tmp: Vec::new(),
        }
    }

    /// Room for a graph of `n` nodes (new entries carry stamp 0, which no
    /// search uses).
    fn ensure(&mut self, n: usize) {
        if self.visited.len() < n {
            self.visited.resize(n, 0);
        }
    }

    fn next_stamp(&mut self) -> u32 {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.visited.fill(0);
            self.stamp = 1;
        }
        self.stamp
    }
}

thread_local! {
    /// [`NativeGraph::search`]'s working memory on each thread.
    static SEARCH_SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::new(0));
}

/// The level of node `i`: floor(-ln(u) / ln(M)) for a uniform u drawn from
/// a hash of (seed, i), at most 15 (deterministic, whatever the threads).
fn level_of(i: usize, m: usize, seed: u64) -> u8 {
    let mut z = seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    // (0, 1]: never ln(0).
    let u = ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let scale = 1.0 / (m.max(2) as f64).ln();
    let l = (-u.ln() * scale).floor();
    (l.clamp(0.0, (NB_LAYERS - 1) as f64)) as u8
}

fn pack(node: u32, level: u8) -> u64 {
    ((level as u64) << 32) | node as u64
}

fn unpack(e: u64) -> (u32, usize) {
    (e as u32, (e >> 32) as usize)
}

impl NativeGraph {
    fn block(&self, i: u32, l: usize) -> &[AtomicU32] {
        if l == 0 {
            let s = i as usize * (self.m0 + 1);
            &self.links0[s..s + self.m0 + 1]
        } else {
            let s = self.upper_off[i as usize] as usize + (l - 1) * (self.m + 1);
            &self.upper[s..s + self.m + 1]
        }
    }

    /// Node `i`'s links at layer `l` into `out`.
    fn read_links(&self, i: u32, l: usize, out: &mut Vec<u32>) {
        let b = self.block(i, l);
        let c = (b[0].load(Ordering::Acquire) as usize).min(b.len() - 1);
        out.clear();
        out.extend(b[1..=c].iter().map(|s| s.load(Ordering::Relaxed)));
    }

    fn write_links(&self, i: u32, l: usize, links: &[Cand]) {
        let b = self.block(i, l);
        for (slot, c) in b[1..].iter().zip(links) {
            slot.store(c.id, Ordering::Relaxed);
        }
        b[0].store(links.len() as u32, Ordering::Release);
    }

    fn lock(&self, i: u32) {
        let l = &self.locks[i as usize];
        while l
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
    }

    fn unlock(&self, i: u32) {
        self.locks[i as usize].store(false, Ordering::Release);
    }

    pub fn len(&self) -> usize {
        self.levels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// The entry point and the graph's highest level.
    pub fn entry(&self) -> (u32, usize) {
        unpack(self.entry.load(Ordering::Acquire))
    }

    /// Node `i`'s links at layer `l` (empty above its level).
    pub fn links(&self, i: u32, l: usize) -> Vec<u32> {
        let mut v = Vec::new();
        if l <= self.levels[i as usize] as usize {
            self.read_links(i, l, &mut v);
        }
        v
    }

    pub fn level(&self, i: u32) -> usize {
        self.levels[i as usize] as usize
    }

    /// The beam search of HNSW at layer `l`: the `ef` nodes nearest by
    /// `dist` reachable from `eps`, nearest first. `fetch` is called on a
    /// node's links before their distances are taken (a prefetch hint).
    #[inline(always)]
    fn beam(
        &self,
        eps: &[Cand],
        ef: usize,
        l: usize,
        dist: impl Fn(u32) -> f32,
        fetch: impl Fn(u32),
        s: &mut Scratch,
    ) -> Vec<Cand> {
        let stamp = s.next_stamp();
        s.cand.clear();
        s.res.clear();
        for &e in eps {
            if s.visited[e.id as usize] != stamp {
                s.visited[e.id as usize] = stamp;
                s.cand.push(Reverse(e));
                s.res.push(e);
                if s.res.len() > ef {
                    s.res.pop();
                }
            }
        }
        let mut links = std::mem::take(&mut s.links);
        while let Some(Reverse(c)) = s.cand.pop() {
            if s.res.len() >= ef && s.res.peek().is_some_and(|w| c.d > w.d) {
                break;
            }
            self.read_links(c.id, l, &mut links);
            for &n in &links {
                fetch(n);
            }
            for &n in &links {
                if s.visited[n as usize] == stamp {
                    continue;
                }
                s.visited[n as usize] = stamp;
                let d = dist(n);
                if s.res.len() < ef || s.res.peek().is_some_and(|w| d < w.d) {
                    let x = Cand { d, id: n };
                    s.cand.push(Reverse(x));
                    s.res.push(x);
                    if s.res.len() > ef {
                        s.res.pop();
                    }
                }
            }
        }
        s.links = links;
        let mut out: Vec<Cand> = s.res.drain().collect();
        out.sort_unstable();
        out
    }

    /// The `k` rows of `v` nearest to `query` by the graph, as hnsw_rs
    /// searches it: from the entry point, one step to the best link per
    /// upper layer, then a search of breadth `max(ef, k)` at layer 0, by exact f32
    /// dot products. (cosine, ordinal), best first. What the build records
    /// as the graph's recall, without loading it into hnsw_rs (at 1M that
    /// load takes longer than a third of the build).
    pub fn search(&self, v: &VectorTable, query: &[f32], k: usize, ef: usize) -> Vec<(f32, u32)> {
        if self.is_empty() {
            return Vec::new();
        }
        let d = |i: u32| -dot(query, v.row(i as usize));
        let (ep, top) = self.entry();
        let mut cur = Cand { d: d(ep), id: ep };
        let mut links = Vec::new();
        // hnsw_rs takes one step per upper layer: the best of the pivot's
        // links, then down.
        for l in (1..=top).rev() {
            self.read_links(cur.id, l, &mut links);
            let here = cur;
            for &nb in &links {
                let dn = d(nb);
                if dn < cur.d {
                    cur = Cand { d: dn, id: nb };
                }
            }
            debug_assert!(cur.d <= here.d);
        }
        // One scratch per thread, kept between queries (a visited array
        // of 4 bytes a node: not allocated per query).
        let mut out = SEARCH_SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            scratch.ensure(self.len());
            self.beam(&[cur], ef.max(k), 0, d, |_| {}, &mut scratch)
        });
        out.truncate(k);
        out.into_iter().map(|c| (-c.d, c.id)).collect()
    }
}

/// The build's distance: 1 - the int8 estimate of the dot product.
#[inline(always)]
fn dist(q: &QuantVectors, a: u32, b: u32) -> f32 {
    let (a, b) = (a as usize, b as usize);
    1.0 - q.scale[a] * q.scale[b] * dot_i8_body(q.row(a), q.row(b)) as f32
}

/// The build: the graph being filled and the vectors.
struct Build<'a> {
    g: &'a NativeGraph,
    q: &'a QuantVectors,
}

impl Build<'_> {
    /// The `ef` nodes nearest to `node` reachable at layer `l` from `eps`,
    /// nearest first, by the build's int8 distances.
    #[inline(always)]
    fn search_layer(
        &self,
        node: u32,
        eps: &[Cand],
        ef: usize,
        l: usize,
        s: &mut Scratch,
    ) -> Vec<Cand> {
        let q = self.q;
        self.g.beam(
            eps,
            ef,
            l,
            |n| dist(q, node, n),
            |n| prefetch(q.row_ptr(n as usize)),
            s,
        )
    }

    /// Malkov's heuristic: from `cands` (nearest to `base` first), keep up
    /// to `m`, each unless closer to a kept one than to `base`.
    #[inline(always)]
    fn select(&self, base: u32, cands: &[Cand], m: usize, out: &mut Vec<Cand>) {
        out.clear();
        for &c in cands {
            if out.len() >= m {
                break;
            }
            if c.id == base {
                continue;
            }
            if out.iter().all(|r| dist(self.q, c.id, r.id) >= c.d) {
                out.push(c);
            }
        }
    }

    /// Adds the link `n -> node` at layer `l`, re-selecting `n`'s list when
    /// it is full.
    #[inline(always)]
    fn connect(&self, n: u32, node: u32, d: f32, l: usize, s: &mut Scratch) {
        let g = self.g;
        let mmax = if l == 0 { g.m0 } else { g.m };
        g.lock(n);
        let b = g.block(n, l);
        let c = b[0].load(Ordering::Relaxed) as usize;
        if c < mmax {
            b[1 + c].store(node, Ordering::Relaxed);
            b[0].store(c as u32 + 1, Ordering::Release);
        } else {
            let mut all: Vec<Cand> = b[1..=c]
                .iter()
                .map(|x| {
                    let id = x.load(Ordering::Relaxed);
                    Cand {
                        d: dist(self.q, n, id),
                        id,
                    }
                })
                .collect();
            all.push(Cand { d, id: node });
            all.sort_unstable();
            let mut kept = std::mem::take(&mut s.tmp);
            self.select(n, &all, mmax, &mut kept);
            g.write_links(n, l, &kept);
            s.tmp = kept;
        }
        g.unlock(n);
    }

    #[inline(always)]
    fn insert(&self, node: u32, s: &mut Scratch) {
        let g = self.g;
        let lq = g.levels[node as usize] as usize;
        let (ep, top) = g.entry();
        if ep == node {
            return;
        }
        let mut cur = Cand {
            d: dist(self.q, node, ep),
            id: ep,
        };
        let mut links = std::mem::take(&mut s.links);
        for l in (lq + 1..=top).rev() {
            loop {
                let mut moved = false;
                g.read_links(cur.id, l, &mut links);
                for &n in &links {
                    let d = dist(self.q, node, n);
                    if d < cur.d {
                        cur = Cand { d, id: n };
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        s.links = links;
        let mut eps = vec![cur];
        let mut sel = Vec::with_capacity(g.m);
        for l in (0..=lq.min(top)).rev() {
            let w = self.search_layer(node, &eps, g.ef_construction, l, s);
            self.select(node, &w, g.m, &mut sel);
            g.lock(node);
            g.write_links(node, l, &sel);
            g.unlock(node);
            for c in &sel {
                self.connect(c.id, node, c.d, l, s);
            }
            eps = w;
        }
        if lq > top {
            let mut e = g.entry.load(Ordering::Acquire);
            while unpack(e).1 < lq {
                match g.entry.compare_exchange_weak(
                    e,
                    pack(node, lq as u8),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    Err(now) => e = now,
                }
            }
        }
    }
}

type InsertArgs<'r, 'a> = (&'r Build<'a>, u32, &'r mut Scratch);

fn insert_plain((b, node, s): InsertArgs<'_, '_>) {
    b.insert(node, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn insert_avx2((b, node, s): InsertArgs<'_, '_>) {
    b.insert(node, s)
}

/// Builds the graph of `v`'s rows with `p`'s M and ef_construction,
/// reporting progress per batch of nodes inserted.
pub fn build_native(
    v: &VectorTable,
    p: HnswParams,
    progress: &(dyn Fn(u64) + Sync),
) -> NativeGraph {
    let n = v.len();
    let m = p.max_nb_connection.max(2);
    let m0 = 2 * m;
    let levels: Vec<u8> = (0..n)
        .map(|i| level_of(i, m, 0x636c_6f75_7464_6b31))
        .collect();
    let mut upper_off = vec![u32::MAX; n];
    let mut upper_len = 0usize;
    for (i, &l) in levels.iter().enumerate() {
        if l > 0 {
            upper_off[i] = upper_len as u32;
            upper_len += l as usize * (m + 1);
        }
    }
    let atomics = |k: usize| (0..k).map(|_| AtomicU32::new(0)).collect::<Vec<_>>();
    let first = levels
        .iter()
        .enumerate()
        .max_by_key(|&(i, &l)| (l, Reverse(i)))
        .map_or(0, |(i, _)| i);
    let g = NativeGraph {
        m,
        m0,
        ef_construction: p.ef_construction.max(m),
        entry: AtomicU64::new(pack(first as u32, levels.get(first).copied().unwrap_or(0))),
        links0: atomics(n * (m0 + 1)),
        upper: atomics(upper_len),
        upper_off,
        locks: (0..n).map(|_| AtomicBool::new(false)).collect(),
        levels,
    };
    if n < 2 {
        progress(n as u64);
        return g;
    }
    let q = QuantVectors::from_table(v);
    let b = Build { g: &g, q: &q };
    // The highest node is the entry from the start; everyone else is
    // inserted in ordinal order, in parallel batches.
    const BATCH: usize = 20_000;
    let order: Vec<u32> = (0..n as u32).filter(|&i| i as usize != first).collect();
    progress(1);
    // One scratch per pool thread (a visited array is 4 bytes a node:
    // allocated once, not per rayon job).
    let scratches: Vec<Mutex<Scratch>> = (0..rayon::current_num_threads().max(1))
        .map(|_| Mutex::new(Scratch::new(n)))
        .collect();
    for chunk in order.chunks(BATCH) {
        chunk.par_iter().with_min_len(64).for_each(|&i| {
            let k = rayon::current_thread_index().unwrap_or(0) % scratches.len();
            let mut s = scratches[k].lock().unwrap_or_else(|p| p.into_inner());
            #[cfg(target_arch = "x86_64")]
            let avx2: unsafe fn(InsertArgs<'_, '_>) = insert_avx2;
            #[cfg(not(target_arch = "x86_64"))]
            let avx2: unsafe fn(InsertArgs<'_, '_>) = insert_plain;
            dispatch((&b, i, &mut *s), insert_plain, avx2);
        });
        progress(chunk.len() as u64);
    }
    g
}

/// hnsw_rs's `DistDot` between two rows as the graph holds them (scaled by
/// [`HNSW_SCALE`]).
fn dist_dot(v: &VectorTable, a: usize, b: usize) -> f32 {
    (1.0 - dot(v.row(a), v.row(b)) * HNSW_SCALE * HNSW_SCALE).max(0.0)
}

fn put_usize(out: &mut Vec<u8>, x: usize) {
    out.extend_from_slice(&x.to_ne_bytes());
}

/// Writes `g` over `v` as hnsw_rs 0.3.5's `file_dump` writes a graph:
/// `graph_out` gets `<basename>.hnsw.graph`, `data_out` `<basename>.hnsw.data`
/// (full mode; [`crate::storage::write_native_hnsw`] opens and syncs the
/// files). hnsw_rs's `HnswIo` loads the pair as a graph of `f32` rows under
/// `DistDot`, the rows scaled by [`HNSW_SCALE`] as
/// [`crate::ann::build_hnsw`] inserts them.
pub fn write_hnsw_rs_dump(
    g: &NativeGraph,
    v: &VectorTable,
    graph_out: &mut dyn Write,
    data_out: &mut dyn Write,
) -> std::io::Result<()> {
    let n = g.len();
    assert_eq!(n, v.len(), "graph and vectors differ in length");
    // hnsw_rs keeps the points of each level in a list; a point's id is
    // (its level, its rank in that list). Ranks in ordinal order.
    let mut rank = vec![0i32; n];
    let mut by_level: Vec<Vec<u32>> = vec![Vec::new(); NB_LAYERS];
    for (i, (r, &l)) in rank.iter_mut().zip(&g.levels).enumerate() {
        *r = by_level[l as usize].len() as i32;
        by_level[l as usize].push(i as u32);
    }
    let order: Vec<u32> = by_level.iter().flatten().copied().collect();
    let dim = v.dim;

    // The graph file: description, then the points layer by layer, then
    // the entry point.
    let mut head = Vec::new();
    head.extend_from_slice(&MAGIC_DESCR_4.to_ne_bytes());
    head.push(1u8); // full dump mode
    head.push(g.m.min(255) as u8);
    head.extend_from_slice(&(1.0 / (g.m as f64).ln()).to_ne_bytes());
    head.push(NB_LAYERS as u8);
    put_usize(&mut head, g.ef_construction);
    put_usize(&mut head, n);
    put_usize(&mut head, dim);
    for name in [
        std::any::type_name::<hnsw_rs::anndists::dist::distances::DistDot>(),
        std::any::type_name::<f32>(),
    ] {
        put_usize(&mut head, name.len());
        head.extend_from_slice(name.as_bytes());
    }
    head.push(NB_LAYERS as u8);
    // Each point's record, encoded in parallel, in dump order.
    let point = |i: u32| -> Vec<u8> {
        let iu = i as usize;
        let level = g.levels[iu] as usize;
        let mut out = Vec::with_capacity(17 + NB_LAYERS * 8 + (g.m0 + level * g.m) * 17);
        out.extend_from_slice(&MAGIC_POINT.to_ne_bytes());
        put_usize(&mut out, iu);
        out.push(level as u8);
        out.extend_from_slice(&rank[iu].to_ne_bytes());
        let mut links = Vec::new();
        for l in 0..NB_LAYERS {
            if l > level {
                put_usize(&mut out, 0);
                continue;
            }
            g.read_links(i, l, &mut links);
            put_usize(&mut out, links.len());
            for &nb in &links {
                let nu = nb as usize;
                put_usize(&mut out, nu);
                out.push(g.levels[nu]);
                out.extend_from_slice(&rank[nu].to_ne_bytes());
                out.extend_from_slice(&dist_dot(v, iu, nu).to_ne_bytes());
            }
        }
        out
    };
    let data_rec = |i: u32| -> Vec<u8> {
        let iu = i as usize;
        let mut out = Vec::with_capacity(20 + dim * 4);
        out.extend_from_slice(&MAGIC_DATA.to_ne_bytes());
        out.extend_from_slice(&(iu as u64).to_ne_bytes());
        out.extend_from_slice(&((dim * 4) as u64).to_ne_bytes());
        for &x in v.row(iu) {
            out.extend_from_slice(&(x * HNSW_SCALE).to_ne_bytes());
        }
        out
    };
    let (gw, dw) = (graph_out, data_out);
    gw.write_all(&head)?;
    dw.write_all(&MAGIC_DATA.to_ne_bytes())?;
    dw.write_all(&dim.to_ne_bytes())?;
    let mut at = 0usize;
    for members in &by_level {
        gw.write_all(&MAGIC_LAYER.to_ne_bytes())?;
        gw.write_all(&members.len().to_ne_bytes())?;
        // In blocks, so the encoding runs in parallel and memory stays
        // bounded.
        for block in order[at..at + members.len()].chunks(16_384) {
            let (gs, ds): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
                block.par_iter().map(|&i| (point(i), data_rec(i))).unzip();
            for x in &gs {
                gw.write_all(x)?;
            }
            for x in &ds {
                dw.write_all(x)?;
            }
        }
        at += members.len();
    }
    let (ep, _) = g.entry();
    let epu = ep as usize;
    if n > 0 {
        gw.write_all(&epu.to_ne_bytes())?;
        gw.write_all(&[g.levels[epu]])?;
        gw.write_all(&rank[epu].to_ne_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ann::{exact_top_k, hnsw_search, recall_at_10};

    /// Unit vectors around 40 centres (clustered, as creators are).
    fn clustered(n: usize, dim: usize, seed: u64) -> VectorTable {
        crate::test_vectors(n, dim, seed, 40)
    }

    #[test]
    fn levels_follow_the_exponential_law_and_stop_at_15() {
        let n = 200_000;
        let ls: Vec<u8> = (0..n).map(|i| level_of(i, 16, 7)).collect();
        let above0 = ls.iter().filter(|&&l| l > 0).count() as f64 / n as f64;
        // P(level >= 1) = 1/M.
        assert!((above0 - 1.0 / 16.0).abs() < 0.005, "{above0}");
        assert!(ls.iter().all(|&l| l < 16));
        assert_eq!(level_of(5, 16, 7), level_of(5, 16, 7));
    }

    #[test]
    fn graph_is_well_formed_and_hnsw_rs_loads_and_searches_it() {
        let v = clustered(6_000, 32, 3);
        let p = HnswParams {
            max_nb_connection: 12,
            ef_construction: 64,
            ..HnswParams::default()
        };
        let g = build_native(&v, p, &|_| {});
        let (ep, top) = g.entry();
        assert_eq!(g.level(ep), top);
        for i in 0..g.len() as u32 {
            assert!(g.level(i) <= top);
            for l in 0..=g.level(i) {
                let links = g.links(i, l);
                let cap = if l == 0 { 24 } else { 12 };
                assert!(links.len() <= cap);
                // Every node but a lone one is linked at layer 0.
                if l == 0 {
                    assert!(!links.is_empty(), "node {i} has no links");
                }
                for &nb in &links {
                    assert_ne!(nb, i);
                    assert!(g.level(nb) >= l, "link {i} -> {nb} at layer {l}");
                }
            }
        }
        let dir = tempfile::tempdir().unwrap();
        crate::storage::write_native_hnsw(&g, &v, dir.path(), "t").unwrap();
        let loaded = crate::storage::load_hnsw(dir.path(), "t").unwrap();
        let recall = recall_at_10(&loaded, &v, 100, 64);
        assert!(recall >= 0.95, "recall@10 {recall}");
        // The recall the build records (the graph searched natively) is
        // the served graph's (hnsw_rs searching the loaded dump).
        let native = crate::ann::recall_at_10_of(&v, 100, |q| {
            g.search(&v, q, 10, 64).into_iter().map(|x| x.1).collect()
        });
        assert!((native - recall).abs() <= 0.01, "{native} vs {recall}");
        // hnsw_rs's answers carry true cosines of the rows asked about.
        let q = v.row(17);
        let got = hnsw_search(&loaded, q, 10, 64, None);
        let exact = exact_top_k(&v, q, 10, None);
        assert_eq!(got[0].1, exact[0].1);
        for (sim, o) in got {
            assert!((sim - dot(q, v.row(o as usize))).abs() < 1e-3);
        }
    }

    #[test]
    fn tiny_graphs_load() {
        for n in [1usize, 2, 3] {
            let v = clustered(n, 8, 9);
            let g = build_native(&v, HnswParams::default(), &|_| {});
            let dir = tempfile::tempdir().unwrap();
            crate::storage::write_native_hnsw(&g, &v, dir.path(), "t").unwrap();
            let loaded = crate::storage::load_hnsw(dir.path(), "t").unwrap();
            let got = hnsw_search(&loaded, v.row(0), 1, 16, None);
            assert_eq!(got.len(), 1, "n = {n}");
        }
    }
}
