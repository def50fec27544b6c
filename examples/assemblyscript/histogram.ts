// The histogram map-reduce of examples/guest, written in AssemblyScript:
// `fill` simulates a range of events and histograms their invariant mass,
// with the histogram's spec captured in the closure; `merge` adds two
// histograms. The values are the Rust guest's, field for field, so either
// language's closures read the other's results. Build with
//
//   ferry build examples/assemblyscript/histogram.ts
import * as ferry from "ferry";

// Structs travel as maps keyed by field name: fields this code does not
// know are skipped, missing ones stay 0.
export class HistSpec {
  bins: u32 = 0;
  lo: f64 = 0;
  hi: f64 = 0;
  // Mass of the simulated resonance on top of the falling background.
  peak: f64 = 0;
  width: f64 = 0;
  seed: u64 = 0;

  static read(r: ferry.Reader): HistSpec {
    const spec = new HistSpec();
    const fields = r.readMap();
    for (let i: u32 = 0; i < fields && r.ok; i++) {
      const key = r.readString();
      if (key == "bins") spec.bins = <u32>r.readU64();
      else if (key == "lo") spec.lo = r.readF64();
      else if (key == "hi") spec.hi = r.readF64();
      else if (key == "peak") spec.peak = r.readF64();
      else if (key == "width") spec.width = r.readF64();
      else if (key == "seed") spec.seed = r.readU64();
      else r.skip();
    }
    return spec;
  }
}

// A half-open range of event numbers: one task's share of the data.
export class Range {
  start: u64 = 0;
  end: u64 = 0;

  static read(r: ferry.Reader): Range {
    const range = new Range();
    const fields = r.readMap();
    for (let i: u32 = 0; i < fields && r.ok; i++) {
      const key = r.readString();
      if (key == "start") range.start = r.readU64();
      else if (key == "end") range.end = r.readU64();
      else r.skip();
    }
    return range;
  }
}

export class Histogram {
  lo: f64 = 0;
  hi: f64 = 0;
  counts: u64[] = [];
  underflow: u64 = 0;
  overflow: u64 = 0;

  static read(r: ferry.Reader): Histogram {
    const h = new Histogram();
    const fields = r.readMap();
    for (let i: u32 = 0; i < fields && r.ok; i++) {
      const key = r.readString();
      if (key == "lo") h.lo = r.readF64();
      else if (key == "hi") h.hi = r.readF64();
      else if (key == "underflow") h.underflow = r.readU64();
      else if (key == "overflow") h.overflow = r.readU64();
      else if (key == "counts") {
        const n = r.readArray();
        for (let j: u32 = 0; j < n && r.ok; j++) h.counts.push(r.readU64());
      } else r.skip();
    }
    return h;
  }

  write(w: ferry.Writer): void {
    w.writeMap(5);
    w.writeString("lo");
    w.writeF64(this.lo);
    w.writeString("hi");
    w.writeF64(this.hi);
    w.writeString("counts");
    w.writeArray(this.counts.length);
    for (let i = 0; i < this.counts.length; i++) w.writeU64(this.counts[i]);
    w.writeString("underflow");
    w.writeU64(this.underflow);
    w.writeString("overflow");
    w.writeU64(this.overflow);
  }

  add(x: f64): void {
    const bins = <f64>this.counts.length;
    const position = ((x - this.lo) / (this.hi - this.lo)) * bins;
    if (isNaN(position)) this.counts[0]++;
    else if (position < 0) this.underflow++;
    else if (position >= bins) this.overflow++;
    else this.counts[<i32>position]++;
  }
}

// Simulates events range.start..range.end and histograms their invariant
// mass. Each event depends only on the seed and its number, so any split of
// the events over tasks gives the same merged histogram.
//ferry:function env
export function fill(spec: HistSpec, range: Range): Histogram {
  const h = new Histogram();
  if (range.end < range.start) {
    ferry.fail("empty range " + range.start.toString() + ".." + range.end.toString());
    return h;
  }
  if (spec.bins == 0 || spec.hi <= spec.lo) {
    ferry.fail("bad histogram spec: " + spec.bins.toString() + " bins over [" +
      ferry.formatFloat(spec.lo) + ", " + ferry.formatFloat(spec.hi) + ")");
    return h;
  }
  h.lo = spec.lo;
  h.hi = spec.hi;
  for (let i: u32 = 0; i < spec.bins; i++) h.counts.push(0);
  for (let event = range.start; event < range.end; event++) h.add(simulateMass(spec, event));
  return h;
}

// Adds two histograms with the same binning: associative and commutative,
// so partial results merge in any order.
//ferry:function
export function merge(a: Histogram, b: Histogram): Histogram {
  if (a.counts.length != b.counts.length || a.lo != b.lo || a.hi != b.hi) {
    ferry.fail("cannot merge histograms with different binning");
    return a;
  }
  for (let i = 0; i < a.counts.length; i++) a.counts[i] += b.counts[i];
  a.underflow += b.underflow;
  a.overflow += b.overflow;
  return a;
}

// One event: one part in five is signal (a Cauchy peak), the rest an
// exponentially falling background.
function simulateMass(spec: HistSpec, event: u64): f64 {
  const u = unit(spec.seed, event, 0);
  const v = unit(spec.seed, event, 1);
  if (u < 0.2) return spec.peak + spec.width * Math.tan(Math.PI * (v - 0.5));
  return spec.lo - (spec.hi - spec.lo) * 0.3 * Math.log(1.0 - v);
}

// A uniform number in [0, 1) from (seed, event, stream): splitmix64.
function unit(seed: u64, event: u64, stream: u64): f64 {
  let z = seed + event * 0x9e3779b97f4a7c15 + stream * 0xd1b54a32d192ed03;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  z ^= z >> 31;
  return <f64>(z >> 11) / <f64>(<u64>1 << 53);
}
