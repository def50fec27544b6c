//! The same Euclid as `ferry_example_udfs::gcd`, as an arrow-udf function.

use arrow_udf::function;

#[function("gcd(int64, int64) -> int64")]
fn gcd(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a as i64
}
