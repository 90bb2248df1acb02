//! Quantiles of the normal, gamma and Student t distributions, refined to full double
//! precision.
//!
//! statrs provides the special functions (inverse complementary error function, regularized
//! incomplete gamma functions, the t distribution); its quantile functions are used as
//! starting points only, and refined here by safeguarded Newton steps on the *smaller* tail,
//! so that a tail probability of 0.001 is met to relative precision rather than to absolute
//! precision of the CDF near 1.

use statrs::distribution::{Continuous, ContinuousCDF, StudentsT};
use statrs::function::erf::erfc_inv;
use statrs::function::gamma::{gamma_lr, gamma_ur, ln_gamma};

/// `z` with `P(Z > z) = tail`, for `tail` in (0, 1).
pub(crate) fn normal_upper_quantile(tail: f64) -> f64 {
    std::f64::consts::SQRT_2 * erfc_inv(2.0 * tail)
}

/// The gamma(shape `a`, scale 1) quantile with lower-tail probability `lower` and upper-tail
/// probability `upper` (`lower + upper = 1`; both are passed so that neither is computed as
/// `1 - p` with a loss of precision). `a > 0`, both tails in (0, 1).
pub(crate) fn gamma_quantile(a: f64, lower: f64, upper: f64) -> f64 {
    let use_lower = lower <= upper;
    let target = if use_lower { lower } else { upper };
    // Increasing in x; zero at the quantile.
    let f = |x: f64| -> f64 {
        if x <= 0.0 {
            -lower
        } else if use_lower {
            gamma_lr(a, x) - target
        } else {
            target - gamma_ur(a, x)
        }
    };
    let ln_ga = ln_gamma(a);
    let density = |x: f64| -> f64 { ((a - 1.0) * x.ln() - x - ln_ga).exp() };

    // Bracket [lo, hi] with f(lo) < 0 <= f(hi).
    let mut lo = 0.0_f64;
    let mut hi = a + 1.0;
    while f(hi) < 0.0 {
        lo = hi;
        hi *= 2.0;
    }
    // Wilson-Hilferty start, kept inside the bracket.
    let z = if use_lower {
        -normal_upper_quantile(lower)
    } else {
        normal_upper_quantile(upper)
    };
    let wh = a * (1.0 - 1.0 / (9.0 * a) + z / (3.0 * a.sqrt())).powi(3);
    let mut x = if wh.is_finite() && wh > lo && wh < hi {
        wh
    } else {
        0.5 * (lo + hi)
    };
    for _ in 0..300 {
        let fx = f(x);
        if fx == 0.0 {
            return x;
        }
        if fx < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        let d = density(x);
        let mut next = x - fx / d;
        if !(next.is_finite() && next > lo && next < hi) {
            next = 0.5 * (lo + hi);
        }
        if (next - x).abs() <= 2.0 * f64::EPSILON * x.abs() || hi - lo <= 2.0 * f64::EPSILON * hi {
            return next;
        }
        x = next;
    }
    x
}

/// `t` with `P(T_df > t) = tail` for `tail` in (0, 0.5].
pub(crate) fn t_upper_quantile(df: f64, tail: f64) -> f64 {
    if df > 1e5 {
        // The beta-function route of the t CDF converges slowly for huge degrees of freedom;
        // the Cornish-Fisher expansion around the normal quantile (Abramowitz & Stegun
        // 26.7.5) is exact to double precision there (the first omitted term is O(df^-5)).
        let z = normal_upper_quantile(tail);
        let z2 = z * z;
        let g1 = (z2 + 1.0) * z / 4.0;
        let g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0;
        let g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0;
        let g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0;
        return z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df;
    }
    let dist = StudentsT::new(0.0, 1.0, df).expect("degrees of freedom are positive");
    // Solve on the lower tail, where the CDF is computed directly (not as 1 - something).
    let mut x = dist.inverse_cdf(tail);
    if !(x.is_finite() && x < 0.0) {
        x = -1.0;
    }
    // Bracket for safety.
    let mut lo = x;
    while dist.cdf(lo) > tail {
        lo *= 2.0;
    }
    let mut hi = 0.0_f64;
    if x < lo || x > hi {
        x = 0.5 * (lo + hi);
    }
    for _ in 0..200 {
        let fx = dist.cdf(x) - tail;
        if fx == 0.0 {
            break;
        }
        if fx < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        let mut next = x - fx / dist.pdf(x);
        if !(next.is_finite() && next > lo && next < hi) {
            next = 0.5 * (lo + hi);
        }
        let done = (next - x).abs() <= 2.0 * f64::EPSILON * x.abs();
        x = next;
        if done || hi - lo <= 2.0 * f64::EPSILON * hi.abs().max(lo.abs()) {
            break;
        }
    }
    -x
}

