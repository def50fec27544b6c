// fill(spec, range) as a value function, as examples/guest's: a histogram
// of simulated masses for the events in [range.start, range.end). The spec
// is what the closure captures (`--env`), its first argument. The random
// numbers are splitmix64's, in BigInts for 64-bit arithmetic, so the events
// are the Rust guest's, and so are the bins.
//
//   ferry call --js examples/javascript/histogram.js --env '{"bins":30,"lo":60.0,"hi":120.0,"peak":91.2,"width":2.5,"seed":2026}' --input '{"start":0,"end":25000}'
const MASK = (1n << 64n) - 1n;

// A uniform number in [0, 1) from (seed, event, stream).
function unit(seed, event, stream) {
  let z = (BigInt(seed) + BigInt(event) * 0x9e3779b97f4a7c15n + BigInt(stream) * 0xd1b54a32d192ed03n) & MASK;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
  z ^= z >> 31n;
  return Number(z >> 11n) / 2 ** 53;
}

// One event: one part in five is signal (a Cauchy peak), the rest an
// exponentially falling background.
function simulateMass(spec, event) {
  const u = unit(spec.seed, event, 0);
  const v = unit(spec.seed, event, 1);
  if (u < 0.2) return spec.peak + spec.width * Math.tan(Math.PI * (v - 0.5));
  return spec.lo - (spec.hi - spec.lo) * 0.3 * Math.log(1 - v);
}

export default (spec, range) => {
  if (range.end < range.start) throw new Error(`empty range ${range.start}..${range.end}`);
  if (spec.bins === 0 || spec.hi <= spec.lo) {
    throw new Error(`bad histogram spec: ${spec.bins} bins over [${spec.lo}, ${spec.hi})`);
  }
  const histogram = { lo: spec.lo, hi: spec.hi, counts: new Array(spec.bins).fill(0), underflow: 0, overflow: 0 };
  for (let event = range.start; event < range.end; event++) {
    const position = ((simulateMass(spec, event) - spec.lo) / (spec.hi - spec.lo)) * spec.bins;
    if (position < 0) histogram.underflow += 1;
    else if (position >= spec.bins) histogram.overflow += 1;
    else histogram.counts[Math.floor(position)] += 1;
  }
  return histogram;
};
