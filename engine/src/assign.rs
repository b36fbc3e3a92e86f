//! Global assignment for the nightly re-rank: every open campaign's
//! portfolio at once, with each creator's limits holding across campaigns.
//!
//! # Problem
//! Each campaign `c` has a scored pool of [`Item`]s, a budget, a count
//! (`creators_wanted`) and diversity caps, exactly as in [`crate::select`].
//! Run alone, every campaign would pick the same strong creators. Across
//! campaigns two limits must hold per creator:
//! - `capacity` (CONTRACT: "how many more campaigns the creator can take
//!   now"): at most that many campaigns hold the creator (unknown: no limit);
//! - `max_new_offers`: at most that many of those are *new* offers in this
//!   run, i.e. pairs that were not already in the previous generation.
//!
//! # Method: deferred acceptance with incremental lazy greedy
//! 1. **Alone.** Each campaign (in parallel) runs the lazy greedy of
//!    [`crate::select`] for every slot price in [`LAMBDAS`] and keeps the best
//!    (this reproduces `select::select` exactly; a test checks it). The best
//!    slot price `lambda_c` is kept for phase 2; the alone value is reported.
//! 2. **Propose.** Each campaign (in parallel, against a frozen view of the
//!    creators) continues its greedy — best marginal value per dollar
//!    (`gain / (fee + lambda_c)`) first — until it is full or out of
//!    creators. A creator known to be closed to it (see below) is skipped.
//! 3. **Accept by value.** Each creator who got proposals keeps, among its
//!    current holds and the new proposals, the best ones by the campaign's
//!    value of the creator (`Item::value`; ties: lower campaign index)
//!    within `capacity` and `max_new_offers`. Every other pair is rejected
//!    for good; a campaign that loses a creator gets its budget, count and
//!    caps back and re-proposes in the next round.
//! 4. Repeat 2-3 until a round rejects nothing.
//!
//! Campaigns never drop a held creator on their own, so the value of the
//! worst offer a full creator holds never goes down; a creator is *closed*
//! to campaign `c` when it is full and that worst offer beats `c`'s value
//! for it — `c` then skips it (a rejection it would surely get).
//!
//! # Guarantees
//! - **Feasible.** Every campaign stays within its budget, count and caps
//!   (the greedy never breaks them, and a rejection only frees room); every
//!   creator is held by at most `capacity` campaigns, at most
//!   `max_new_offers` of them new (enforced in step 3, the only way a pair
//!   survives a round). Checked by tests over random instances.
//! - **Stable by value.** Each creator's final holders are the
//!   value-maximal set, within its two limits, of all the offers it ever
//!   received (the limits form a laminar matroid, so keeping the best
//!   greedily is optimal and only improves as offers arrive; campaigns never
//!   withdraw an offer). Hence for every pair (c, creator) that was rejected
//!   or skipped, adding `c` would break a limit whose holders all value the
//!   creator at least as much as `c` does: no campaign wanted a creator
//!   more than the campaigns that got it. Checked by a property test.
//! - **Terminates.** Every round but the last rejects a pair for good, so
//!   there are at most (pairs + 1) rounds; in practice a handful (reported).
//! - **Deterministic.** The result depends only on the input: campaigns
//!   propose against a frozen view, proposals are merged in (creator,
//!   campaign) order, ties go to the lower ordinal / campaign index, so the
//!   thread count never changes a byte.
//!
//! Not guaranteed: the global optimum (the problem contains multiple
//! knapsacks, NP-hard). After a rejection frees room, an entry whose overlap
//! discount shrank is re-scored only when popped, so the refill may be
//! slightly out of order. The re-rank reports total value against each
//! campaign alone, counted feasibly ([`alone_feasible`]), in docs/RERANK.md.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;

use crate::select::{discounted, price, Caps, Dense, Entry, Item, LazyQueue, LAMBDAS};

/// One campaign's input: its scored pool and its limits.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignPool {
    pub items: Vec<Item>,
    pub budget_cents: u64,
    pub wanted: usize,
    pub caps: Caps,
    /// Ordinals this campaign held in the previous generation (any order);
    /// holding them again does not count as a new offer.
    pub previous: Vec<u32>,
}

/// Per-run limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssignOptions {
    /// New offers (pairs not in the previous generation) per creator per run.
    pub max_new_offers: u32,
}

impl Default for AssignOptions {
    fn default() -> Self {
        AssignOptions { max_new_offers: 3 }
    }
}

/// One campaign's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignOutcome {
    /// Indices into the campaign's items, in the order they were chosen.
    pub chosen: Vec<usize>,
    /// Overlap-discounted value of `chosen`, in that order.
    pub value: f64,
    pub cost_cents: u64,
    /// The campaign's value and cost when run alone (`select::select`).
    pub alone_value: f64,
    pub alone_chosen: Vec<usize>,
    /// The slot price its greedy ran with (a multiple of budget / wanted).
    pub lambda: f64,
    /// Ordinals rejected (or skipped) because the creator went to
    /// campaigns valuing them more, with the limit that bound.
    pub lost: Vec<(u32, Limit)>,
}

