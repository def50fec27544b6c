// The SQL functions of examples/udfs, written in AssemblyScript: gcd,
// normalize and div as scalars, geo_mean as an aggregate. Build with
//
//   ferry build examples/assemblyscript/udfs.ts
import * as ferry from "ferry";

// Greatest common divisor (Euclid), non-negative.
//ferry:scalar
export function gcd(a: i64, b: i64): i64 {
  let x = <u64>(a < 0 ? -a : a);
  let y = <u64>(b < 0 ? -b : b);
  while (y != 0) {
    const rest = x % y;
    x = y;
    y = rest;
  }
  return <i64>x;
}

// Lower case, single spaces, no leading or trailing space.
//ferry:scalar
export function normalize(text: string): string {
  const words = new Array<string>();
  let start = -1;
  for (let i = 0; i <= text.length; i++) {
    const space = i == text.length || isSpace(text.charCodeAt(i));
    if (space && start >= 0) {
      words.push(text.substring(start, i));
      start = -1;
    } else if (!space && start < 0) {
      start = i;
    }
  }
  return words.join(" ").toLowerCase();
}

function isSpace(c: i32): bool {
  return c == 0x20 || (c >= 0x09 && c <= 0x0d) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
    c == 0x3000;
}

// Integer division that panics on a zero divisor, as Rust's `/` does.
//ferry:scalar
export function div(a: i64, b: i64): i64 {
  if (b == 0) throw new Error("attempt to divide by zero");
  if (b == -1 && a == i64.MIN_VALUE) throw new Error("attempt to divide with overflow");
  return a / b;
}

// The geometric mean of the positive values, null when there are none; a
// value that is not positive is an error naming its row.
//ferry:aggregate name=geo_mean
@unmanaged
export class GeoMean {
  logSum: f64 = 0;
  count: u64 = 0;

  update(value: f64): void {
    if (value <= 0) {
      ferry.fail("geo_mean of " + ferry.formatFloat(value) + ": values must be positive");
      return;
    }
    this.logSum += Math.log(value);
    this.count++;
  }

  // Takes back a value update took, so that over a sliding window a row
  // leaving the frame costs one row, not the frame.
  retract(value: f64): void {
    this.logSum -= Math.log(value);
    this.count--;
  }

  merge(other: GeoMean): void {
    this.logSum += other.logSum;
    this.count += other.count;
  }

  finish(): f64 {
    if (this.count == 0) ferry.setNull();
    return Math.exp(this.logSum / <f64>this.count);
  }
}
