/*
 * ferry.h: the ferry guest SDK for C, ABI version 1 (docs/abi.md).
 *
 * One header, nothing to link: include it, write functions, and declare each
 * one after its definition with a macro that writes its export and its
 * record in the module's `ferry.functions` section:
 *
 *   FERRY_FUNCTION(name, input, output)           value call (§3)
 *   FERRY_FUNCTION_WITH_ENV(name, env, input, output)
 *   FERRY_SCALAR(name, returns, args...)          SQL scalar over columns (§8)
 *   FERRY_AGGREGATE(name, state, returns, args...) SQL aggregate (§9)
 *
 * Build with `ferry build file.c` (or a directory of .c files), which runs
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2
 * with this header on the include path. See sdks/c/README.md.
 */
#ifndef FERRY_H
#define FERRY_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FERRY_ABI_VERSION 1
#define FERRY_SDK "ferry-c/0.1.0"

/* What a function returns: the statuses of docs/abi.md §3. */
enum { FERRY_OK = 0, FERRY_ERROR = 1, FERRY_BAD_ARGUMENT = 2 };

/* Column types, by the tags of docs/abi.md §8. */
typedef enum ferry_type {
  FERRY_BOOLEAN = 1,
  FERRY_INT8 = 2,
  FERRY_INT16 = 3,
  FERRY_INT32 = 4,
  FERRY_INT64 = 5,
  FERRY_UINT8 = 6,
  FERRY_UINT16 = 7,
  FERRY_UINT32 = 8,
  FERRY_UINT64 = 9,
  FERRY_FLOAT32 = 10,
  FERRY_FLOAT64 = 11,
  FERRY_UTF8 = 12,
  FERRY_LARGE_UTF8 = 13,
  FERRY_BINARY = 14,
  FERRY_DATE32 = 15,
  FERRY_TIMESTAMP_US = 16
} ferry_type;

/* ---- imports (module ferry_v1, §4) ---------------------------------------- */

#define FERRY__IMPORT(n) __attribute__((import_module("ferry_v1"), import_name(n)))
FERRY__IMPORT("result") void ferry__result(const void *ptr, size_t len);
FERRY__IMPORT("error") void ferry__error(const void *ptr, size_t len);
FERRY__IMPORT("panic")
_Noreturn void ferry__panic(const char *msg, size_t msg_len, const char *file, size_t file_len,
                            uint32_t line, uint32_t column);
FERRY__IMPORT("blob_len") int64_t ferry__blob_len(const char *name, size_t name_len);
FERRY__IMPORT("blob_read")
int64_t ferry__blob_read(const char *name, size_t name_len, int64_t offset, void *dst, size_t dst_len);
FERRY__IMPORT("result_column") void ferry__result_column(const void *descriptor);

/* ---- the allocator the host hands buffers in with (§1) --------------------- */

/* Weak, so that every file of a guest may include this header. */
__attribute__((weak, export_name("ferry_alloc"))) void *ferry_alloc(size_t size, size_t align) {
  /* malloc aligns to 16; the host asks for 1, 4 or 8. */
  if (align <= 16) return malloc(size ? size : 1);
  return aligned_alloc(align, (size + align - 1) / align * align);
}

__attribute__((weak, export_name("ferry_free"))) void ferry_free(void *ptr, size_t size, size_t align) {
  (void)size;
  (void)align;
  free(ptr);
}

/* ---- errors ------------------------------------------------------------------ */

/* Set when a message has been reported in this call, so that the SDK does
 * not report a second one over it. Weak: one flag for all files. */
__attribute__((weak)) bool ferry__reported;

static inline void ferry__vreport(void (*report)(const void *, size_t), const char *prefix,
                                  const char *format, va_list args) {
  char small[256];
  size_t skip = prefix ? (size_t)snprintf(small, sizeof small, "%s", prefix) : 0;
  if (skip >= sizeof small) skip = sizeof small - 1;
  va_list again;
  va_copy(again, args);
  int n = vsnprintf(small + skip, sizeof small - skip, format, args);
  if (n < 0) n = 0;
  size_t len = skip + (size_t)n;
  if (len < sizeof small) {
    report(small, len);
  } else {
    char *big = malloc(len + 1);
    if (big) {
      memcpy(big, small, skip);
      vsnprintf(big + skip, len + 1 - skip, format, again);
      report(big, len);
      free(big);
    } else {
      report(small, sizeof small - 1);
    }
  }
  va_end(again);
  ferry__reported = true;
}

/* Reports the function's failure with a printf-style message and returns
 * FERRY_ERROR:  return ferry_fail("cannot divide %lld by zero", a); */
__attribute__((format(printf, 1, 2))) static inline int ferry_fail(const char *format, ...) {
  va_list args;
  va_start(args, format);
  ferry__vreport(ferry__error, NULL, format, args);
  va_end(args);
  return FERRY_ERROR;
}

/* As ferry_fail, for one row of a batch: the message starts `row N: `, as
 * the Rust SDK's do. */
__attribute__((format(printf, 2, 3))) static inline int ferry_row_error(uint32_t row,
                                                                        const char *format, ...) {
  char prefix[24];
  snprintf(prefix, sizeof prefix, "row %u: ", (unsigned)row);
  va_list args;
  va_start(args, format);
  ferry__vreport(ferry__error, prefix, format, args);
  va_end(args);
  return FERRY_ERROR;
}

/* Reports that the arguments are not what the function takes, and returns
 * FERRY_BAD_ARGUMENT. */
__attribute__((format(printf, 1, 2))) static inline int ferry_bad_argument(const char *format, ...) {
  va_list args;
  va_start(args, format);
  ferry__vreport(ferry__error, NULL, format, args);
  va_end(args);
  return FERRY_BAD_ARGUMENT;
}

__attribute__((format(printf, 3, 4))) _Noreturn static inline void ferry__panic_at(
    const char *file, uint32_t line, const char *format, ...) {
  char message[512];
  va_list args;
  va_start(args, format);
  int n = vsnprintf(message, sizeof message, format, args);
  va_end(args);
  size_t len = n < 0 ? 0 : (size_t)n < sizeof message ? (size_t)n : sizeof message - 1;
  ferry__panic(message, len, file, strlen(file), line, 0);
}

/* Ends the call at once with a message and this file and line, as a Rust
 * guest's panic does. */
#define ferry_panic(...) ferry__panic_at(__FILE__, __LINE__, __VA_ARGS__)

/* ---- data blobs attached to the closure (§4) -------------------------------- */

/* The size of the blob of that name, or -1 if the closure has none. */
static inline int64_t ferry_blob_len(const char *name) { return ferry__blob_len(name, strlen(name)); }

/* Copies up to `len` bytes of the blob from `offset`; returns how many, or
 * -1 if there is no such blob. Read a large blob a buffer at a time. */
static inline int64_t ferry_blob_read(const char *name, int64_t offset, void *dst, size_t len) {
  return ferry__blob_read(name, strlen(name), offset, dst, len);
}