/// Which creator limit turned a campaign away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    Capacity,
    NewOffers,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Capacity => "capacity",
            Limit::NewOffers => "new_offers",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub campaigns: Vec<CampaignOutcome>,
    pub rounds: u32,
    pub total_value: f64,
    /// Sum of each campaign's alone value (overcommits creators).
    pub alone_value: f64,
}

/// An offer's standing at a creator: higher value wins, then the lower
/// campaign index.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Key {
    value: f64,
    campaign: u32,
}

impl Key {
    fn beats(&self, o: &Key) -> bool {
        match self.value.total_cmp(&o.value) {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => self.campaign < o.campaign,
        }
    }
}

/// A resumable lazy greedy over one campaign's items (the same rule as
/// `select`'s greedy, plus removal of chosen items).
#[derive(Debug, Clone)]
struct Greedy {
    lambda: f64,
    heap: LazyQueue,
    /// Items skipped for budget or caps, as (cost, index): they may fit
    /// after a removal. The cost is kept beside the index so that the
    /// refill's scan (every parked item, after every rejection) rules out
    /// the ones over the room without reading the item.
    parked: Vec<(u64, u32)>,
    freed: bool,
    /// Chosen item indices in order (removed ones are taken out).
    chosen: Vec<u32>,
    spent: u64,
    /// The campaign's items' groups as dense indices (shared by its
    /// greedies), and the chosen items' counts per group.
    groups: Arc<Dense>,
    cell: Vec<u32>,
    niche: Vec<usize>,
    country: Vec<usize>,
    tier: Vec<usize>,
}

impl Greedy {
    fn new(
        items: &[Item],
        groups: Arc<Dense>,
        budget: u64,
        lambda: f64,
        banned: &dyn Fn(usize) -> bool,
    ) -> Greedy {
        let heap = LazyQueue::priced(items, budget, lambda, banned);
        Greedy {
            lambda,
            heap,
            parked: Vec::new(),
            freed: false,
            chosen: Vec::new(),
            spent: 0,
            cell: vec![0; groups.cells],
            niche: vec![0; groups.niches],
            country: vec![0; groups.countries],
            tier: vec![0; 256],
            groups,
        }
    }

    /// Makes this greedy `Greedy::new`'s for a slot price `lambda` (same
    /// campaign, same groups), reusing its memory.
    fn reset(&mut self, items: &[Item], budget: u64, lambda: f64, banned: &dyn Fn(usize) -> bool) {
        self.lambda = lambda;
        self.heap.reprice(items, budget, lambda, banned);
        self.parked.clear();
        self.freed = false;
        self.chosen.clear();
        self.spent = 0;
        self.cell.fill(0);
        self.niche.fill(0);
        self.country.fill(0);
        self.tier.fill(0);
    }

    /// [`portfolio_value`] of the chosen items, their cells counted by
    /// dense index instead of in a map.
    fn value(&self, items: &[Item]) -> f64 {
        let mut occ = vec![0u32; self.groups.cells];
        let mut v = 0.0;
        for &i in &self.chosen {
            let c = &mut occ[self.groups.cell[i as usize] as usize];
            v += discounted(items[i as usize].value, *c);
            *c += 1;
        }
        v
    }

    /// The cell count of item `idx` (its overlap occupancy).
    #[inline]
    fn occupancy(&self, idx: u32) -> u32 {
        self.cell[self.groups.cell[idx as usize] as usize]
    }

    fn capped(&self, idx: u32, it: &Item, caps: &Caps) -> bool {
        let g = &self.groups;
        caps.per_niche
            .is_some_and(|m| self.niche[g.niche[idx as usize] as usize] >= m)
            || caps
                .per_country
                .is_some_and(|m| self.country[g.country[idx as usize] as usize] >= m)
            || caps
                .per_tier
                .is_some_and(|m| self.tier[it.tier as usize] >= m)
    }

