// gcd(a, b) as a SQL scalar, as examples/udfs's: int64 values beyond 2^53
// arrive as BigInts, so the arithmetic is BigInt's throughout, and the
// result wraps to 64 bits as Rust's `as i64` does (gcd(i64::MIN, 0)).
//
//   ferry pickle --js examples/javascript/gcd.js --args int64,int64 --returns int64 -o gcd.closure
export default (a, b) => {
  a = BigInt(a);
  b = BigInt(b);
  if (a < 0n) a = -a;
  if (b < 0n) b = -b;
  while (b !== 0n) [a, b] = [b, a % b];
  return BigInt.asIntN(64, a);
};