/* ---- MessagePack in: ferry_reader --------------------------------------------- */

/* Reads one MessagePack value after another from a buffer. Every read
 * returns false once anything went wrong, and the first problem is kept:
 * read a whole input, then check `error` once (the SDK does it for you
 * after a function returns). */
typedef struct ferry_reader {
  const uint8_t *at, *end, *start;
  const char *error; /* what went wrong first (or what was expected), or NULL */
  const char *found; /* what was found instead of what was expected, or NULL */
  size_t error_at;   /* at which byte */
} ferry_reader;

static inline ferry_reader ferry_reader_new(const void *data, size_t len) {
  static const uint8_t nil = 0xc0;
  /* (0, 0) is how hosts before December 2026 passed nil. */
  if (len == 0) data = &nil, len = 1;
  ferry_reader r = {(const uint8_t *)data, (const uint8_t *)data + len, (const uint8_t *)data,
                    NULL, NULL, 0};
  return r;
}

static inline const char *ferry__kind(uint8_t b) {
  if (b <= 0x7f || (b >= 0xcc && b <= 0xd3) || b >= 0xe0) return "an integer";
  if (b <= 0x8f || b == 0xde || b == 0xdf) return "a map";
  if (b <= 0x9f || b == 0xdc || b == 0xdd) return "an array";
  if (b <= 0xbf || (b >= 0xd9 && b <= 0xdb)) return "a string";
  switch (b) {
    case 0xc0: return "nil";
    case 0xc2: case 0xc3: return "a boolean";
    case 0xc4: case 0xc5: case 0xc6: return "binary";
    case 0xca: case 0xcb: return "a float";
    case 0xc1: return "the reserved byte c1";
    default: return "an extension value";
  }
}

static inline bool ferry__reader_fail(ferry_reader *r, const char *what) {
  if (!r->error) {
    r->error = what;
    r->error_at = (size_t)(r->at - r->start);
  }
  return false;
}

static inline bool ferry__mismatch(ferry_reader *r, const char *expected) {
  if (r->error) return false;
  r->found = ferry__kind(*r->at);
  return ferry__reader_fail(r, expected);
}

static inline bool ferry__need(ferry_reader *r, size_t n) {
  if (r->error) return false;
  if ((size_t)(r->end - r->at) < n) return ferry__reader_fail(r, "the value ends early");
  return true;
}

static inline uint64_t ferry__big_endian(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = v << 8 | p[i];
  return v;
}

/* Reads an integer as 64 bits and whether it is negative. */
static inline bool ferry__integer(ferry_reader *r, uint64_t *bits, bool *negative) {
  if (!ferry__need(r, 1)) return false;
  uint8_t b = *r->at;
  int width;
  *negative = false;
  if (b <= 0x7f) {
    r->at++;
    *bits = b;
    return true;
  }
  if (b >= 0xe0) {
    r->at++;
    *bits = (uint64_t)(int64_t)(int8_t)b;
    *negative = true;
    return true;
  }
  if (b >= 0xcc && b <= 0xcf) width = 1 << (b - 0xcc);
  else if (b >= 0xd0 && b <= 0xd3) width = 1 << (b - 0xd0);
  else return ferry__mismatch(r, "an integer");
  if (!ferry__need(r, 1 + (size_t)width)) return false;
  uint64_t v = ferry__big_endian(r->at + 1, width);
  if (b >= 0xd0 && width < 8 && (v >> (width * 8 - 1)) & 1) v |= ~(uint64_t)0 << (width * 8);
  *negative = b >= 0xd0 && (int64_t)v < 0;
  *bits = v;
  r->at += 1 + width;
  return true;
}

/* Consumes a nil and returns true if the next value is nil; otherwise
 * reads nothing and returns false. For optional values. */
static inline bool ferry_read_nil(ferry_reader *r) {
  if (r->error || r->at >= r->end || *r->at != 0xc0) return false;
  r->at++;
  return true;
}

static inline bool ferry_read_bool(ferry_reader *r, bool *value) {
  if (!ferry__need(r, 1)) return false;
  if (*r->at != 0xc2 && *r->at != 0xc3) return ferry__mismatch(r, "a boolean");
  *value = *r->at++ == 0xc3;
  return true;
}

static inline bool ferry_read_i64(ferry_reader *r, int64_t *value) {
  uint64_t bits;
  bool negative;
  const uint8_t *at = r->at;
  if (!ferry__integer(r, &bits, &negative)) return false;
  if (!negative && bits > INT64_MAX) {
    r->at = at;
    return ferry__reader_fail(r, "the integer does not fit in 64 signed bits");
  }
  *value = (int64_t)bits;
  return true;
}

static inline bool ferry_read_u64(ferry_reader *r, uint64_t *value) {
  uint64_t bits;
  bool negative;
  const uint8_t *at = r->at;
  if (!ferry__integer(r, &bits, &negative)) return false;
  if (negative) {
    r->at = at;
    return ferry__reader_fail(r, "expected an unsigned integer, found a negative one");
  }
  *value = bits;
  return true;
}

/* A float, or an integer read as one. */
static inline bool ferry_read_f64(ferry_reader *r, double *value) {
  if (!ferry__need(r, 1)) return false;
  uint8_t b = *r->at;
  if (b == 0xca || b == 0xcb) {
    int width = b == 0xca ? 4 : 8;
    if (!ferry__need(r, 1 + (size_t)width)) return false;
    uint64_t bits = ferry__big_endian(r->at + 1, width);
    if (width == 4) {
      uint32_t narrow = (uint32_t)bits;
      float f;
      memcpy(&f, &narrow, 4);
      *value = f;
    } else {
      memcpy(value, &bits, 8);
    }
    r->at += 1 + width;
    return true;
  }
  if (ferry__kind(b)[3] != 'i') return ferry__mismatch(r, "a number"); /* "an integer" */
  uint64_t bits;
  bool negative;
  if (!ferry__integer(r, &bits, &negative)) return false;
  *value = negative ? (double)(int64_t)bits : (double)bits;
  return true;
}

/* Reads a header of one of three families, each as fix / 8 / 16 / 32-bit
 * lengths, returning the length. */
static inline bool ferry__header(ferry_reader *r, uint8_t fix, uint8_t fix_mask, int fix_bits,
                                 uint8_t first, int first_width, const char *expected,
                                 uint32_t *len) {
  if (!ferry__need(r, 1)) return false;
  uint8_t b = *r->at;
  if (fix_bits && (b & fix_mask) == fix) {
    *len = b & ((1u << fix_bits) - 1);
    r->at++;
    return true;
  }
  for (int i = 0, width = first_width; i < 3; i++, width *= 2) {
    if (width > 4) break;
    if (b == first + i) {
      if (!ferry__need(r, 1 + (size_t)width)) return false;
      *len = (uint32_t)ferry__big_endian(r->at + 1, width);
      r->at += 1 + width;
      return true;
    }
  }
  return ferry__mismatch(r, expected);
}

