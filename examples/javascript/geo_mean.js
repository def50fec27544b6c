// geo_mean(x) as a SQL aggregate, as examples/udfs's: the default export is
// an object with the aggregate's steps. A group's state is what init()
// returns; the host keeps it (as MessagePack) between calls and partitions.
// With retract, a sliding window takes rows back out instead of folding
// each frame afresh.
//
//   ferry pickle --js examples/javascript/geo_mean.js --args float64 --returns float64 -o geo_mean.closure
export default {
  init: () => ({ logSum: 0, count: 0 }),
  update(state, x) {
    if (x <= 0) throw new Error(`geo_mean of ${x}: values must be positive`);
    state.logSum += Math.log(x);
    state.count += 1;
    return state;
  },
  retract(state, x) {
    state.logSum -= Math.log(x);
    state.count -= 1;
    return state;
  },
  merge(a, b) {
    a.logSum += b.logSum;
    a.count += b.count;
    return a;
  },
  finish: (state) => (state.count > 0 ? Math.exp(state.logSum / state.count) : null),
};
