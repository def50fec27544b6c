//! Example SQL functions. Each is an ordinary row function; `#[ferry::udf]`
//! turns it into a vectorized function that takes whole columns, one call per
//! batch. Build with `ferry build examples/udfs`.
//!
//! They are plain functions natively too, which is how the tests compare the
//! wasm results with the native ones.

/// `a + b`, wrapping like SQL engines' 64-bit arithmetic does not: kept
/// simple for the benchmark against the native `+`.
#[ferry::udf]
pub fn add(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

/// Greatest common divisor (Euclid), non-negative.
#[ferry::udf]
pub fn gcd(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a as i64
}

/// Great-circle distance in kilometres between two points given in degrees.
#[ferry::udf]
pub fn haversine(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6371.0088;
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let dphi = (lat2 - lat1).to_radians();
    let dlambda = (lon2 - lon1).to_radians();
    let h = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().asin()
}

/// Lower case, single spaces, no leading or trailing space.
#[ferry::udf]
pub fn normalize(text: &str) -> String {
    text.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Takes nulls itself: the sum of whichever values are there.
#[ferry::udf]
pub fn sum_present(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).wrapping_add(b.unwrap_or(0))),
    }
}

/// Fails on division by zero, naming the row.
#[ferry::udf]
pub fn checked_div(a: i64, b: i64) -> Result<i64, String> {
    a.checked_div(b)
        .ok_or_else(|| format!("cannot divide {a} by {b}"))
}

/// Multiplies by the factor bound when the function is registered.
#[ferry::udf]
pub fn scale(env: f64, x: f64) -> f64 {
    env * x
}

#[ferry::udf]
pub fn is_even(n: i32) -> bool {
    n % 2 == 0
}

#[ferry::udf]
pub fn byte_length(bytes: &[u8]) -> u32 {
    bytes.len() as u32
}