/* A string: a pointer into the input (not NUL-terminated) and its length. */
static inline bool ferry_read_str(ferry_reader *r, const char **text, uint32_t *len) {
  const uint8_t *at = r->at;
  if (!ferry__header(r, 0xa0, 0xe0, 5, 0xd9, 1, "a string", len)) return false;
  if ((size_t)(r->end - r->at) < *len) {
    r->at = at;
    return ferry__reader_fail(r, "the string ends early");
  }
  *text = (const char *)r->at;
  r->at += *len;
  return true;
}

/* Binary: a pointer into the input and its length. */
static inline bool ferry_read_bin(ferry_reader *r, const uint8_t **bytes, uint32_t *len) {
  const uint8_t *at = r->at;
  if (!ferry__header(r, 0, 0, 0, 0xc4, 1, "binary", len)) return false;
  if ((size_t)(r->end - r->at) < *len) {
    r->at = at;
    return ferry__reader_fail(r, "the binary value ends early");
  }
  *bytes = r->at;
  r->at += *len;
  return true;
}

/* An array's length; its elements follow. */
static inline bool ferry_read_array(ferry_reader *r, uint32_t *len) {
  return ferry__header(r, 0x90, 0xf0, 4, 0xdc, 2, "an array", len);
}

/* A map's number of entries; each key is followed by its value. */
static inline bool ferry_read_map(ferry_reader *r, uint32_t *len) {
  return ferry__header(r, 0x80, 0xf0, 4, 0xde, 2, "a map", len);
}

/* Whether a string read with ferry_read_str is `key`: for the field names
 * of a struct, which hosts write as a map. */
static inline bool ferry_key_is(const char *text, uint32_t len, const char *key) {
  return strlen(key) == len && memcmp(text, key, len) == 0;
}

/* Skips one value, whatever it is (a struct field the function ignores). */
static inline bool ferry_skip(ferry_reader *r) {
  uint64_t pending = 1;
  while (pending--) {
    if (!ferry__need(r, 1)) return false;
    uint8_t b = *r->at;
    uint32_t len;
    uint64_t bits;
    bool negative;
    const char *text;
    const uint8_t *bytes;
    double f;
    if (b == 0xc0 || b == 0xc2 || b == 0xc3) r->at++;
    else if ((b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd) {
      if (!ferry_read_array(r, &len)) return false;
      pending += len;
    } else if ((b & 0xf0) == 0x80 || b == 0xde || b == 0xdf) {
      if (!ferry_read_map(r, &len)) return false;
      pending += 2 * (uint64_t)len;
    } else if ((b & 0xe0) == 0xa0 || (b >= 0xd9 && b <= 0xdb)) {
      if (!ferry_read_str(r, &text, &len)) return false;
    } else if (b >= 0xc4 && b <= 0xc6) {
      if (!ferry_read_bin(r, &bytes, &len)) return false;
    } else if (b == 0xca || b == 0xcb) {
      if (!ferry_read_f64(r, &f)) return false;
    } else if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3)) {
      if (!ferry__integer(r, &bits, &negative)) return false;
    } else if (b >= 0xd4 && b <= 0xd8) {
      if (!ferry__need(r, 2 + ((size_t)1 << (b - 0xd4)))) return false;
      r->at += 2 + (1 << (b - 0xd4));
    } else if (b >= 0xc7 && b <= 0xc9) {
      int width = 1 << (b - 0xc7);
      if (!ferry__need(r, 2 + (size_t)width)) return false;
      size_t n = (size_t)ferry__big_endian(r->at + 1, width);
      /* Compared apart, so that a length near 2^32 cannot wrap the sum. */
      if (n > (size_t)(r->end - r->at) - 2 - (size_t)width)
        return ferry__reader_fail(r, "the value ends early");
      r->at += 2 + width + n;
    } else {
      return ferry__reader_fail(r, "the reserved byte c1 is not MessagePack");
    }
  }
  return true;
}

/* ---- MessagePack out: ferry_writer ---------------------------------------------- */

/* Writes MessagePack values to a growing buffer: the function's result. A
 * function writes exactly one value (an array or map holding the rest);
 * writing nothing means nil. */
typedef struct ferry_writer {
  uint8_t *data;
  size_t len, cap;
  bool failed; /* out of memory */
} ferry_writer;

static inline uint8_t *ferry__reserve(ferry_writer *w, size_t n) {
  if (w->failed) return NULL;
  if (w->cap - w->len < n) {
    size_t cap = w->cap ? w->cap : 64;
    while (cap - w->len < n) cap *= 2;
    uint8_t *data = realloc(w->data, cap);
    if (!data) {
      w->failed = true;
      return NULL;
    }
    w->data = data, w->cap = cap;
  }
  uint8_t *at = w->data + w->len;
  w->len += n;
  return at;
}

static inline void ferry__put(ferry_writer *w, uint8_t tag, uint64_t v, int width) {
  uint8_t *p = ferry__reserve(w, 1 + (size_t)width);
  if (!p) return;
  *p++ = tag;
  for (int i = width - 1; i >= 0; i--) *p++ = (uint8_t)(v >> (8 * i));
}

static inline void ferry_write_nil(ferry_writer *w) { ferry__put(w, 0xc0, 0, 0); }
static inline void ferry_write_bool(ferry_writer *w, bool v) { ferry__put(w, v ? 0xc3 : 0xc2, 0, 0); }

/* Integers are written in their smallest form, as Rust's encoder does. */
static inline void ferry_write_u64(ferry_writer *w, uint64_t v) {
  if (v <= 0x7f) ferry__put(w, (uint8_t)v, 0, 0);
  else if (v <= 0xff) ferry__put(w, 0xcc, v, 1);
  else if (v <= 0xffff) ferry__put(w, 0xcd, v, 2);
  else if (v <= 0xffffffff) ferry__put(w, 0xce, v, 4);
  else ferry__put(w, 0xcf, v, 8);
}

static inline void ferry_write_i64(ferry_writer *w, int64_t v) {
  if (v >= 0) ferry_write_u64(w, (uint64_t)v);
  else if (v >= -32) ferry__put(w, (uint8_t)v, 0, 0);
  else if (v >= INT8_MIN) ferry__put(w, 0xd0, (uint8_t)v, 1);
  else if (v >= INT16_MIN) ferry__put(w, 0xd1, (uint16_t)v, 2);
  else if (v >= INT32_MIN) ferry__put(w, 0xd2, (uint32_t)v, 4);
  else ferry__put(w, 0xd3, (uint64_t)v, 8);
}

static inline void ferry_write_f64(ferry_writer *w, double v) {
  uint64_t bits;
  memcpy(&bits, &v, 8);
  ferry__put(w, 0xcb, bits, 8);
}

