//! `gcd` and `add` of `examples/udfs`, as arrow-udf functions.

use arrow_udf::function;

#[function("gcd(int64, int64) -> int64")]
fn gcd(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a as i64
}

/// The same `add` as `ferry_example_udfs::add`.
#[function("add(int64, int64) -> int64")]
fn add(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}
