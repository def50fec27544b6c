// merge(a, b) as a value function, as examples/guest's: adds two
// histograms with the same binning.
//
//   ferry call --js examples/javascript/merge.js --input '[{...}, {...}]'
export default (a, b) => {
  if (a.counts.length !== b.counts.length || a.lo !== b.lo || a.hi !== b.hi) {
    throw new Error("cannot merge histograms with different binning");
  }
  return {
    lo: a.lo,
    hi: a.hi,
    counts: a.counts.map((count, i) => count + b.counts[i]),
    underflow: a.underflow + b.underflow,
    overflow: a.overflow + b.overflow,
  };
};
