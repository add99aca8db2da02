//! Exact rational numbers for frame rates and time bases.
//!
//! Why not `f64`: NTSC rates such as 30000/1001 are not representable in
//! binary floating point, and the encoder must be told the *exact* rate so the
//! re-encoded video's timestamps match the source's and stay in sync with the
//! copied audio over hours of video.

use std::fmt;

/// A fraction `num/den` as FFmpeg prints it ("30000/1001", "1/90000").
///
/// FFmpeg uses `0/0` for "unknown"; [`Rational::is_valid`] tells those apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Rational {
    /// Numerator.
    pub num: i64,
    /// Denominator.
    pub den: i64,
}

impl Rational {
    /// A fraction reduced to lowest terms with a positive denominator
    /// (`0/0` stays `0/0`).
    pub fn new(num: i64, den: i64) -> Self {
        if den == 0 {
            return Rational { num, den };
        }
        let g = gcd(num.unsigned_abs(), den.unsigned_abs()).max(1) as i64;
        let sign = if den < 0 { -1 } else { 1 };
        Rational {
            num: sign * num / g,
            den: sign * den / g,
        }
    }

    /// Parses FFmpeg's notation: `"30000/1001"`, `"25"`, `"0/0"`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        match text.split_once(['/', ':']) {
            Some((n, d)) => Some(Rational::new(n.trim().parse().ok()?, d.trim().parse().ok()?)),
            None => Some(Rational::new(text.parse().ok()?, 1)),
        }
    }

    /// Whether this is a usable positive value (not FFmpeg's `0/0` "unknown").
    pub fn is_valid(&self) -> bool {
        self.num > 0 && self.den > 0
    }

    /// The value as a float (for display and tolerances only).
    pub fn as_f64(&self) -> f64 {
        if self.den == 0 {
            0.0
        } else {
            self.num as f64 / self.den as f64
        }
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::Rational;

    #[test]
    fn parses_and_reduces() {
        assert_eq!(
            Rational::parse("30000/1001"),
            Some(Rational {
                num: 30000,
                den: 1001
            })
        );
        assert_eq!(Rational::parse("50/2"), Some(Rational { num: 25, den: 1 }));
        assert_eq!(Rational::parse("25"), Some(Rational { num: 25, den: 1 }));
        assert_eq!(Rational::parse("1:1"), Some(Rational { num: 1, den: 1 }));
        let unknown = Rational::parse("0/0").unwrap();
        assert!(!unknown.is_valid());
        assert_eq!(Rational::parse("abc"), None);
        assert_eq!(Rational::new(3, -6), Rational { num: -1, den: 2 });
    }
}
