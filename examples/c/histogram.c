/* The histogram map-reduce of examples/guest, written in C: `fill`
 * simulates a range of events and histograms their invariant mass, with the
 * histogram's spec captured in the closure; `merge` adds two histograms.
 * Build with `ferry build examples/c/histogram.c`, then
 *
 *   ferry map examples/c/histogram.c fill --env SPEC --inputs RANGES --reduce merge
 *
 * The values are the Rust guest's, field for field, so either language's
 * closures read the other's results. */
#include <ferry.h>
#include <math.h>

typedef struct hist_spec {
  uint64_t bins, seed;
  double lo, hi, peak, width;
} hist_spec;

typedef struct histogram {
  double lo, hi;
  uint64_t *counts;
  uint32_t bins;
  uint64_t underflow, overflow;
} histogram;

/* Structs travel as maps keyed by field name; fields this code does not
 * know are skipped, missing ones stay 0. */
static bool read_spec(ferry_reader *r, hist_spec *spec) {
  uint32_t fields, len;
  const char *key;
  memset(spec, 0, sizeof *spec);
  if (!ferry_read_map(r, &fields)) return false;
  for (uint32_t i = 0; i < fields && ferry_read_str(r, &key, &len); i++) {
    if (ferry_key_is(key, len, "bins")) ferry_read_u64(r, &spec->bins);
    else if (ferry_key_is(key, len, "seed")) ferry_read_u64(r, &spec->seed);
    else if (ferry_key_is(key, len, "lo")) ferry_read_f64(r, &spec->lo);
    else if (ferry_key_is(key, len, "hi")) ferry_read_f64(r, &spec->hi);
    else if (ferry_key_is(key, len, "peak")) ferry_read_f64(r, &spec->peak);
    else if (ferry_key_is(key, len, "width")) ferry_read_f64(r, &spec->width);
    else ferry_skip(r);
  }
  return !r->error;
}

static bool read_range(ferry_reader *r, uint64_t *start, uint64_t *end) {
  uint32_t fields, len;
  const char *key;
  *start = *end = 0;
  if (!ferry_read_map(r, &fields)) return false;
  for (uint32_t i = 0; i < fields && ferry_read_str(r, &key, &len); i++) {
    if (ferry_key_is(key, len, "start")) ferry_read_u64(r, start);
    else if (ferry_key_is(key, len, "end")) ferry_read_u64(r, end);
    else ferry_skip(r);
  }
  return !r->error;
}

static bool read_histogram(ferry_reader *r, histogram *h) {
  uint32_t fields, len;
  const char *key;
  memset(h, 0, sizeof *h);
  if (!ferry_read_map(r, &fields)) return false;
  for (uint32_t i = 0; i < fields && ferry_read_str(r, &key, &len); i++) {
    if (ferry_key_is(key, len, "lo")) ferry_read_f64(r, &h->lo);
    else if (ferry_key_is(key, len, "hi")) ferry_read_f64(r, &h->hi);
    else if (ferry_key_is(key, len, "underflow")) ferry_read_u64(r, &h->underflow);
    else if (ferry_key_is(key, len, "overflow")) ferry_read_u64(r, &h->overflow);
    else if (ferry_key_is(key, len, "counts") && ferry_read_array(r, &h->bins)) {
      free(h->counts);
      h->counts = calloc(h->bins ? h->bins : 1, sizeof *h->counts);
      if (!h->counts) return false;
      for (uint32_t bin = 0; bin < h->bins; bin++) ferry_read_u64(r, &h->counts[bin]);
    } else ferry_skip(r);
  }
  return !r->error;
}

static void write_histogram(ferry_writer *w, const histogram *h) {
  ferry_write_map(w, 5);
  ferry_write_cstr(w, "lo");
  ferry_write_f64(w, h->lo);
  ferry_write_cstr(w, "hi");
  ferry_write_f64(w, h->hi);
  ferry_write_cstr(w, "counts");
  ferry_write_array(w, h->bins);
  for (uint32_t bin = 0; bin < h->bins; bin++) ferry_write_u64(w, h->counts[bin]);
  ferry_write_cstr(w, "underflow");
  ferry_write_u64(w, h->underflow);
  ferry_write_cstr(w, "overflow");
  ferry_write_u64(w, h->overflow);
}