static inline void ferry__sized(ferry_writer *w, const uint8_t tags[3], uint8_t fix, uint32_t fix_max,
                                size_t len) {
  if (len <= fix_max) ferry__put(w, (uint8_t)(fix | len), 0, 0);
  else if (tags[0] && len <= 0xff) ferry__put(w, tags[0], len, 1);
  else if (len <= 0xffff) ferry__put(w, tags[1], len, 2);
  else ferry__put(w, tags[2], len, 4);
}

static inline void ferry_write_str(ferry_writer *w, const char *text, size_t len) {
  static const uint8_t tags[3] = {0xd9, 0xda, 0xdb};
  ferry__sized(w, tags, 0xa0, 31, len);
  uint8_t *p = ferry__reserve(w, len);
  if (p && len) memcpy(p, text, len);
}

/* A NUL-terminated string. */
static inline void ferry_write_cstr(ferry_writer *w, const char *text) {
  ferry_write_str(w, text, strlen(text));
}

static inline void ferry_write_bin(ferry_writer *w, const void *bytes, size_t len) {
  if (len <= 0xff) ferry__put(w, 0xc4, len, 1);
  else if (len <= 0xffff) ferry__put(w, 0xc5, len, 2);
  else ferry__put(w, 0xc6, len, 4);
  uint8_t *p = ferry__reserve(w, len);
  if (p && len) memcpy(p, bytes, len);
}

/* An array of `len` values, which the next writes are. */
static inline void ferry_write_array(ferry_writer *w, uint32_t len) {
  static const uint8_t tags[3] = {0, 0xdc, 0xdd};
  ferry__sized(w, tags, 0x90, 15, len);
}

/* A map of `len` entries, key then value, which the next writes are. */
static inline void ferry_write_map(ferry_writer *w, uint32_t len) {
  static const uint8_t tags[3] = {0, 0xde, 0xdf};
  ferry__sized(w, tags, 0x80, 15, len);
}

/* ---- columns (§8) ---------------------------------------------------------------- */

/* A column as the host describes it: the 28-byte descriptor of §8. The
 * buffers are Arrow's, every one starting at row 0. */
typedef struct ferry_column {
  uint32_t type;
  uint32_t rows;
  uint32_t null_count;
  const uint8_t *validity; /* NULL when no row is null */
  const void *values;
  uint32_t values_len;
  const void *offsets; /* utf8, binary: int32; large_utf8: int64 */
} ferry_column;

#if defined(__wasm32__)
_Static_assert(sizeof(ferry_column) == 28, "a column descriptor is seven 32-bit words");
#endif

static inline bool ferry_is_null(const ferry_column *c, uint32_t row) {
  return c->validity && !((c->validity[row >> 3] >> (row & 7)) & 1);
}

#define FERRY__GETTER(fn, ctype)                                               \
  static inline ctype ferry_##fn(const ferry_column *c, uint32_t row) {        \
    ctype v;                                                                   \
    memcpy(&v, (const uint8_t *)c->values + (size_t)row * sizeof v, sizeof v); \
    return v;                                                                  \
  }
/* A row's value, for a column of that type; read ferry_is_null first. */
FERRY__GETTER(int8, int8_t)
FERRY__GETTER(int16, int16_t)
FERRY__GETTER(int32, int32_t)
FERRY__GETTER(int64, int64_t)
FERRY__GETTER(uint8, uint8_t)
FERRY__GETTER(uint16, uint16_t)
FERRY__GETTER(uint32, uint32_t)
FERRY__GETTER(uint64, uint64_t)
FERRY__GETTER(float32, float)
FERRY__GETTER(float64, double)
/* Days since 1970-01-01. */
FERRY__GETTER(date32, int32_t)
/* Microseconds since 1970-01-01T00:00Z. */
FERRY__GETTER(timestamp_us, int64_t)

static inline bool ferry_boolean(const ferry_column *c, uint32_t row) {
  return (((const uint8_t *)c->values)[row >> 3] >> (row & 7)) & 1;
}

/* A row of a utf8, large_utf8 or binary column: a pointer to its bytes (not
 * NUL-terminated) and, in *len, how many. */
static inline const char *ferry_utf8(const ferry_column *c, uint32_t row, uint32_t *len) {
  int64_t start, end;
  if (c->type == FERRY_LARGE_UTF8) {
    memcpy(&start, (const int64_t *)c->offsets + row, 8);
    memcpy(&end, (const int64_t *)c->offsets + row + 1, 8);
  } else {
    start = ((const int32_t *)c->offsets)[row];
    end = ((const int32_t *)c->offsets)[row + 1];
  }
  *len = (uint32_t)(end - start);
  /* Every row empty: the host passes no values buffer. */
  return c->values ? (const char *)c->values + start : "";
}

static inline const uint8_t *ferry_binary(const ferry_column *c, uint32_t row, uint32_t *len) {
  return (const uint8_t *)ferry_utf8(c, row, len);
}

static inline uint32_t ferry__width(uint32_t type) {
  switch (type) {
    case FERRY_INT8: case FERRY_UINT8: return 1;
    case FERRY_INT16: case FERRY_UINT16: return 2;
    case FERRY_INT32: case FERRY_UINT32: case FERRY_FLOAT32: case FERRY_DATE32: return 4;
    case FERRY_INT64: case FERRY_UINT64: case FERRY_FLOAT64: case FERRY_TIMESTAMP_US: return 8;
    default: return 0; /* boolean (bits) and the variable-width types */
  }
}

static inline bool ferry__variable(uint32_t type) {
  return type == FERRY_UTF8 || type == FERRY_LARGE_UTF8 || type == FERRY_BINARY;
}

static inline const char *ferry__type_name(uint32_t type) {
  static const char *const names[] = {
      "?",      "boolean", "int8",    "int16",   "int32",      "int64",
      "uint8",  "uint16",  "uint32",  "uint64",  "float32",    "float64",
      "utf8",   "large_utf8", "binary", "date32", "timestamp_us"};
  return type < sizeof names / sizeof *names ? names[type] : "?";
}

/* ---- the result column -------------------------------------------------------------- */

/* The column a scalar function (or an aggregate's finish) fills: one value
 * per row, set with ferry_set_<type> or ferry_set_null. Rows of a utf8 or
 * binary result are set in order; a row left unset is 0 (or the empty
 * string) and not null. */
typedef struct ferry_output {
  ferry_column column;
  uint8_t *validity, *values;
  int32_t *offsets;
  size_t capacity;   /* of values, for variable width */
  uint32_t next;     /* the next row of a variable-width result */
  const char *misuse; /* a setter that did not fit the column, if any */
  uint32_t misuse_row;
} ferry_output;

static inline bool ferry__output_init(ferry_output *o, uint32_t type, uint32_t rows) {
  memset(o, 0, sizeof *o);
  o->column.type = type;
  o->column.rows = rows;
  if (type == FERRY_LARGE_UTF8) return false;
  if (ferry__variable(type)) {
    o->offsets = calloc((size_t)rows + 1, sizeof(int32_t));
    return o->offsets != NULL;
  }
  size_t bytes = type == FERRY_BOOLEAN ? (rows + 7) / 8 : (size_t)rows * ferry__width(type);
  o->values = calloc(bytes ? bytes : 1, 1);
  o->column.values_len = (uint32_t)bytes;
  return o->values != NULL;
}

