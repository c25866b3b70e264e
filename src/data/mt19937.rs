//! numpy's legacy `RandomState` (MT19937), bit for bit: the generator behind
//! scikit-learn's `random_state=int`. Porting it exactly is what lets
//! `make_classification(seed=0)` here produce scikit-learn's very data.

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

#[derive(Clone)]
pub struct RandomState {
    key: [u32; N],
    pos: usize,
    gauss: Option<f64>,
}

impl RandomState {
    /// `np.random.RandomState(seed)` for an integer seed (`mt19937_seed`).
    pub fn new(seed: u32) -> Self {
        let mut key = [0u32; N];
        let mut s = seed;
        for (pos, slot) in key.iter_mut().enumerate() {
            *slot = s;
            s = 1_812_433_253u32
                .wrapping_mul(s ^ (s >> 30))
                .wrapping_add(pos as u32 + 1);
        }
        RandomState {
            key,
            pos: N,
            gauss: None,
        }
    }

    fn generate(&mut self) {
        let mag = |y: u32| if y & 1 == 1 { MATRIX_A } else { 0 };
        for i in 0..N - M {
            let y = (self.key[i] & UPPER_MASK) | (self.key[i + 1] & LOWER_MASK);
            self.key[i] = self.key[i + M] ^ (y >> 1) ^ mag(y);
        }
        for i in N - M..N - 1 {
            let y = (self.key[i] & UPPER_MASK) | (self.key[i + 1] & LOWER_MASK);
            self.key[i] = self.key[i + M - N] ^ (y >> 1) ^ mag(y);
        }
        let y = (self.key[N - 1] & UPPER_MASK) | (self.key[0] & LOWER_MASK);
        self.key[N - 1] = self.key[M - 1] ^ (y >> 1) ^ mag(y);
        self.pos = 0;
    }

    pub fn next_u32(&mut self) -> u32 {
        if self.pos == N {
            self.generate();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `random_sample()`: 53-bit double in [0, 1).
    pub fn random_sample(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// `uniform(low, high)`.
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.random_sample()
    }

    /// `standard_normal()`: the legacy polar Box–Muller with a cached pair.
    pub fn standard_normal(&mut self) -> f64 {
        if let Some(g) = self.gauss.take() {
            return g;
        }
        loop {
            let x1 = 2.0 * self.random_sample() - 1.0;
            let x2 = 2.0 * self.random_sample() - 1.0;
            let r2 = x1 * x1 + x2 * x2;
            if r2 < 1.0 && r2 != 0.0 {
                let f = (-2.0 * r2.ln() / r2).sqrt();
                self.gauss = Some(f * x1);
                return f * x2;
            }
        }
    }

    /// `randint(n)` for `n <= 2^32`: masked rejection on 32-bit draws,
    /// as numpy's legacy bounded integers do.
    pub fn randint(&mut self, n: u64) -> u64 {
        assert!(n > 0 && n <= 1 << 32, "randint range out of bounds");
        let max = n - 1;
        if max == 0 {
            return 0;
        }
        if max == u32::MAX as u64 {
            return self.next_u32() as u64;
        }
        let mask = mask_for(max) as u32;
        loop {
            let v = self.next_u32() & mask;
            if v as u64 <= max {
                return v as u64;
            }
        }
    }

    /// `random_interval(max)`: the draw behind `shuffle`.
    fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mask = mask_for(max);
        if max <= u32::MAX as u64 {
            loop {
                let v = (self.next_u32() as u64) & mask;
                if v <= max {
                    return v;
                }
            }
        } else {
            loop {
                let hi = self.next_u32() as u64;
                let lo = self.next_u32() as u64;
                let v = ((hi << 32) | lo) & mask;
                if v <= max {
                    return v;
                }
            }
        }
    }

    /// `shuffle(x)` for a 1-d array: Fisher–Yates from the end.
    pub fn shuffle<T>(&mut self, x: &mut [T]) {
        for i in (1..x.len()).rev() {
            let j = self.interval(i as u64) as usize;
            x.swap(i, j);
        }
    }

    /// `permutation(n)`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        self.shuffle(&mut p);
        p
    }
}

fn mask_for(max: u64) -> u64 {
    let mut mask = max;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask |= mask >> 32;
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_outputs_match_the_reference_mt19937_for_seed_5489() {
        // Matsumoto & Nishimura's reference generator, init_genrand(5489).
        let mut rs = RandomState::new(5489);
        assert_eq!(rs.next_u32(), 3_499_211_612);
        assert_eq!(rs.next_u32(), 581_869_302);
        assert_eq!(rs.next_u32(), 3_890_346_734);
    }

    #[test]
    fn random_sample_matches_numpy_seed_0() {
        // np.random.RandomState(0).random_sample(2)
        let mut rs = RandomState::new(0);
        assert_eq!(rs.random_sample(), 0.548_813_503_927_324_8);
        assert_eq!(rs.random_sample(), 0.715_189_366_372_419_5);
    }

    #[test]
    fn standard_normal_matches_numpy_seed_0() {
        // np.random.RandomState(0).standard_normal(2)
        let mut rs = RandomState::new(0);
        assert!((rs.standard_normal() - 1.764_052_345_967_664).abs() < 1e-15);
        assert!((rs.standard_normal() - 0.400_157_208_367_223_3).abs() < 1e-15);
    }
}
