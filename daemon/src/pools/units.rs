//! Exact amounts of a pool's unit (calls, magicube, …) in thousandths, so a 0.5 cost adds up to
//! exactly 1 after two calls and "has room" never depends on floating-point rounding.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An amount in thousandths of a unit. Settings may write at most three decimals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Units(u64);

impl Units {
    pub const ZERO: Units = Units(0);
    pub const ONE: Units = Units(1000);

    pub const fn whole(n: u64) -> Units {
        Units(n * 1000)
    }

    pub const fn from_milli(milli: u64) -> Units {
        Units(milli)
    }

    pub const fn milli(self) -> u64 {
        self.0
    }

    /// `self` taken `calls` times.
    pub fn times(self, calls: u32) -> Units {
        Units(self.0.saturating_mul(u64::from(calls)))
    }

    pub fn saturating_sub(self, other: Units) -> Units {
        Units(self.0.saturating_sub(other.0))
    }

    pub fn saturating_add(self, other: Units) -> Units {
        Units(self.0.saturating_add(other.0))
    }

    /// A number from a settings file: not negative, at most three decimals.
    pub fn from_number(x: f64) -> Result<Units, String> {
        let milli = x * 1000.0;
        if !x.is_finite() || x < 0.0 || milli > u64::MAX as f64 {
            return Err(format!(
                "expected a number of units of 0 or more, found {x}"
            ));
        }
        if (milli - milli.round()).abs() > 1e-6 {
            return Err(format!("{x} has more than three decimals"));
        }
        Ok(Units(milli.round() as u64))
    }

    fn is_whole(self) -> bool {
        self.0.is_multiple_of(1000)
    }
}

impl fmt::Display for Units {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (int, frac) = (self.0 / 1000, self.0 % 1000);
        if frac == 0 {
            write!(f, "{int}")
        } else {
            let frac = format!("{frac:03}");
            write!(f, "{int}.{}", frac.trim_end_matches('0'))
        }
    }
}

/// Whole amounts as integers, others as decimals: `250`, `0.5`.
impl Serialize for Units {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        if self.is_whole() {
            ser.serialize_u64(self.0 / 1000)
        } else {
            ser.serialize_f64(self.0 as f64 / 1000.0)
        }
    }
}

impl<'de> Deserialize<'de> for Units {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let x = f64::deserialize(de).map_err(|_| {
            serde::de::Error::custom("expected a number of units, such as 1 or 0.5")
        })?;
        Units::from_number(x).map_err(serde::de::Error::custom)
    }
}

/// A pool's capacity per period: an amount, or `"unknown"` (only evidence spends the pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    Units(Units),
    Unknown,
}

impl Capacity {
    pub fn known(self) -> Option<Units> {
        match self {
            Capacity::Units(u) => Some(u),
            Capacity::Unknown => None,
        }
    }
}

impl<'de> Deserialize<'de> for Capacity {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Word(String),
        }
        let expected = "expected a number of units or \"unknown\"";
        match Raw::deserialize(de).map_err(|_| serde::de::Error::custom(expected))? {
            Raw::Number(x) => Units::from_number(x)
                .map(Capacity::Units)
                .map_err(serde::de::Error::custom),
            Raw::Word(w) if w == "unknown" => Ok(Capacity::Unknown),
            Raw::Word(w) => Err(serde::de::Error::custom(format!("{expected}, found {w:?}"))),
        }
    }
}