static inline void ferry__misused(ferry_output *o, const char *setter, uint32_t row) {
  if (!o->misuse) o->misuse = setter, o->misuse_row = row;
}

/* Marks a row null. */
static inline void ferry_set_null(ferry_output *o, uint32_t row) {
  if (row >= o->column.rows) {
    ferry__misused(o, "ferry_set_null", row);
    return;
  }
  if (!o->validity) {
    o->validity = malloc((o->column.rows + 7) / 8);
    if (!o->validity) { ferry__misused(o, "ferry_set_null (out of memory)", row); return; }
    memset(o->validity, 0xff, (o->column.rows + 7) / 8);
  }
  o->validity[row >> 3] &= (uint8_t)~(1u << (row & 7));
}

#define FERRY__SETTER(fn, ctype, tag, alias)                                                 \
  static inline void ferry_set_##fn(ferry_output *o, uint32_t row, ctype v) {               \
    if (__builtin_expect((o->column.type != (tag) && o->column.type != (alias)) ||          \
                             row >= o->column.rows,                                         \
                         0))                                                                \
      { ferry__misused(o, "ferry_set_" #fn, row); return; }                                      \
    memcpy(o->values + (size_t)row * sizeof v, &v, sizeof v);                               \
  }
/* Sets a row of a result column of that type. */
FERRY__SETTER(int8, int8_t, FERRY_INT8, FERRY_INT8)
FERRY__SETTER(int16, int16_t, FERRY_INT16, FERRY_INT16)
FERRY__SETTER(int32, int32_t, FERRY_INT32, FERRY_DATE32)
FERRY__SETTER(int64, int64_t, FERRY_INT64, FERRY_TIMESTAMP_US)
FERRY__SETTER(uint8, uint8_t, FERRY_UINT8, FERRY_UINT8)
FERRY__SETTER(uint16, uint16_t, FERRY_UINT16, FERRY_UINT16)
FERRY__SETTER(uint32, uint32_t, FERRY_UINT32, FERRY_UINT32)
FERRY__SETTER(uint64, uint64_t, FERRY_UINT64, FERRY_UINT64)
FERRY__SETTER(float32, float, FERRY_FLOAT32, FERRY_FLOAT32)
FERRY__SETTER(float64, double, FERRY_FLOAT64, FERRY_FLOAT64)
FERRY__SETTER(date32, int32_t, FERRY_DATE32, FERRY_DATE32)
FERRY__SETTER(timestamp_us, int64_t, FERRY_TIMESTAMP_US, FERRY_TIMESTAMP_US)

static inline void ferry_set_boolean(ferry_output *o, uint32_t row, bool v) {
  if (o->column.type != FERRY_BOOLEAN || row >= o->column.rows)
    { ferry__misused(o, "ferry_set_boolean", row); return; }
  if (v) o->values[row >> 3] |= (uint8_t)(1u << (row & 7));
  else o->values[row >> 3] &= (uint8_t)~(1u << (row & 7));
}

/* Fills offsets up to `row`: rows skipped over are empty. */
static inline void ferry__pad(ferry_output *o, uint32_t row) {
  for (; o->next < row; o->next++) o->offsets[o->next + 1] = o->offsets[o->next];
}

/* Sets a row of a utf8 (or binary) result to `len` bytes; rows in order. */
static inline void ferry_set_utf8(ferry_output *o, uint32_t row, const char *text, size_t len) {
  if (!ferry__variable(o->column.type) || row >= o->column.rows || row < o->next)
    { ferry__misused(o, "ferry_set_utf8 (rows of a text result are set in order)", row); return; }
  ferry__pad(o, row);
  size_t used = (size_t)o->offsets[row];
  if (len > INT32_MAX - used) {
    ferry__misused(o, "ferry_set_utf8 (over 2 GiB of text)", row);
    return;
  }
  if (o->capacity - used < len) {
    size_t capacity = o->capacity ? o->capacity : 256;
    while (capacity - used < len) capacity *= 2;
    uint8_t *values = realloc(o->values, capacity);
    if (!values) { ferry__misused(o, "ferry_set_utf8 (out of memory)", row); return; }
    o->values = values, o->capacity = capacity;
  }
  if (len) memcpy(o->values + used, text, len);
  o->offsets[row + 1] = (int32_t)(used + len);
  o->next = row + 1;
}

static inline void ferry_set_binary(ferry_output *o, uint32_t row, const void *bytes, size_t len) {
  ferry_set_utf8(o, row, (const char *)bytes, len);
}

/* Completes the descriptor and hands the column to the host. */
static inline int ferry__output_send(ferry_output *o, const char *function) {
  if (o->misuse)
    return ferry_fail("%s: %s does not fit its %s result of %u rows at row %u", function, o->misuse,
                      ferry__type_name(o->column.type), (unsigned)o->column.rows,
                      (unsigned)o->misuse_row);
  ferry_column *c = &o->column;
  if (ferry__variable(c->type)) {
    ferry__pad(o, c->rows);
    c->offsets = o->offsets;
    c->values_len = (uint32_t)o->offsets[c->rows];
  }
  c->values = c->values_len ? o->values : NULL;
  c->null_count = 0;
  if (o->validity) {
    for (uint32_t row = 0; row < c->rows; row++)
      c->null_count += !((o->validity[row >> 3] >> (row & 7)) & 1);
    c->validity = c->null_count ? o->validity : NULL;
  }
  ferry__result_column(c);
  return FERRY_OK;
}

static inline void ferry__output_free(ferry_output *o) {
  free(o->validity);
  free(o->values);
  free(o->offsets);
}

/* ---- calls -------------------------------------------------------------------- */

static inline void ferry__free_columns(ferry_column *columns, uint32_t count) {
  for (uint32_t i = 0; i < count; i++) {
    free((void *)columns[i].validity);
    free((void *)columns[i].values);
    free((void *)columns[i].offsets);
  }
  free(columns);
}

/* After the function returned: a reader that failed makes the call a bad
 * argument, unless the function reported something itself. */
static inline int ferry__check_reader(int status, const char *what, const ferry_reader *r) {
  if (!r->error || status == FERRY_ERROR || ferry__reported) return status;
  if (r->found)
    return ferry_bad_argument("%s: expected %s, found %s at byte %u", what, r->error, r->found,
                              (unsigned)r->error_at);
  return ferry_bad_argument("%s: %s at byte %u", what, r->error, (unsigned)r->error_at);
}

typedef int (*ferry__value_fn)(ferry_reader *env, ferry_reader *input, ferry_writer *result);

static inline int ferry__value_call(const char *function, ferry__value_fn f, void *env_ptr,
                                    size_t env_len, void *input_ptr, size_t input_len) {
  ferry__reported = false;
  ferry_reader env = ferry_reader_new(env_ptr, env_len);
  ferry_reader input = ferry_reader_new(input_ptr, input_len);
  ferry_writer result = {0};
  int status = f(&env, &input, &result);
  status = ferry__check_reader(status, "the input", &input);
  status = ferry__check_reader(status, "the environment", &env);
  if (status == FERRY_OK) {
    if (result.failed) status = ferry_fail("%s: out of memory writing the result", function);
    else if (result.len) ferry__result(result.data, result.len);
  }
  free(result.data);
  free(env_ptr);
  free(input_ptr);
  return status;
}

/* A batch of columns handed to a scalar function. */
typedef struct ferry_batch {
  ferry_reader env;              /* the captured environment (nil if none) */
  void *ferry__env;              /* the buffer it reads, the SDK's to free */
  const ferry_column *columns;   /* one per argument, the types declared */
  uint32_t count;                /* how many */
  uint32_t rows;                 /* rows of each, and of the result */
} ferry_batch;

/* Whether any argument of the row is null: a function that returns null
 * then does what SQL's built-in functions do. */
static inline bool ferry_any_null(const ferry_batch *b, uint32_t row) {
  for (uint32_t i = 0; i < b->count; i++)
    if (ferry_is_null(&b->columns[i], row)) return true;
  return false;
}

static inline int ferry__check_columns(const char *function, const ferry_column *columns,
                                       uint32_t count, uint32_t first, const uint32_t *types,
                                       uint32_t n, uint32_t rows) {
  if (count != first + n)
    return ferry_bad_argument("`%s` takes %u columns, not %u", function, (unsigned)(first + n),
                              (unsigned)count);
  for (uint32_t i = 0; i < n; i++) {
    const ferry_column *c = &columns[first + i];
    if (c->type != types[i])
      return ferry_bad_argument("argument %u of `%s` is %s, not %s", (unsigned)(i + 1), function,
                                ferry__type_name(c->type), ferry__type_name(types[i]));
    if (c->rows != rows)
      return ferry_bad_argument("the columns of `%s` have %u and %u rows", function,
                                (unsigned)rows, (unsigned)c->rows);
  }
  return FERRY_OK;
}

static inline int ferry__scalar_begin(ferry_batch *batch, ferry_output *out, const char *function,
                                      void *env, size_t env_len, ferry_column *columns,
                                      uint32_t count, const uint32_t *types, uint32_t n,
                                      uint32_t returns) {
  ferry__reported = false;
  memset(out, 0, sizeof *out);
  batch->env = ferry_reader_new(env, env_len);
  batch->ferry__env = env;
  batch->columns = columns;
  batch->count = count;
  batch->rows = count ? columns[0].rows : 1;
  int status = ferry__check_columns(function, columns, count, 0, types, n, batch->rows);
  if (status == FERRY_OK && !ferry__output_init(out, returns, batch->rows))
    status = ferry_fail("`%s`: cannot make a %s result of %u rows", function,
                        ferry__type_name(returns), (unsigned)batch->rows);
  return status;
}

static inline int ferry__scalar_end(ferry_batch *batch, ferry_output *out, const char *function,
                                    int status) {
  status = ferry__check_reader(status, "the environment", &batch->env);
  if (status == FERRY_OK) status = ferry__output_send(out, function);
  ferry__output_free(out);
  free(batch->ferry__env);
  ferry__free_columns((ferry_column *)batch->columns, batch->count);
  return status;
}

/* An aggregate call in progress: the groups' states, decoded. */
typedef struct ferry__aggregate {
  ferry_reader env;
  void *env_buffer;
  ferry_column *columns;
  uint32_t count;
  uint8_t *states;     /* groups × the state's size */
  uint8_t *fresh;      /* a group without a state yet: to initialize */
  uint32_t groups;     /* G */
  const uint32_t *group_of; /* the group of each row (update, merge) */
  uint32_t rows;       /* N or M */
} ferry__aggregate;

enum { FERRY__UPDATE, FERRY__MERGE, FERRY__FINISH };

static inline int ferry__aggregate_begin(ferry__aggregate *a, const char *function, int step,
                                         void *env, size_t env_len, ferry_column *columns,
                                         uint32_t count, size_t state_size,
                                         const uint32_t *types, uint32_t n) {
  static const uint32_t partials[1] = {FERRY_BINARY};
  ferry__reported = false;
  memset(a, 0, sizeof *a);
  a->env = ferry_reader_new(env, env_len);
  a->env_buffer = env;
  a->columns = columns;
  a->count = count;
  if (count < 1 || columns[0].type != FERRY_BINARY)
    return ferry_bad_argument("the first column of `%s` must be the states (binary)", function);
  a->groups = columns[0].rows;
  if (step != FERRY__FINISH) {
    if (count < 2 || columns[1].type != FERRY_UINT32 || columns[1].null_count)
      return ferry_bad_argument("the second column of `%s` must be groups (uint32, no nulls)",
                                function);
    a->rows = columns[1].rows;
    a->group_of = columns[1].values;
    int status = step == FERRY__UPDATE
                     ? ferry__check_columns(function, columns, count, 2, types, n, a->rows)
                     : ferry__check_columns(function, columns, count, 2, partials, 1, a->rows);
    if (status != FERRY_OK) return status;
    for (uint32_t row = 0; row < a->rows; row++)
      if (a->group_of[row] >= a->groups)
        return ferry_bad_argument("row %u of `%s` is in group %u of %u", (unsigned)row, function,
                                  (unsigned)a->group_of[row], (unsigned)a->groups);
  } else if (count != 1) {
    return ferry_bad_argument("`%s` finishes from the states alone, not %u columns", function,
                              (unsigned)count);
  }
  a->states = calloc(a->groups ? a->groups : 1, state_size);
  a->fresh = calloc(a->groups ? a->groups : 1, 1);
  if (!a->states || !a->fresh) return ferry_fail("`%s`: out of memory for %u states", function,
                                                 (unsigned)a->groups);
  for (uint32_t g = 0; g < a->groups; g++) {
    if (ferry_is_null(&columns[0], g)) {
      a->fresh[g] = 1;
      continue;
    }
    uint32_t len;
    const uint8_t *bytes = ferry_binary(&columns[0], g, &len);
    if (len != state_size)
      return ferry_bad_argument("the state of group %u of `%s` has %u bytes, not %u", (unsigned)g,
                                function, (unsigned)len, (unsigned)state_size);
    memcpy(a->states + g * state_size, bytes, state_size);
  }
  return FERRY_OK;
}

/* Sends the states (update, merge) or the results (finish), and frees. */
static inline int ferry__aggregate_end(ferry__aggregate *a, const char *function, int status,
                                       size_t state_size, ferry_output *results) {
  status = ferry__check_reader(status, "the environment", &a->env);
  if (status == FERRY_OK && results) {
    status = ferry__output_send(results, function);
  } else if (status == FERRY_OK) {
    int32_t *offsets = malloc(((size_t)a->groups + 1) * sizeof *offsets);
    if (!offsets) {
      status = ferry_fail("`%s`: out of memory for the states", function);
    } else {
      for (uint32_t g = 0; g <= a->groups; g++) offsets[g] = (int32_t)(g * state_size);
      ferry_column states = {FERRY_BINARY, a->groups, 0, NULL, a->groups ? a->states : NULL,
                             (uint32_t)(a->groups * state_size), offsets};
      ferry__result_column(&states);
      free(offsets);
    }
  }
  if (results) ferry__output_free(results);
  free(a->states);
  free(a->fresh);
  free(a->env_buffer);
  ferry__free_columns(a->columns, a->count);
  return status;
}

/* ---- declaring functions: the records and exports ------------------------------------ */

#define FERRY__STR(x) #x
#define FERRY__N(...) FERRY__N_(__VA_ARGS__, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define FERRY__N_(_1, _2, _3, _4, _5, _6, _7, _8, n, ...) n
#define FERRY__CAT(a, b) FERRY__CAT_(a, b)
#define FERRY__CAT_(a, b) a##b
/* f applied to each argument, joined by the string `sep`. */
#define FERRY__EACH(f, sep, ...) FERRY__CAT(FERRY__EACH, FERRY__N(__VA_ARGS__))(f, sep, __VA_ARGS__)
#define FERRY__EACH1(f, s, a) f(a)
#define FERRY__EACH2(f, s, a, ...) f(a) s FERRY__EACH1(f, s, __VA_ARGS__)
#define FERRY__EACH3(f, s, a, ...) f(a) s FERRY__EACH2(f, s, __VA_ARGS__)
#define FERRY__EACH4(f, s, a, ...) f(a) s FERRY__EACH3(f, s, __VA_ARGS__)
#define FERRY__EACH5(f, s, a, ...) f(a) s FERRY__EACH4(f, s, __VA_ARGS__)
#define FERRY__EACH6(f, s, a, ...) f(a) s FERRY__EACH5(f, s, __VA_ARGS__)
#define FERRY__EACH7(f, s, a, ...) f(a) s FERRY__EACH6(f, s, __VA_ARGS__)
#define FERRY__EACH8(f, s, a, ...) f(a) s FERRY__EACH7(f, s, __VA_ARGS__)

/* Type names, as written in the macros, to tags. */
#define FERRY__TAG_boolean FERRY_BOOLEAN
#define FERRY__TAG_int8 FERRY_INT8
#define FERRY__TAG_int16 FERRY_INT16
#define FERRY__TAG_int32 FERRY_INT32
#define FERRY__TAG_int64 FERRY_INT64
#define FERRY__TAG_uint8 FERRY_UINT8
#define FERRY__TAG_uint16 FERRY_UINT16
#define FERRY__TAG_uint32 FERRY_UINT32
#define FERRY__TAG_uint64 FERRY_UINT64
#define FERRY__TAG_float32 FERRY_FLOAT32
#define FERRY__TAG_float64 FERRY_FLOAT64
#define FERRY__TAG_utf8 FERRY_UTF8
#define FERRY__TAG_large_utf8 FERRY_LARGE_UTF8
#define FERRY__TAG_binary FERRY_BINARY
#define FERRY__TAG_date32 FERRY_DATE32
#define FERRY__TAG_timestamp_us FERRY_TIMESTAMP_US
#define FERRY__TAG(t) FERRY__TAG_##t
#define FERRY__TAG_ITEM(t) FERRY__TAG(t),

/* JSON inside the assembler's .ascii string: a quote is \" there. */
#define FERRY__Q "\\\""
#define FERRY__JSTR(s) FERRY__Q s FERRY__Q
#define FERRY__JTYPE(t) FERRY__JSTR(#t)
#define FERRY__FIELD(key, s) "," FERRY__JSTR(key) ":" FERRY__JSTR(s)
#define FERRY__RECORD(fields)                                            \
  __asm__(".section .custom_section.ferry.functions,\"\",@\n"       \
          ".ascii \"{" FERRY__Q "abi" FERRY__Q ":1" fields "}\\n\"\n" \
          ".text\n")

#define FERRY__VALUE(name, function, env_field, input, output)                                   \
  FERRY__RECORD(FERRY__FIELD("name", #name) FERRY__FIELD("kind", "value")                       \
                    FERRY__FIELD("export", "ferry_fn_" #name) env_field                         \
                        FERRY__FIELD("input", input) FERRY__FIELD("output", output)             \
                            FERRY__FIELD("sdk", FERRY_SDK));                                    \
  __attribute__((export_name("ferry_fn_" #name))) int ferry_fn_##name(                          \
      void *env_ptr, size_t env_len, void *input_ptr, size_t input_len) {                       \
    return ferry__value_call(#name, function, env_ptr, env_len, input_ptr, input_len);          \
  }

/* Exports `name`, defined above as
 *   int name(ferry_reader *env, ferry_reader *input, ferry_writer *result)
 * as a value function; `input` and `output` describe its types for people
 * and tools ("(int64, int64)", "Histogram"). */
#define FERRY_FUNCTION(name, input, output) FERRY__VALUE(name, name, "", input, output)
/* As FERRY_FUNCTION, for a function that reads a captured environment. */
#define FERRY_FUNCTION_WITH_ENV(name, env, input, output) \
  FERRY__VALUE(name, name, FERRY__FIELD("env", env), input, output)
/* As FERRY_FUNCTION, calling the C function `function` by the name `name`
 * (for a name C's library already uses, such as `abs`). */
#define FERRY_FUNCTION_AS(name, function, input, output) \
  FERRY__VALUE(name, function, "", input, output)

#define FERRY__COLUMNS_RECORD(name, kind, prefix, extra, returns, ...)                            \
  FERRY__RECORD(FERRY__FIELD("name", #name) FERRY__FIELD("kind", kind)                           \
                    FERRY__FIELD("export", prefix #name)                                         \
                        FERRY__FIELD("input", "(" FERRY__EACH(FERRY__STR, ", ", __VA_ARGS__) ")") \
                            FERRY__FIELD("output", #returns) "," FERRY__JSTR("args") ":["        \
                                FERRY__EACH(FERRY__JTYPE, ",", __VA_ARGS__) "],"                 \
                                    FERRY__JSTR("returns") ":" FERRY__JTYPE(returns) extra       \
                                        FERRY__FIELD("sdk", FERRY_SDK))

/* Exports `name`, defined above as
 *   int name(ferry_batch *batch, ferry_output *result)
 * as a SQL scalar function over columns of the given types, returning a
 * column of type `returns`: FERRY_SCALAR(gcd, int64, int64, int64).
 * Type names: boolean, int8..int64, uint8..uint64, float32, float64, utf8,
 * large_utf8 (arguments only), binary, date32, timestamp_us. */
#define FERRY_SCALAR(name, returns, ...) FERRY_SCALAR_AS(name, name, returns, __VA_ARGS__)
/* As FERRY_SCALAR, calling the C function `function` by the name `name`
 * (for a name C's library already uses, such as `div`). */
#define FERRY_SCALAR_AS(name, function, returns, ...)                                          \
  FERRY__COLUMNS_RECORD(name, "scalar", "ferry_udf_", "", returns, __VA_ARGS__);               \
  static const uint32_t ferry__args_##name[] = {FERRY__EACH(FERRY__TAG_ITEM, , __VA_ARGS__)}; \
  __attribute__((export_name("ferry_udf_" #name))) int ferry_udf_##name(                       \
      void *env, size_t env_len, ferry_column *columns, uint32_t count) {                      \
    ferry_batch batch;                                                                         \
    ferry_output result;                                                                       \
    int status = ferry__scalar_begin(&batch, &result, #name, env, env_len, columns, count,     \
                                     ferry__args_##name, FERRY__N(__VA_ARGS__),                \
                                     FERRY__TAG(returns));                                     \
    if (status == FERRY_OK) status = function(&batch, &result);                                \
    return ferry__scalar_end(&batch, &result, #name, status);                                  \
  }

/* Exports `name` as a SQL aggregate whose state is the struct `state`,
 * kept as its bytes. Define above it:
 *   void name_init(state *s, ferry_reader *env)            a group's first state
 *   int  name_update(state *s, const ferry_column *args, uint32_t row)
 *   void name_merge(state *s, const state *other)           order must not matter
 *   int  name_finish(const state *s, ferry_output *result, uint32_t group)
 * FERRY_AGGREGATE(geo_mean, geo_mean_state, float64, float64). */
#define FERRY_AGGREGATE(name, state, returns, ...)                                              \
  FERRY__COLUMNS_RECORD(name, "aggregate", "ferry_udaf_", "", returns, __VA_ARGS__);            \
  FERRY__AGGREGATE(name, state, returns, __VA_ARGS__)

/* As FERRY_AGGREGATE, with a step that takes a row back out of a state,
 * so that over a sliding window a row leaving the frame costs one row:
 *   int  name_retract(state *s, const ferry_column *args, uint32_t row)
 * undoing what name_update did with the row. */
#define FERRY_AGGREGATE_WITH_RETRACT(name, state, returns, ...)                                 \
  FERRY__COLUMNS_RECORD(name, "aggregate", "ferry_udaf_", "," FERRY__JSTR("retract") ":true", \
                        returns, __VA_ARGS__);                                                  \
  FERRY__AGGREGATE(name, state, returns, __VA_ARGS__)                                           \
  FERRY__FOLD(name, state, retract, __VA_ARGS__)

/* A step that folds rows into their groups' states: update, retract. */
#define FERRY__FOLD(name, state, step, ...)                                                     \
  __attribute__((export_name("ferry_udaf_" #name "_" #step))) int ferry_udaf_##name##_##step(   \
      void *env, size_t env_len, ferry_column *columns, uint32_t count) {                       \
    ferry__aggregate a;                                                                         \
    int status = ferry__aggregate_begin(&a, #name, FERRY__UPDATE, env, env_len, columns, count, \
                                        sizeof(state), ferry__args_##name,                      \
                                        FERRY__N(__VA_ARGS__));                                 \
    if (status == FERRY_OK) ferry__init_##name(&a);                                             \
    state *states = (state *)a.states;                                                          \
    for (uint32_t row = 0; status == FERRY_OK && row < a.rows; row++)                           \
      status = name##_##step(&states[a.group_of[row]], columns + 2, row);                       \
    return ferry__aggregate_end(&a, #name, status, sizeof(state), NULL);                        \
  }

#define FERRY__AGGREGATE(name, state, returns, ...)                                             \
  static const uint32_t ferry__args_##name[] = {FERRY__EACH(FERRY__TAG_ITEM, , __VA_ARGS__)}; \
  static inline void ferry__init_##name(ferry__aggregate *a) {                                  \
    for (uint32_t g = 0; g < a->groups; g++)                                                    \
      if (a->fresh[g]) {                                                                        \
        ferry_reader env = a->env;                                                              \
        name##_init((state *)a->states + g, &env);                                              \
        if (env.error) a->env = env;                                                            \
      }                                                                                         \
  }                                                                                             \
  FERRY__FOLD(name, state, update, __VA_ARGS__)                                                 \
  __attribute__((export_name("ferry_udaf_" #name "_merge"))) int ferry_udaf_##name##_merge(     \
      void *env, size_t env_len, ferry_column *columns, uint32_t count) {                       \
    ferry__aggregate a;                                                                         \
    int status = ferry__aggregate_begin(&a, #name, FERRY__MERGE, env, env_len, columns, count,  \
                                        sizeof(state), NULL, 0);                                \
    if (status == FERRY_OK) ferry__init_##name(&a);                                             \
    state *states = (state *)a.states;                                                          \
    for (uint32_t row = 0; status == FERRY_OK && row < a.rows; row++) {                         \
      if (ferry_is_null(&columns[2], row)) continue;                                            \
      uint32_t len;                                                                             \
      const uint8_t *bytes = ferry_binary(&columns[2], row, &len);                              \
      state other;                                                                              \
      if (len != sizeof other)                                                                  \
        status = ferry_bad_argument("partial state %u of `%s` has %u bytes, not %u",            \
                                    (unsigned)row, #name, (unsigned)len, (unsigned)sizeof other); \
      else                                                                                      \
        memcpy(&other, bytes, sizeof other), name##_merge(&states[a.group_of[row]], &other);    \
    }                                                                                           \
    return ferry__aggregate_end(&a, #name, status, sizeof(state), NULL);                        \
  }                                                                                             \
  __attribute__((export_name("ferry_udaf_" #name "_finish"))) int ferry_udaf_##name##_finish(   \
      void *env, size_t env_len, ferry_column *columns, uint32_t count) {                       \
    ferry__aggregate a;                                                                         \
    ferry_output result;                                                                        \
    memset(&result, 0, sizeof result);                                                          \
    int status = ferry__aggregate_begin(&a, #name, FERRY__FINISH, env, env_len, columns, count, \
                                        sizeof(state), NULL, 0);                                \
    if (status == FERRY_OK && !ferry__output_init(&result, FERRY__TAG(returns), a.groups))      \
      status = ferry_fail("`%s`: cannot make a result of %u rows", #name, (unsigned)a.groups);  \
    if (status == FERRY_OK) ferry__init_##name(&a);                                             \
    const state *states = (const state *)a.states;                                              \
    for (uint32_t g = 0; status == FERRY_OK && g < a.groups; g++)                               \
      status = name##_finish(&states[g], &result, g);                                           \
    return ferry__aggregate_end(&a, #name, status, sizeof(state), &result);                     \
  }

#endif /* FERRY_H */