/// The `a > 0` at which `increasing(a)` crosses zero, by bisection to full precision.
/// `increasing` must be increasing in `a`, negative near 0 and positive for large `a`.
pub(crate) fn solve_shape(increasing: impl Fn(f64) -> f64, start: f64) -> f64 {
    let mut lo = 0.0_f64;
    let mut hi = start.max(1.0);
    while increasing(hi) < 0.0 {
        lo = hi;
        hi *= 2.0;
    }
    for _ in 0..2000 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        let v = increasing(mid);
        if v == 0.0 {
            return mid;
        }
        if v < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// `P(X <= k | mean)` for a Poisson variable, extended to real `k >= 0` through the
/// regularized upper incomplete gamma function `Q(k + 1, mean)`.
pub(crate) fn poisson_cdf_continuous(k: f64, mean: f64) -> f64 {
    if mean <= 0.0 {
        return 1.0;
    }
    gamma_ur(k + 1.0, mean)
}

/// `P(X >= k | mean)` for a Poisson variable, extended to real `k > 0` through the
/// regularized lower incomplete gamma function `P(k, mean)`.
pub(crate) fn poisson_sf_continuous(k: f64, mean: f64) -> f64 {
    if k <= 0.0 {
        return 1.0;
    }
    if mean <= 0.0 {
        return 0.0;
    }
    gamma_lr(k, mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles() {
        assert!((normal_upper_quantile(0.025) - 1.959963984540054).abs() < 2e-15);
        assert!((normal_upper_quantile(0.001) - 3.090232306167813).abs() < 4e-15);
    }

    #[test]
    fn gamma_quantiles_meet_their_tails() {
        for &a in &[0.3, 1.0, 2.0, 5.5, 10.0, 1e3, 1e6] {
            for &p in &[1e-6, 0.001, 0.025, 0.5, 0.975, 0.999] {
                let q = 1.0 - p;
                let x = gamma_quantile(a, p, q);
                let got = if p <= q {
                    gamma_lr(a, x)
                } else {
                    gamma_ur(a, x)
                };
                let want = if p <= q { p } else { q };
                // The incomplete gamma functions lose digits for very large shapes (where
                // intervals use Byar's approximation anyway).
                let tol = if a <= 1e3 { 1e-12 } else { 1e-8 };
                assert!(
                    ((got - want) / want).abs() < tol,
                    "a={a} p={p}: {got} vs {want}"
                );
            }
        }
        // Exponential: P(1, x) = 1 - exp(-x).
        let x = gamma_quantile(1.0, 0.025, 0.975);
        assert!((x - (-(0.975f64).ln())).abs() < 1e-16);
    }

    #[test]
    fn t_quantiles() {
        // qt(0.975, 7) and qt(0.999, 25) from published tables (R).
        assert!((t_upper_quantile(7.0, 0.025) - 2.364624251592785).abs() < 1e-13);
        let t = t_upper_quantile(25.0, 0.001);
        let dist = StudentsT::new(0.0, 1.0, 25.0).unwrap();
        assert!((dist.cdf(-t) - 0.001).abs() < 1e-17);
        assert!((t_upper_quantile(1.0, 0.025) - 12.70620473617471).abs() < 1e-11);
        // The expansion for huge df joins the exact route smoothly.
        for tail in [0.025, 0.001] {
            let a = t_upper_quantile(1e5, tail);
            let b = t_upper_quantile(1e5 + 1.0, tail);
            assert!(a > b && (a - b) / a < 1e-9, "{a} {b}");
        }
    }
}