    /// Chooses until full or out of items; `skip(idx)` true drops an item
    /// for good. Returns the indices added.
    fn fill(
        &mut self,
        items: &[Item],
        budget: u64,
        wanted: usize,
        caps: &Caps,
        skip: &mut dyn FnMut(usize) -> bool,
    ) -> Vec<u32> {
        if self.freed {
            self.freed = false;
            // Put back only what can fit now: the room only shrinks while
            // filling and the caps only tighten, so a parked item over the
            // budget left or at a full cap would be popped only to be
            // parked again. It stays parked and is re-priced when it is
            // put back (so the refill order can differ from popping it,
            // only where the module doc's "slightly out of order" applies).
            let room = budget - self.spent;
            let mut parked = std::mem::take(&mut self.parked);
            let mut back = Vec::new();
            parked.retain(|&(cost, idx)| {
                if cost > room {
                    return true;
                }
                let it = &items[idx as usize];
                if self.capped(idx, it, caps) {
                    return true;
                }
                let occ = self.occupancy(idx);
                back.push(Entry {
                    ratio: discounted(it.value, occ) / price(it.cost_cents, self.lambda),
                    ordinal: it.ordinal,
                    idx,
                    seen: occ,
                });
                false
            });
            self.parked = parked;
            self.heap.push_many(back);
        }
        let mut added = Vec::new();
        while self.chosen.len() < wanted {
            if budget - self.spent < self.heap.min_cost() {
                // Nothing left fits the budget: every entry still queued
                // would be popped and parked, so park them all at once.
                let parked = &mut self.parked;
                self.heap
                    .drain_into(|idx| parked.push((items[idx as usize].cost_cents, idx)));
                break;
            }
            let Some(e) = self.heap.pop() else { break };
            let it = &items[e.idx as usize];
            if it.cost_cents > budget - self.spent || self.capped(e.idx, it, caps) {
                self.parked.push((it.cost_cents, e.idx));
                continue;
            }
            let occ = self.occupancy(e.idx);
            if occ != e.seen {
                self.heap.push(Entry {
                    ratio: discounted(it.value, occ) / price(it.cost_cents, self.lambda),
                    seen: occ,
                    ..e
                });
                continue;
            }
            if skip(e.idx as usize) {
                continue;
            }
            self.chosen.push(e.idx);
            self.spent += it.cost_cents;
            let (g, i) = (&self.groups, e.idx as usize);
            self.cell[g.cell[i] as usize] += 1;
            self.niche[g.niche[i] as usize] += 1;
            self.country[g.country[i] as usize] += 1;
            self.tier[it.tier as usize] += 1;
            added.push(e.idx);
        }
        added
    }

    fn remove(&mut self, items: &[Item], idx: u32) {
        if let Some(p) = self.chosen.iter().position(|&x| x == idx) {
            self.chosen.remove(p);
            let it = &items[idx as usize];
            self.spent -= it.cost_cents;
            let (g, i) = (&self.groups, idx as usize);
            self.cell[g.cell[i] as usize] -= 1;
            self.niche[g.niche[i] as usize] -= 1;
            self.country[g.country[i] as usize] -= 1;
            self.tier[it.tier as usize] -= 1;
            self.freed = true;
        }
    }
}

/// Overlap-discounted value of a portfolio, in the order given.
pub fn portfolio_value(items: &[Item], chosen: &[usize]) -> f64 {
    let mut cell: HashMap<u32, u32> = HashMap::new();
    let mut v = 0.0;
    for &i in chosen {
        let occ = cell.entry(items[i].cell).or_default();
        v += discounted(items[i].value, *occ);
        *occ += 1;
    }
    v
}

/// The campaign alone: the best greedy over the slot prices, or the best
/// single affordable item (exactly `select::select`). Returns (chosen,
/// value, best greedy's slot price, that greedy's state).
fn alone(p: &CampaignPool, banned: &dyn Fn(usize) -> bool) -> (Vec<usize>, f64, Greedy) {
    let slot = p.budget_cents as f64 / p.wanted.max(1) as f64;
    let groups = Arc::new(Dense::new(&p.items));
    let mut best: Option<(f64, Greedy)> = None;
    // The greedy of the last slot price that did not win, run again at the
    // next one in its own memory (a re-rank runs six per campaign).
    let mut spare: Option<Greedy> = None;
    for l in LAMBDAS {
        let mut g = match spare.take() {
            Some(mut g) => {
                g.reset(&p.items, p.budget_cents, l * slot, banned);
                g
            }
            None => Greedy::new(&p.items, groups.clone(), p.budget_cents, l * slot, banned),
        };
        g.fill(&p.items, p.budget_cents, p.wanted, &p.caps, &mut |_| false);
        let v = g.value(&p.items);
        if best.as_ref().is_none_or(|b| v > b.0) {
            spare = best.replace((v, g)).map(|b| b.1);
        } else {
            spare = Some(g);
        }
    }
    drop(spare);
    let (mut value, g) = best.unwrap_or_else(|| (0.0, Greedy::new(&[], groups, 0, 0.0, banned)));
    let mut chosen: Vec<usize> = g.chosen.iter().map(|&x| x as usize).collect();
    if p.wanted > 0 {
        let single = p
            .items
            .iter()
            .enumerate()
            .filter(|(i, it)| it.cost_cents <= p.budget_cents && !banned(*i))
            .max_by(|a, b| {
                a.1.value
                    .total_cmp(&b.1.value)
                    .then(b.1.ordinal.cmp(&a.1.ordinal))
            });
        if let Some((i, it)) = single {
            if it.value > value {
                value = it.value;
                chosen = vec![i];
            }
        }
    }
    (chosen, value, g)
}

/// A campaign's new proposals (item indices) and the creators it skipped.
type Proposal = (Vec<u32>, Vec<(u32, Limit)>);

