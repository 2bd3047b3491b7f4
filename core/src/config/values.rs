//! Validated value types for the config schema. Each one fails with a message that says what
//! was expected, and `serde_path_to_error` prefixes it with the field path.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

/// An integer > 0 (timeouts, sizes, counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct PositiveInt(pub u64);

impl<'de> Deserialize<'de> for PositiveInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => match n.as_u64() {
                Some(v) if v > 0 => Ok(PositiveInt(v)),
                _ => Err(D::Error::custom("expected a positive integer")),
            },
            _ => Err(D::Error::custom("expected a positive integer")),
        }
    }
}

impl PositiveInt {
    pub fn get(self) -> u64 {
        self.0
    }
}

/// A number in [0, 1] (failure-rate thresholds, budgets as fractions).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Ratio(pub f64);

impl<'de> Deserialize<'de> for Ratio {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)?.as_f64() {
            Some(v) if (0.0..=1.0).contains(&v) => Ok(Ratio(v)),
            _ => Err(D::Error::custom("expected a number between 0 and 1")),
        }
    }
}

/// A non-negative amount of money or weight.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct NonNegative(pub f64);

impl<'de> Deserialize<'de> for NonNegative {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)?.as_f64() {
            Some(v) if v >= 0.0 && v.is_finite() => Ok(NonNegative(v)),
            _ => Err(D::Error::custom("expected a non-negative number")),
        }
    }
}

/// A URL with an http or https scheme.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct HttpUrl(pub String);

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s)
                if (s.starts_with("http://") || s.starts_with("https://")) && s.len() > 8 =>
            {
                Ok(HttpUrl(s))
            }
            _ => Err(D::Error::custom("expected an http:// or https:// URL")),
        }
    }
}
