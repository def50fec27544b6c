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

/// Day of the week, 0 for Sunday to 6 for Saturday, as SQL's
/// `date_part('dow', d)`.
#[ferry::udf]
pub fn weekday(day: ferry::batch::Date32) -> i32 {
    // 1970-01-01 was a Thursday.
    (day.0 + 4).rem_euclid(7)
}

/// Hour of the day of a timestamp, as SQL's `date_part('hour', t)`.
#[ferry::udf]
pub fn hour(time: ferry::batch::TimestampMicros) -> i32 {
    (time.0.div_euclid(3_600_000_000)).rem_euclid(24) as i32
}

/// A histogram aggregate: how many values fall in each bucket of `width`
/// (bound as the environment; 10 when none is), as JSON text mapping each
/// bucket's lower bound to its count. `histogram(x)` equals
/// `SELECT floor(x / 10) * 10, count(x) ... GROUP BY 1`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Histogram {
    width: f64,
    counts: std::collections::BTreeMap<i64, u64>,
}

#[ferry::udaf]
impl Histogram {
    fn init(env: Option<f64>) -> Self {
        Histogram {
            width: env.unwrap_or(10.0),
            counts: Default::default(),
        }
    }

    fn update(&mut self, value: f64) {
        *self
            .counts
            .entry((value / self.width).floor() as i64)
            .or_default() += 1;
    }

    fn merge(&mut self, other: Self) {
        for (bucket, count) in other.counts {
            *self.counts.entry(bucket).or_default() += count;
        }
    }

    fn finish(self) -> String {
        let buckets: Vec<String> = self
            .counts
            .iter()
            .map(|(bucket, count)| format!("\"{}\":{count}", *bucket as f64 * self.width))
            .collect();
        format!("{{{}}}", buckets.join(","))
    }
}

/// The geometric mean of the positive values, null when there are none;
/// a non-positive value is an error naming its row.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct GeoMean {
    log_sum: f64,
    count: u64,
}

#[ferry::udaf]
impl GeoMean {
    fn init() -> Self {
        GeoMean {
            log_sum: 0.0,
            count: 0,
        }
    }

    fn update(&mut self, value: f64) -> Result<(), String> {
        if value <= 0.0 {
            return Err(format!("geo_mean of {value}: values must be positive"));
        }
        self.log_sum += value.ln();
        self.count += 1;
        Ok(())
    }

    /// Takes back a value `update` took, so that over a sliding window a
    /// row leaving the frame costs one row, not the frame.
    fn retract(&mut self, value: f64) {
        self.log_sum -= value.ln();
        self.count -= 1;
    }

    fn merge(&mut self, other: Self) {
        self.log_sum += other.log_sum;
        self.count += other.count;
    }

    fn finish(self) -> Option<f64> {
        (self.count > 0).then(|| (self.log_sum / self.count as f64).exp())
    }
}

/// Line `key` of the closure's blob `labels` (0 is the first), or null:
/// a lookup table that travels with the function, as bytes or as a
/// reference to an object. Read once per batch: each call is a fresh
/// instance, so the table is parsed again for the next batch, not the next
/// row.
#[ferry::udf]
pub fn label(key: i64) -> Option<String> {
    static LABELS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let labels = LABELS.get_or_init(|| {
        let bytes = ferry::blob("labels").unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    });
    usize::try_from(key)
        .ok()
        .and_then(|key| labels.get(key))
        .cloned()
}

/// Integer division that panics on a zero divisor: a guest trap, for
/// showing that a query fails cleanly and the session carries on.
#[ferry::udf]
pub fn div(a: i64, b: i64) -> i64 {
    a / b
}
