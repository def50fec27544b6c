/* The SQL functions of examples/udfs, written in C: gcd and normalize as
 * scalars, geo_mean as an aggregate. Build with
 *
 *   ferry build examples/c/udfs.c
 *
 * and use it as the Rust one: ferry sql --functions examples/c/udfs.c ... */
#include <ferry.h>
#include <math.h>

/* ---- gcd: integers in, an integer out -------------------------------------- */

static int64_t gcd_of(int64_t a, int64_t b) {
  uint64_t x = a < 0 ? -(uint64_t)a : (uint64_t)a;
  uint64_t y = b < 0 ? -(uint64_t)b : (uint64_t)b;
  while (y != 0) {
    uint64_t rest = x % y;
    x = y;
    y = rest;
  }
  return (int64_t)x;
}

/* Greatest common divisor (Euclid), non-negative; null where either is. */
static int gcd(ferry_batch *in, ferry_output *out) {
  const ferry_column *a = &in->columns[0], *b = &in->columns[1];
  for (uint32_t row = 0; row < in->rows; row++) {
    if (ferry_any_null(in, row))
      ferry_set_null(out, row);
    else
      ferry_set_int64(out, row, gcd_of(ferry_int64(a, row), ferry_int64(b, row)));
  }
  return FERRY_OK;
}
FERRY_SCALAR(gcd, int64, int64, int64)

/* ---- normalize: text in, text out -------------------------------------------- */

static bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Lower case, single spaces, no leading or trailing space (ASCII letters
 * and spaces; other bytes are kept as they are). */
static int normalize(ferry_batch *in, ferry_output *out) {
  const ferry_column *text = &in->columns[0];
  char *buffer = NULL;
  size_t capacity = 0;
  for (uint32_t row = 0; row < in->rows; row++) {
    if (ferry_is_null(text, row)) {
      ferry_set_null(out, row);
      continue;
    }
    uint32_t len;
    const char *s = ferry_utf8(text, row, &len);
    if (len > capacity) {
      char *grown = realloc(buffer, len);
      if (!grown) {
        free(buffer);
        return ferry_row_error(row, "out of memory for %u bytes of text", (unsigned)len);
      }
      buffer = grown, capacity = len;
    }
    size_t n = 0;
    bool gap = false;
    for (uint32_t i = 0; i < len; i++) {
      char c = s[i];
      if (is_space(c)) {
        gap = n > 0;
        continue;
      }
      if (gap) buffer[n++] = ' ', gap = false;
      buffer[n++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    ferry_set_utf8(out, row, buffer, n);
  }
  free(buffer);
  return FERRY_OK;
}
FERRY_SCALAR(normalize, utf8, utf8)

/* ---- geo_mean: an aggregate with a fixed-size state ----------------------------- */

/* The geometric mean of the values, null when there are none; a value that
 * is not positive is an error naming its row. */
typedef struct geo_mean_state {
  double log_sum;
  uint64_t count;
} geo_mean_state;

static void geo_mean_init(geo_mean_state *state, ferry_reader *env) {
  (void)env;
  state->log_sum = 0;
  state->count = 0;
}

static int geo_mean_update(geo_mean_state *state, const ferry_column *args, uint32_t row) {
  if (ferry_is_null(&args[0], row)) return FERRY_OK;
  double value = ferry_float64(&args[0], row);
  if (value <= 0) return ferry_row_error(row, "geo_mean of %g: values must be positive", value);
  state->log_sum += log(value);
  state->count += 1;
  return FERRY_OK;
}

/* Takes back a value update took, so that over a sliding window a row
 * leaving the frame costs one row, not the frame. */
static int geo_mean_retract(geo_mean_state *state, const ferry_column *args, uint32_t row) {
  if (ferry_is_null(&args[0], row)) return FERRY_OK;
  state->log_sum -= log(ferry_float64(&args[0], row));
  state->count -= 1;
  return FERRY_OK;
}

static void geo_mean_merge(geo_mean_state *state, const geo_mean_state *other) {
  state->log_sum += other->log_sum;
  state->count += other->count;
}

static int geo_mean_finish(const geo_mean_state *state, ferry_output *out, uint32_t group) {
  if (state->count == 0)
    ferry_set_null(out, group);
  else
    ferry_set_float64(out, group, exp(state->log_sum / (double)state->count));
  return FERRY_OK;
}
FERRY_AGGREGATE_WITH_RETRACT(geo_mean, geo_mean_state, float64, float64)

/* ---- div: a guest that panics, to show that a query fails cleanly -------------- */

/* Integer division that panics on a zero divisor, as Rust's `/` does.
 * Exported as `div`, which C's library already names. */
static int divide(ferry_batch *in, ferry_output *out) {
  const ferry_column *a = &in->columns[0], *b = &in->columns[1];
  for (uint32_t row = 0; row < in->rows; row++) {
    if (ferry_any_null(in, row)) {
      ferry_set_null(out, row);
      continue;
    }
    int64_t dividend = ferry_int64(a, row), divisor = ferry_int64(b, row);
    if (divisor == 0) ferry_panic("attempt to divide by zero");
    if (divisor == -1 && dividend == INT64_MIN) ferry_panic("attempt to divide with overflow");
    ferry_set_int64(out, row, dividend / divisor);
  }
  return FERRY_OK;
}
FERRY_SCALAR_AS(div, divide, int64, int64, int64)
