//! Deterministic randomness for the generator: SplitMix64 seeding, xoshiro256** streams, distributions.
//!
//! Invariant: a stream's output depends only on `(seed, tag, index)` and is
//! bit-identical on every platform and toolchain: the generator itself is
//! written here, and the transcendental helpers (`ln`, `exp`) use only
//! IEEE-754 correctly rounded operations (`+ - * /`, `sqrt`, exact rounding),
//! never the platform's libm.

/// One step of SplitMix64: advances `state` and returns a well-mixed word.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    mix64(*state)
}

/// The SplitMix64 finaliser: a bijective avalanche of one word.
pub fn mix64(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A xoshiro256** generator.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Seeds the four state words from SplitMix64 started at `seed`.
    pub fn from_seed(seed: u64) -> Rng {
        let mut sm = seed;
        let mut s = [0u64; 4];
        for w in &mut s {
            *w = splitmix64(&mut sm);
        }
        if s == [0; 4] {
            s[0] = 1;
        }
        Rng { s }
    }

    /// An independent stream for item `index` of the purpose `tag` under the
    /// world seed `seed`; independent of any other stream's consumption.
    pub fn stream(seed: u64, tag: u64, index: u64) -> Rng {
        let a = mix64(seed ^ mix64(tag.wrapping_add(0x6A09_E667_F3BC_C908)));
        let b = mix64(a ^ mix64(index.wrapping_add(0xBB67_AE85_84CA_A73B)));
        Rng::from_seed(b)
    }

    pub fn next_u64(&mut self) -> u64 {
        let out = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        out
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in [0, n); `n` must be > 0.
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Uniform integer in [lo, hi] (inclusive).
    pub fn int_in(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(hi >= lo);
        lo + self.below((hi - lo + 1) as usize) as i64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Standard normal (Marsaglia's polar form of Box-Muller: needs no trig).
    pub fn normal(&mut self) -> f64 {
        loop {
            let u = 2.0 * self.uniform() - 1.0;
            let v = 2.0 * self.uniform() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                return u * (-2.0 * ln(s) / s).sqrt();
            }
        }
    }

    /// exp(N(mu, sigma²)).
    pub fn lognormal(&mut self, mu: f64, sigma: f64) -> f64 {
        exp(mu + sigma * self.normal())
    }

    /// Log-uniform in [lo, hi); both > 0.
    pub fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        exp(self.range(ln(lo), ln(hi)))
    }

    /// Index drawn with probability proportional to `weights` (non-negative,
    /// not all zero).
    pub fn categorical(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.uniform() * total;
        for (i, &w) in weights.iter().enumerate() {
            if x < w {
                return i;
            }
            x -= w;
        }
        // Rounding residue: the last item with positive weight.
        weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
    }

    /// A uniformly chosen element; `items` must be non-empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// `k` distinct indices of `0..n` (k ≤ n), in draw order.
    pub fn distinct(&mut self, k: usize, n: usize) -> Vec<usize> {
        let k = k.min(n);
        let mut out: Vec<usize> = Vec::with_capacity(k);
        while out.len() < k {
            let i = self.below(n);
            if !out.contains(&i) {
                out.push(i);
            }
        }
        out
    }
}

/// 2^k as an f64, for k in [-1022, 1023].
fn pow2i(k: i64) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// Natural logarithm from basic operations only (x > 0, finite).
pub fn ln(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return x;
    }
    let (mut x, mut e) = (x, 0i64);
    if x < f64::MIN_POSITIVE {
        x *= pow2i(54);
        e -= 54;
    }
    let bits = x.to_bits();
    e += ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    // ln(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut acc = 0.0;
    for k in (0..14).rev() {
        acc = acc * s2 + 1.0 / (2 * k + 1) as f64;
    }
    2.0 * s * acc + e as f64 * std::f64::consts::LN_2
}

/// Exponential from basic operations only.
pub fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 709.0 {
        return f64::INFINITY;
    }
    if x < -708.0 {
        return 0.0;
    }
    // x = k ln2 + r, |r| <= ln2 / 2.
    let k = (x * std::f64::consts::LOG2_E).round();
    let r = x - k * std::f64::consts::LN_2;
    let mut acc = 1.0;
    for n in (1..=20).rev() {
        acc = 1.0 + acc * r / n as f64;
    }
    acc * pow2i(k as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_exp_are_accurate() {
        for &x in &[
            1e-300, 1e-20, 0.001, 0.3, 0.5, 1.0, 1.5, 2.0, 10.0, 12345.678, 1e200,
        ] {
            let got = ln(x);
            let want = x.ln();
            assert!((got - want).abs() <= 1e-13 * want.abs().max(1.0), "ln {x}");
        }
        for &x in &[-700.0, -20.0, -1.0, -0.1, 0.0, 0.25, 1.0, 3.3, 50.0, 700.0] {
            let got = exp(x);
            let want = x.exp();
            assert!(
                (got - want).abs() <= 1e-13 * want,
                "exp {x}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn streams_are_independent_and_stable() {
        let mut a = Rng::stream(42, 1, 7);
        let mut b = Rng::stream(42, 1, 7);
        let mut c = Rng::stream(42, 1, 8);
        let xa: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let xb: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let xc: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }

    #[test]
    fn normal_has_unit_moments() {
        let mut r = Rng::from_seed(3);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.02, "{var}");
    }

    #[test]
    fn categorical_follows_weights() {
        let mut r = Rng::from_seed(9);
        let w = [1.0, 0.0, 3.0];
        let mut counts = [0usize; 3];
        for _ in 0..40_000 {
            counts[r.categorical(&w)] += 1;
        }
        assert_eq!(counts[1], 0);
        let share = counts[2] as f64 / 40_000.0;
        assert!((share - 0.75).abs() < 0.02, "{share}");
    }
}