/// Per-creator state during the assignment.
#[derive(Debug, Clone, Default)]
struct Holds {
    /// (key, item index in that campaign, is a new offer)
    held: Vec<(Key, u32, bool)>,
}

/// The frozen view campaigns propose against: for a full creator, the
/// worst offer it holds in each limit (None: room left).
#[derive(Debug, Clone, Copy, Default)]
struct Closed {
    capacity: Option<Key>,
    new_offers: Option<Key>,
}

/// A rejected pair: (campaign, item index, creator ordinal, the limit).
type Rejection = (u32, u32, u32, Limit);

/// One creator's round: `held` (its holds) gets `offers` (this round's
/// proposals), keeps the best within `cap` and `cap_new`, and the rest are
/// rejected. Returns the creator's closed view and the rejections, in the
/// order of the creator's ranking.
fn settle(
    ord: u32,
    held: &mut Vec<(Key, u32, bool)>,
    offers: impl Iterator<Item = (Key, u32, bool)>,
    cap: usize,
    cap_new: usize,
) -> (Closed, Vec<Rejection>) {
    held.extend(offers);
    // Keep the best offers within both limits.
    held.sort_by(|a, b| {
        if a.0.beats(&b.0) {
            Ordering::Less
        } else if b.0.beats(&a.0) {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    });
    let mut rejections = Vec::new();
    let mut kept = Vec::with_capacity(held.len());
    let mut new_kept = 0usize;
    for &(key, idx, new) in held.iter() {
        if kept.len() >= cap {
            rejections.push((key.campaign, idx, ord, Limit::Capacity));
        } else if new && new_kept >= cap_new {
            rejections.push((key.campaign, idx, ord, Limit::NewOffers));
        } else {
            new_kept += new as usize;
            kept.push((key, idx, new));
        }
    }
    *held = kept;
    let closed = Closed {
        capacity: (held.len() >= cap)
            .then(|| held.last().map(|x| x.0))
            .flatten(),
        new_offers: (new_kept >= cap_new)
            .then(|| held.iter().rev().find(|x| x.2).map(|x| x.0))
            .flatten()
            .or(if cap_new == 0 {
                Some(Key {
                    value: f64::INFINITY,
                    campaign: 0,
                })
            } else {
                None
            }),
    };
    (closed, rejections)
}

/// Runs the global assignment. `capacity[ordinal]` is the creator's
/// capacity (`u32::MAX`: unknown, no limit).
pub fn assign(pools: &[CampaignPool], capacity: &[u32], opts: &AssignOptions) -> Assignment {
    let n_creators = capacity.len();
    let is_prev: Vec<Vec<bool>> = pools
        .par_iter()
        .map(|p| {
            let mut prev = p.previous.clone();
            prev.sort_unstable();
            p.items
                .iter()
                .map(|it| prev.binary_search(&it.ordinal).is_ok())
                .collect()
        })
        .collect();
    // Phase 1: alone, in parallel.
    let mut states: Vec<(Vec<usize>, f64, Greedy)> =
        pools.par_iter().map(|p| alone(p, &|_| false)).collect();
    let mut lost: Vec<Vec<(u32, Limit)>> = vec![Vec::new(); pools.len()];
    let alone_chosen: Vec<(Vec<usize>, f64)> = states.iter().map(|s| (s.0.clone(), s.1)).collect();
    // Round 1 proposals: each campaign's greedy portfolio so far.
    let mut proposals: Vec<Vec<u32>> = states.iter().map(|s| s.2.chosen.clone()).collect();
    let mut holds: Vec<Holds> = vec![Holds::default(); n_creators];
    let mut closed: Vec<Closed> = vec![Closed::default(); n_creators];
    let mut rounds = 0u32;
    let cap_new = opts.max_new_offers as usize;
    loop {
        rounds += 1;
        // Merge proposals per creator, deterministically.
        let mut props: Vec<(u32, u32, u32)> = proposals
            .iter()
            .enumerate()
            .flat_map(|(c, v)| {
                let items = &pools[c].items;
                v.iter()
                    .map(move |&idx| (items[idx as usize].ordinal, c as u32, idx))
            })
            .collect();
        props.par_sort_unstable();
        // Each creator's offers are settled on their own (in parallel): its
        // holds are taken out, merged with its proposals and put back.
        let groups: Vec<&[(u32, u32, u32)]> = props.chunk_by(|x, y| x.0 == y.0).collect();
        let mut taken: Vec<Vec<(Key, u32, bool)>> = groups
            .iter()
            .map(|g| std::mem::take(&mut holds[g[0].0 as usize].held))
            .collect();
        let settled: Vec<(Closed, Vec<Rejection>)> = groups
            .par_iter()
            .zip(taken.par_iter_mut())
            .map(|(g, held)| {
                let ord = g[0].0;
                let offers = g.iter().map(|&(_, c, idx)| {
                    let key = Key {
                        value: pools[c as usize].items[idx as usize].value,
                        campaign: c,
                    };
                    (key, idx, !is_prev[c as usize][idx as usize])
                });
                settle(ord, held, offers, capacity[ord as usize] as usize, cap_new)
            })
            .collect();
        let mut rejections: Vec<Rejection> = Vec::new();
        for ((g, held), (cl, rejected)) in groups.iter().zip(taken).zip(settled) {
            let ord = g[0].0 as usize;
            holds[ord].held = held;
            closed[ord] = cl;
            rejections.extend(rejected);
        }
        if rejections.is_empty() {
            break;
        }
        // Each campaign takes its rejections back (in parallel), in order.
        rejections.sort_unstable_by_key(|r| (r.0, r.1));
        let mut rejected: Vec<&[Rejection]> = vec![&[]; pools.len()];
        for g in rejections.chunk_by(|x, y| x.0 == y.0) {
            rejected[g[0].0 as usize] = g;
        }
        states
            .par_iter_mut()
            .zip(lost.par_iter_mut())
            .zip(rejected)
            .enumerate()
            .for_each(|(c, ((st, lost), rejected))| {
                for &(_, idx, ord, lim) in rejected {
                    st.2.remove(&pools[c].items, idx);
                    lost.push((ord, lim));
                }
            });
        // Propose again, in parallel, against the frozen view.
        let closed_ref = &closed;
        let prev_ref = &is_prev;
        let results: Vec<Proposal> = states
            .par_iter_mut()
            .enumerate()
            .map(|(c, st)| {
                let p = &pools[c];
                if !st.2.freed {
                    return (Vec::new(), Vec::new());
                }
                let mut skipped = Vec::new();
                let added =
                    st.2.fill(&p.items, p.budget_cents, p.wanted, &p.caps, &mut |idx| {
                        let it = &p.items[idx];
                        let key = Key {
                            value: it.value,
                            campaign: c as u32,
                        };
                        let cl = closed_ref[it.ordinal as usize];
                        let lim = if cl.capacity.is_some_and(|w| !key.beats(&w)) {
                            Some(Limit::Capacity)
                        } else if !prev_ref[c][idx] && cl.new_offers.is_some_and(|w| !key.beats(&w))
                        {
                            Some(Limit::NewOffers)
                        } else {
                            None
                        };
                        if let Some(l) = lim {
                            skipped.push((it.ordinal, l));
                        }
                        lim.is_some()
                    });
                (added, skipped)
            })
            .collect();
        proposals = Vec::with_capacity(pools.len());
        for (c, (added, skipped)) in results.into_iter().enumerate() {
            lost[c].extend(skipped);
            proposals.push(added);
        }
        if proposals.iter().all(|p| p.is_empty()) {
            break;
        }
    }
    let campaigns: Vec<CampaignOutcome> = states
        .into_iter()
        .zip(alone_chosen)
        .zip(lost)
        .enumerate()
        .map(|(c, ((st, (alone_chosen, alone_value)), lost))| {
            let items = &pools[c].items;
            let chosen: Vec<usize> = st.2.chosen.iter().map(|&x| x as usize).collect();
            let value = portfolio_value(items, &chosen);
            let cost_cents = chosen.iter().map(|&i| items[i].cost_cents).sum();
            let slot = pools[c].budget_cents as f64 / pools[c].wanted.max(1) as f64;
            CampaignOutcome {
                chosen,
                value,
                cost_cents,
                alone_value,
                alone_chosen,
                lambda: if slot > 0.0 { st.2.lambda / slot } else { 0.0 },
                lost,
            }
        })
        .collect();
    Assignment {
        rounds,
        total_value: campaigns.iter().map(|c| c.value).sum(),
        alone_value: campaigns.iter().map(|c| c.alone_value).sum(),
        campaigns,
    }
}

/// Each campaign alone, counted feasibly: the alone portfolios overcommit
/// creators, so each creator is given the offers it would take — the best
/// by value within `capacity` and `max_new_offers`, as in [`assign`] — and
/// the campaigns keep only those (no refill: alone, nobody re-plans).
#[derive(Debug, Clone, PartialEq)]
pub struct AloneReport {
    /// Sum of the alone portfolios' values as if every offer were taken.
    pub raw_value: f64,
    /// Value the campaigns actually get once creators take their best offers.
    pub feasible_value: f64,
    /// Offers beyond a creator's limits in the alone plans.
    pub overcommitted_offers: usize,
    pub offers: usize,
}

pub fn alone_feasible(
    pools: &[CampaignPool],
    a: &Assignment,
    capacity: &[u32],
    opts: &AssignOptions,
) -> AloneReport {
    let mut offers: Vec<(u32, Key, usize, bool)> = Vec::new(); // (ordinal, key, idx, new)
    for (c, (p, o)) in pools.iter().zip(&a.campaigns).enumerate() {
        let mut prev = p.previous.clone();
        prev.sort_unstable();
        for &idx in &o.alone_chosen {
            let it = &p.items[idx];
            offers.push((
                it.ordinal,
                Key {
                    value: it.value,
                    campaign: c as u32,
                },
                idx,
                prev.binary_search(&it.ordinal).is_err(),
            ));
        }
    }
    offers.sort_by(|a, b| {
        a.0.cmp(&b.0).then(if a.1.beats(&b.1) {
            Ordering::Less
        } else {
            Ordering::Greater
        })
    });
    let mut kept: Vec<Vec<usize>> = vec![Vec::new(); pools.len()];
    let mut over = 0usize;
    let mut k = 0;
    while k < offers.len() {
        let ord = offers[k].0;
        let (mut n, mut new_n) = (0usize, 0usize);
        while k < offers.len() && offers[k].0 == ord {
            let (_, key, idx, new) = offers[k];
            if n < capacity[ord as usize] as usize && (!new || new_n < opts.max_new_offers as usize)
            {
                n += 1;
                new_n += new as usize;
                kept[key.campaign as usize].push(idx);
            } else {
                over += 1;
            }
            k += 1;
        }
    }
    let mut feasible = 0.0;
    for (c, (p, o)) in pools.iter().zip(&a.campaigns).enumerate() {
        // Keep the alone order among the kept.
        let keep: std::collections::HashSet<usize> = kept[c].iter().copied().collect();
        let order: Vec<usize> = o
            .alone_chosen
            .iter()
            .copied()
            .filter(|i| keep.contains(i))
            .collect();
        feasible += portfolio_value(&p.items, &order);
    }
    AloneReport {
        raw_value: a.alone_value,
        feasible_value: feasible,
        overcommitted_offers: over,
        offers: offers.len(),
    }
}

/// Bounds a campaign pool for the re-rank's memory: keeps the `k` best by
/// value per dollar and the `k` best by value (the greedy's orders at low
/// and high slot prices), in the input order.
pub fn truncate_pool<T>(
    pool: Vec<T>,
    k: usize,
    value: impl Fn(&T) -> f64,
    cost: impl Fn(&T) -> u64,
    ordinal: impl Fn(&T) -> u32,
) -> Vec<T> {
    if pool.len() <= 2 * k {
        let mut pool = pool;
        pool.shrink_to_fit();
        return pool;
    }
    let mut keep = vec![false; pool.len()];
    let mut idx: Vec<usize> = (0..pool.len()).collect();
    let by = |f: &dyn Fn(usize) -> f64, idx: &mut Vec<usize>, keep: &mut Vec<bool>| {
        idx.select_nth_unstable_by(k, |&a, &b| {
            f(b).total_cmp(&f(a))
                .then(ordinal(&pool[a]).cmp(&ordinal(&pool[b])))
        });
        for &i in &idx[..k] {
            keep[i] = true;
        }
    };
    by(
        &|i| value(&pool[i]) / cost(&pool[i]).max(1) as f64,
        &mut idx,
        &mut keep,
    );
    by(&|i| value(&pool[i]), &mut idx, &mut keep);
    let mut kept: Vec<T> = pool
        .into_iter()
        .zip(keep)
        .filter_map(|(x, k)| k.then_some(x))
        .collect();
    // The collect reuses the input's allocation (in-place iteration): give
    // back the rest, or every kept pool holds its whole candidate set's
    // memory (10,000 campaigns x 1M creators: gigabytes).
    kept.shrink_to_fit();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::select;
    use proptest::prelude::*;

    fn item(ordinal: u32, value: f64, cost: u64, cell: u32) -> Item {
        Item {
            ordinal,
            value,
            cost_cents: cost * 100,
            cell,
            // Unknown niches and countries (`UNKNOWN_CODE`) among known
            // ones: the caps count both kinds of code.
            niche: [0, 7, u16::MAX][ordinal as usize % 3],
            country: [3, u16::MAX][ordinal as usize % 2],
            tier: (ordinal % 4) as u8,
        }
    }

    /// A campaign of `items` with no caps and no previous selection.
    fn pool(items: Vec<Item>, budget_cents: u64, wanted: usize) -> CampaignPool {
        CampaignPool {
            items,
            budget_cents,
            wanted,
            caps: Caps::default(),
            previous: vec![],
        }
    }

    type RawCampaign = (
        Vec<(u32, u32, u64, u32)>,
        u64,
        usize,
        Option<usize>,
        Vec<u32>,
    );

    fn pools_from(raw: &[RawCampaign]) -> Vec<CampaignPool> {
        raw.iter()
            .map(|(its, budget, wanted, cap, prev)| {
                let mut seen = std::collections::HashSet::new();
                CampaignPool {
                    items: its
                        .iter()
                        .filter(|x| seen.insert(x.0))
                        .map(|&(o, v, c, cell)| item(o, v as f64, c, cell))
                        .collect(),
                    budget_cents: budget * 100,
                    wanted: *wanted,
                    caps: Caps {
                        per_niche: *cap,
                        per_country: None,
                        per_tier: *cap,
                    },
                    previous: prev.clone(),
                }
            })
            .collect()
    }

    fn campaign_strategy() -> impl Strategy<Value = RawCampaign> {
        (
            proptest::collection::vec((0u32..25, 1u32..1000, 1u64..100, 0u32..4), 0..25),
            1u64..800,
            1usize..8,
            proptest::option::of(1usize..4),
            proptest::collection::vec(0u32..25, 0..4),
        )
    }

    proptest! {
        #[test]
        fn limits_hold_across_campaigns(
            raw in proptest::collection::vec(campaign_strategy(), 1..8),
            caps in proptest::collection::vec(prop_oneof![0u32..4, Just(u32::MAX)], 25),
            max_new in 0u32..4,
        ) {
            let pools = pools_from(&raw);
            let opts = AssignOptions { max_new_offers: max_new };
            let a = assign(&pools, &caps, &opts);
            let mut per: HashMap<u32, (usize, usize)> = HashMap::new();
            for (p, o) in pools.iter().zip(&a.campaigns) {
                let cost: u64 = o.chosen.iter().map(|&i| p.items[i].cost_cents).sum();
                prop_assert!(cost <= p.budget_cents);
                prop_assert_eq!(cost, o.cost_cents);
                prop_assert!(o.chosen.len() <= p.wanted);
                let mut seen = std::collections::HashSet::new();
                for &i in &o.chosen {
                    prop_assert!(seen.insert(i));
                    let e = per.entry(p.items[i].ordinal).or_default();
                    e.0 += 1;
                    if !p.previous.contains(&p.items[i].ordinal) { e.1 += 1; }
                }
                if let Some(m) = p.caps.per_niche {
                    for n in 0..3u16 {
                        prop_assert!(o.chosen.iter().filter(|&&i| p.items[i].niche == n).count() <= m);
                    }
                }
            }
            for (ord, (n, new)) in per {
                prop_assert!(n <= caps[ord as usize] as usize, "creator {} held {} > capacity {}", ord, n, caps[ord as usize]);
                prop_assert!(new <= max_new as usize);
            }
            // Deterministic and independent of the thread count.
            let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
            let b = one.install(|| assign(&pools, &caps, &opts));
            prop_assert_eq!(&a, &b);
            // The feasible count of "alone" never beats its raw value.
            let r = alone_feasible(&pools, &a, &caps, &opts);
            prop_assert!(r.feasible_value <= r.raw_value + 1e-9);
        }

        #[test]
        fn alone_is_exactly_select(raw in campaign_strategy()) {
            let pools = pools_from(&[raw]);
            let p = &pools[0];
            let (chosen, value, _) = alone(p, &|_| false);
            let s = select(&p.items, p.budget_cents, p.wanted, &p.caps);
            prop_assert_eq!(chosen, s.chosen);
            prop_assert_eq!(value, s.total_value);
        }

        #[test]
        fn a_greedy_reset_to_another_slot_price_runs_as_a_new_one(
            raw in campaign_strategy(),
            from in 0usize..LAMBDAS.len(),
            to in 0usize..LAMBDAS.len(),
            drop_first in any::<bool>(),
        ) {
            let pools = pools_from(&[raw]);
            let p = &pools[0];
            let slot = p.budget_cents as f64 / p.wanted.max(1) as f64;
            let groups = Arc::new(Dense::new(&p.items));
            let banned = |i: usize| i % 5 == 4;
            let run = |g: &mut Greedy| {
                let mut added = g.fill(&p.items, p.budget_cents, p.wanted, &p.caps, &mut |_| false);
                // A rejection and a refill: the put-back entries, the
                // parked list and the queue's state all take part.
                if let Some(&first) = g.chosen.first().filter(|_| drop_first) {
                    g.remove(&p.items, first);
                    added.extend(g.fill(&p.items, p.budget_cents, p.wanted, &p.caps, &mut |_| false));
                }
                added
            };
            let mut used = Greedy::new(&p.items, groups.clone(), p.budget_cents, LAMBDAS[from] * slot, &banned);
            run(&mut used);
            used.reset(&p.items, p.budget_cents, LAMBDAS[to] * slot, &banned);
            let mut fresh = Greedy::new(&p.items, groups, p.budget_cents, LAMBDAS[to] * slot, &banned);
            prop_assert_eq!(run(&mut used), run(&mut fresh));
            prop_assert_eq!(&used.chosen, &fresh.chosen);
            prop_assert_eq!(&used.parked, &fresh.parked);
            prop_assert_eq!(used.spent, fresh.spent);
            let chosen: Vec<usize> = used.chosen.iter().map(|&x| x as usize).collect();
            prop_assert_eq!(used.value(&p.items), portfolio_value(&p.items, &chosen));
        }

        #[test]
        fn rejected_pairs_went_to_campaigns_valuing_the_creator_more(
            raw in proptest::collection::vec(campaign_strategy(), 2..6),
            caps in proptest::collection::vec(1u32..3, 25),
        ) {
            let pools = pools_from(&raw);
            let opts = AssignOptions { max_new_offers: 2 };
            let a = assign(&pools, &caps, &opts);
            for (c, o) in a.campaigns.iter().enumerate() {
                for &(ord, lim) in &o.lost {
                    let v = pools[c].items.iter().find(|it| it.ordinal == ord).unwrap().value;
                    // The creator's final holders: adding this campaign
                    // would break a limit, and every holder in that limit
                    // values the creator at least as much.
                    let holders: Vec<(f64, bool)> = a.campaigns.iter().enumerate()
                        .flat_map(|(c2, o2)| o2.chosen.iter().map(move |&i| (c2, i)))
                        .filter(|&(c2, i)| pools[c2].items[i].ordinal == ord)
                        .map(|(c2, i)| (pools[c2].items[i].value, !pools[c2].previous.contains(&ord)))
                        .collect();
                    let is_new = !pools[c].previous.contains(&ord);
                    let full_cap = holders.len() >= caps[ord as usize] as usize
                        && holders.iter().all(|h| h.0 >= v);
                    let new_holders: Vec<f64> = holders.iter().filter(|h| h.1).map(|h| h.0).collect();
                    let full_new = is_new && new_holders.len() >= 2 && new_holders.iter().all(|&h| h >= v);
                    prop_assert!(full_cap || full_new, "creator {} lost by campaign {} ({:?}) but holders {:?}", ord, c, lim, holders);
                }
            }
        }
    }

    #[test]
    fn contested_creator_goes_to_the_campaign_valuing_it_most() {
        // Creator 0 is in both pools; campaign 1 values it more.
        let mk = |v0: f64| {
            pool(
                vec![
                    item(0, v0, 10, 0),
                    item(1, 50.0, 10, 1),
                    item(2, 40.0, 10, 2),
                ],
                2_000,
                2,
            )
        };
        let pools = vec![mk(100.0), mk(200.0)];
        let a = assign(&pools, &[1, 1, 1], &AssignOptions::default());
        let ords = |c: usize| -> Vec<u32> {
            a.campaigns[c]
                .chosen
                .iter()
                .map(|&i| pools[c].items[i].ordinal)
                .collect()
        };
        // Creator 0 goes to campaign 1 (200 > 100); creators 1 and 2 are
        // valued alike by both, so the tie goes to campaign 0 each time.
        assert_eq!(ords(1), vec![0]);
        assert_eq!(ords(0), vec![1, 2]);
        assert_eq!(a.campaigns[0].lost, vec![(0, Limit::Capacity)]);
        assert_eq!(
            a.campaigns[1].lost,
            vec![(1, Limit::Capacity), (2, Limit::Capacity)]
        );
        assert!(a.rounds >= 2);
        // Alone, both would take 0 and 1: four offers, two creators.
        let r = alone_feasible(&pools, &a, &[1, 1, 1], &AssignOptions::default());
        assert_eq!(r.overcommitted_offers, 2);
        assert!(a.total_value >= r.feasible_value);
    }

    #[test]
    fn a_campaign_that_loses_a_creator_refills_from_what_it_set_aside() {
        // Campaign 0 alone takes creator 0 (cost 90 of its 100): nothing
        // else fits the $10 left, so creators 1 and 2 are set aside. It
        // loses creator 0 to campaign 1 (capacity 1, valued 5000 > 1000)
        // and must then take 1 and 2 with the budget it got back.
        let pools = vec![
            pool(
                vec![
                    item(0, 1000.0, 90, 0),
                    item(1, 10.0, 50, 1),
                    item(2, 10.0, 50, 2),
                ],
                10_000,
                3,
            ),
            pool(vec![item(0, 5000.0, 90, 0)], 10_000, 1),
        ];
        let a = assign(&pools, &[1, 1, 1], &AssignOptions::default());
        assert_eq!(a.campaigns[0].alone_chosen, vec![0]);
        let mut got: Vec<u32> = a.campaigns[0]
            .chosen
            .iter()
            .map(|&i| pools[0].items[i].ordinal)
            .collect();
        got.sort_unstable();
        assert_eq!(got, vec![1, 2]);
        assert_eq!(a.campaigns[1].chosen, vec![0]);
        assert_eq!(a.campaigns[0].cost_cents, 10_000);
    }

    #[test]
    fn previous_pairs_do_not_count_as_new_offers() {
        let pools: Vec<CampaignPool> = (0..3)
            .map(|c| CampaignPool {
                previous: if c == 2 { vec![0] } else { vec![] },
                ..pool(vec![item(0, 100.0, 10, 0)], 10_000, 1)
            })
            .collect();
        let a = assign(&pools, &[u32::MAX], &AssignOptions { max_new_offers: 1 });
        let held: Vec<usize> = a.campaigns.iter().map(|o| o.chosen.len()).collect();
        // Campaign 2 keeps its previous pair; one new offer goes to campaign 0 (tie: lower index).
        assert_eq!(held, vec![1, 0, 1]);
    }
}
