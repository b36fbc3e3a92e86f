//! The planned fee: what the engine proposes to pay a creator for one post.
//!
//! Rule (README, "Planned fee"): the creator's `rate_usd` when known;
//! otherwise the median fee of their past sponsored posts; otherwise their
//! size band's median rate per follower times their followers (at least
//! [`MIN_ESTIMATE_USD`]). An estimate is never below the creator's floor
//! (`min_fee_usd`): we would not offer less than they accept. A rate card
//! below the floor is kept as is, and the hard rules then exclude the
//! creator (their data contradicts itself). Invariant: fees are whole cents.

use crate::schema::fee_source;
use crate::vector::{size_band, SIZE_BANDS};

pub const MIN_ESTIMATE_USD: f64 = 10.0;
/// Used for a size band with fewer than 20 rate cards.
pub const DEFAULT_FEE_PER_FOLLOWER: f64 = 0.01;

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[v.len() / 2])
}

/// Median rate card per follower for each size band.
pub fn fee_per_follower_by_band(followers: &[u64], rate: &[Option<f64>]) -> [f64; SIZE_BANDS] {
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); SIZE_BANDS];
    for (f, r) in followers.iter().zip(rate) {
        if let (Some(r), true) = (r, *f > 0) {
            per[size_band(*f)].push(r / *f as f64);
        }
    }
    let mut out = [DEFAULT_FEE_PER_FOLLOWER; SIZE_BANDS];
    for (b, v) in per.into_iter().enumerate() {
        if v.len() >= 20 {
            if let Some(m) = median(v) {
                out[b] = m;
            }
        }
    }
    out
}

fn cents_up(x: f64) -> f64 {
    cents_at_least(x) as f64 / 100.0
}

/// Tolerance, in cents, for the binary error of `usd * 100` (a decimal
/// amount such as 1024.09 is not exact in binary: 1024.09 * 100 is
/// 102408.99999999999): a millionth of a cent, plus a few units in the
/// last place of the amount itself (the error grows with the amount).
/// Far below a cent at any amount up to trillions of dollars.
fn cent_slack(cents: f64) -> f64 {
    1e-6 + cents.abs() * 8.0 * f64::EPSILON
}

/// The fewest whole cents that are at least `usd` dollars: a lower bound
/// in dollars (a fee range's minimum, a creator's floor) as a lower bound
/// in cents, with no fee below it passing.
pub fn cents_at_least(usd: f64) -> u64 {
    let c = usd * 100.0;
    (c - cent_slack(c)).ceil().max(0.0) as u64
}

/// The most whole cents that are at most `usd` dollars: an upper bound in
/// dollars (a budget, a fee range's maximum) as one in cents, with no fee
/// or total above it passing, and an amount equal to it (1024.09 against
/// 1024.09) not refused.
pub fn cents_at_most(usd: f64) -> u64 {
    let c = usd * 100.0;
    (c + cent_slack(c)).floor().max(0.0) as u64
}

/// Plans every creator's fee; returns (fee, source) per creator.
pub fn plan_fees(
    followers: &[u64],
    rate: &[Option<f64>],
    min_fee: &[Option<f64>],
    history_median_fee: &[Option<f64>],
) -> (Vec<f64>, Vec<u8>) {
    let band = fee_per_follower_by_band(followers, rate);
    let n = followers.len();
    let mut fees = Vec::with_capacity(n);
    let mut sources = Vec::with_capacity(n);
    for i in 0..n {
        let floor = min_fee[i].unwrap_or(0.0);
        let (fee, src) = match (rate[i], history_median_fee[i]) {
            // The rate card to the nearest cent, but never a cent below a
            // floor the card itself meets (a card of 10.004 with a floor
            // of 10.004 is offered 10.01, not 10.00, which the floor rule
            // would refuse).
            (Some(r), _) => {
                let mut cents = (r * 100.0).round();
                if let Some(m) = min_fee[i].filter(|&m| r >= m) {
                    cents = cents.max(cents_at_least(m) as f64);
                }
                (cents / 100.0, fee_source::RATE_CARD)
            }
            (None, Some(h)) if h > 0.0 => (cents_up(h.max(floor)), fee_source::HISTORY),
            _ => {
                let est =
                    (band[size_band(followers[i])] * followers[i] as f64).max(MIN_ESTIMATE_USD);
                (cents_up(est.max(floor)), fee_source::SIZE_BAND)
            }
        };
        fees.push(fee);
        sources.push(src);
    }
    (fees, sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_then_history_then_band_and_never_below_floor_for_estimates() {
        let followers = vec![5_000u64; 25];
        let mut rate: Vec<Option<f64>> = vec![Some(50.0); 25];
        rate[0] = None;
        rate[1] = None;
        rate[2] = Some(20.0);
        let mut min_fee = vec![None; 25];
        min_fee[1] = Some(99.999);
        min_fee[2] = Some(30.0);
        let mut hist = vec![None; 25];
        hist[0] = Some(41.5);
        let (f, s) = plan_fees(&followers, &rate, &min_fee, &hist);
        assert_eq!((f[0], s[0]), (41.5, fee_source::HISTORY));
        // Band estimate is 5000 * 0.01 = 50, lifted to the floor, in cents.
        assert_eq!((f[1], s[1]), (100.0, fee_source::SIZE_BAND));
        // A rate card below the floor stays: the hard rules exclude it.
        assert_eq!((f[2], s[2]), (20.0, fee_source::RATE_CARD));
        // A card that meets its floor is never rounded below it.
        let (f, _) = plan_fees(&[5_000], &[Some(10.004)], &[Some(10.004)], &[None]);
        assert_eq!(f[0], 10.01);
    }

    #[test]
    fn dollar_bounds_become_cent_bounds_that_keep_their_side() {
        // Amounts whose x100 is not exact in binary keep their cent.
        assert_eq!(1024.09f64 * 100.0, 102408.99999999999);
        assert_eq!(cents_at_most(1024.09), 102409);
        assert_eq!(cents_at_least(1024.09), 102409);
        // Between two cents: the lower bound rounds up, the upper down.
        assert_eq!(cents_at_least(150.004), 15001);
        assert_eq!(cents_at_most(100.009), 10000);
        assert_eq!(cents_at_least(0.0), 0);
        assert_eq!(cents_at_most(0.0), 0);
        for c in 0..200_000u64 {
            let usd = c as f64 / 100.0;
            assert_eq!((cents_at_least(usd), cents_at_most(usd)), (c, c), "{usd}");
        }
        // Large amounts: the error of usd x 100 grows with them.
        assert_eq!(cents_at_least(336_206_781.47), 33_620_678_147);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let c = x % 100_000_000_000_000; // up to a trillion dollars
            let usd: f64 = format!("{}.{:02}", c / 100, c % 100).parse().unwrap();
            assert_eq!((cents_at_least(usd), cents_at_most(usd)), (c, c), "{usd}");
        }
    }
}