/* A uniform number in [0, 1) from (seed, event, stream): splitmix64. */
static double unit(uint64_t seed, uint64_t event, uint64_t stream) {
  uint64_t z = seed + event * 0x9E3779B97F4A7C15ull + stream * 0xD1B54A32D192ED03ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (double)(z >> 11) / 9007199254740992.0; /* 2^53 */
}

/* One event: one part in five is signal (a Cauchy peak), the rest an
 * exponentially falling background. */
static double simulate_mass(const hist_spec *spec, uint64_t event) {
  const double pi = 3.14159265358979323846;
  double u = unit(spec->seed, event, 0), v = unit(spec->seed, event, 1);
  if (u < 0.2) return spec->peak + spec->width * tan(pi * (v - 0.5));
  return spec->lo - (spec->hi - spec->lo) * 0.3 * log(1.0 - v);
}

static void histogram_fill(histogram *h, double x) {
  double bins = (double)h->bins;
  double position = (x - h->lo) / (h->hi - h->lo) * bins;
  if (position < 0) h->underflow++;
  else if (position >= bins) h->overflow++;
  else h->counts[isnan(position) ? 0 : (size_t)position]++;
}

/* Simulates events start..end and histograms their invariant mass. Each
 * event depends only on the seed and its number, so any split of the events
 * over tasks gives the same merged histogram. */
static int fill(ferry_reader *env, ferry_reader *input, ferry_writer *result) {
  hist_spec spec;
  uint64_t start, end;
  if (!read_spec(env, &spec) || !read_range(input, &start, &end)) return FERRY_BAD_ARGUMENT;
  if (end < start)
    return ferry_fail("empty range %llu..%llu", (unsigned long long)start,
                      (unsigned long long)end);
  if (spec.bins == 0 || spec.bins > UINT32_MAX || spec.hi <= spec.lo)
    return ferry_fail("bad histogram spec: %llu bins over [%g, %g)", (unsigned long long)spec.bins,
                      spec.lo, spec.hi);
  histogram h = {spec.lo, spec.hi, calloc(spec.bins, sizeof(uint64_t)), (uint32_t)spec.bins, 0, 0};
  if (!h.counts) return ferry_fail("out of memory for %llu bins", (unsigned long long)spec.bins);
  for (uint64_t event = start; event < end; event++) histogram_fill(&h, simulate_mass(&spec, event));
  write_histogram(result, &h);
  free(h.counts);
  return FERRY_OK;
}
FERRY_FUNCTION_WITH_ENV(fill, "HistSpec", "Range", "Result<Histogram, String>")

/* Adds two histograms with the same binning: associative and commutative,
 * so partial results merge in any order. */
static int merge(ferry_reader *env, ferry_reader *input, ferry_writer *result) {
  (void)env;
  histogram a = {0}, b = {0};
  uint32_t pair;
  int status = FERRY_OK;
  if (!ferry_read_array(input, &pair) || pair != 2) {
    status = input->error ? FERRY_BAD_ARGUMENT
                          : ferry_bad_argument("merge takes a pair of histograms, not %u values",
                                               (unsigned)pair);
  } else if (!read_histogram(input, &a) || !read_histogram(input, &b)) {
    status = FERRY_BAD_ARGUMENT;
  } else if (a.bins != b.bins || a.lo != b.lo || a.hi != b.hi) {
    status = ferry_fail("cannot merge histograms with different binning");
  } else {
    for (uint32_t bin = 0; bin < a.bins; bin++) a.counts[bin] += b.counts[bin];
    a.underflow += b.underflow;
    a.overflow += b.overflow;
    write_histogram(result, &a);
  }
  free(a.counts);
  free(b.counts);
  return status;
}
FERRY_FUNCTION(merge, "(Histogram, Histogram)", "Result<Histogram, String>")
