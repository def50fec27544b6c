// ferry for AssemblyScript: what the exports `ferry build` writes from a
// guest's //ferry: directives call, and what a guest uses itself (`fail`,
// `setNull`, `Reader` and `Writer` for values, blobs). The ABI is
// docs/abi.md, version 1.

// ---- imports (§4) ----------------------------------------------------------

@external("ferry_v1", "result")
declare function hostResult(ptr: usize, len: u32): void;

@external("ferry_v1", "error")
declare function hostError(ptr: usize, len: u32): void;

@external("ferry_v1", "panic")
declare function hostPanic(msg: usize, msgLen: u32, file: usize, fileLen: u32, line: u32, column: u32): void;

@external("ferry_v1", "result_column")
declare function hostResultColumn(descriptor: usize): void;

@external("ferry_v1", "blob_len")
declare function hostBlobLen(name: usize, nameLen: u32): i64;

@external("ferry_v1", "blob_read")
declare function hostBlobRead(name: usize, nameLen: u32, offset: i64, dst: usize, dstLen: u32): i64;

// ---- memory ------------------------------------------------------------------

// What the host was handed, outside the collector's heap, freed when the
// call it was for ends.
const live = new Array<usize>();

export function ferry_alloc(size: u32, align: u32): usize {
  if (align == 0 || (align & (align - 1)) != 0) return 0;
  const block = heap.alloc(<usize>size + align);
  live.push(block);
  return (block + align - 1) & ~(<usize>align - 1);
}

export function ferry_free(ptr: usize, size: u32, align: u32): void {
  // Freed with the rest when the call ends: the block's start is not `ptr`.
}

function freeArguments(): void {
  for (let i = 0; i < live.length; i++) heap.free(live[i]);
  live.length = 0;
}

// `throw` and failed assertions end here (`ferry build` passes
// `--use abort=...`): the ABI's panic, with the file and line.
export function abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  const text = String.UTF8.encode(message != null ? message : "abort");
  const file = String.UTF8.encode(fileName != null ? fileName : "");
  hostPanic(changetype<usize>(text), text.byteLength, changetype<usize>(file), file.byteLength, line, column);
  unreachable();
}

// ---- failing and nulls -----------------------------------------------------

let failure: string | null = null;
let nullResult = false;

/** Fails the call (a scalar's or aggregate's row) with `message`: return
 *  after calling it, with any value. */
export function fail(message: string): void {
  failure = message;
}

/** Whether the function called `fail`. */
export function failed(): bool {
  return failure != null;
}

/** Makes the row's result null: return after calling it, with any value. */
export function setNull(): void {
  nullResult = true;
}

/** `x` as Rust's `Display` writes a float: `2`, not `2.0`. */
export function formatFloat(x: f64): string {
  if (x == Math.trunc(x) && Math.abs(x) < 9007199254740992) return (<i64>x).toString();
  return x.toString();
}

const OK: u32 = 0;
const ERROR: u32 = 1;
const BAD_ARGUMENT: u32 = 2;

function report(status: u32, message: string): u32 {
  const text = String.UTF8.encode(message);
  hostError(changetype<usize>(text), text.byteLength);
  return status;
}

// ---- blobs -----------------------------------------------------------------

/** The whole data blob of that name attached to the closure, or null if
 *  there is none. */
export function blob(name: string): ArrayBuffer | null {
  const key = String.UTF8.encode(name);
  const n = hostBlobLen(changetype<usize>(key), key.byteLength);
  if (n < 0) return null;
  const data = new ArrayBuffer(<i32>n);
  hostBlobRead(changetype<usize>(key), key.byteLength, 0, changetype<usize>(data), <u32>n);
  return data;
}

// ---- values (§3) -------------------------------------------------------------

/** A MessagePack reader with a sticky error: read everything, check `ok`
 *  (or let the call check it) once. Values read after an error are zeros. */
export class Reader {
  private at: u32 = 0;
  problem: string | null = null;

  constructor(private ptr: usize, private len: u32) {}

  get ok(): bool {
    return this.problem == null;
  }

  private fail(problem: string): void {
    if (this.problem == null) this.problem = problem + " at byte " + this.at.toString();
  }

  private peek(): u8 {
    if (this.at >= this.len) {
      this.fail("the value ends early");
      return 0xc1;
    }
    return load<u8>(this.ptr + this.at);
  }

  private big(width: u32): u64 {
    if (this.len - this.at < width) {
      this.fail("the value ends early");
      return 0;
    }
    let n: u64 = 0;
    for (let i: u32 = 0; i < width; i++) n = (n << 8) | load<u8>(this.ptr + this.at + i);
    this.at += width;
    return n;
  }

  private mismatch(expected: string): void {
    if (this.problem != null) return;
    const b = this.peek();
    if (this.problem == null) this.fail("expected " + expected + ", found " + kind(b));
  }

  /** nil: true, and read, if the next value is nil. */
  readNil(): bool {
    if (this.ok && this.peek() == 0xc0) {
      this.at++;
      return true;
    }
    return false;
  }

  readBool(): bool {
    const b = this.peek();
    if (b == 0xc2 || b == 0xc3) {
      this.at++;
      return b == 0xc3;
    }
    this.mismatch("a boolean");
    return false;
  }

  /** An integer that fits an i64. */
  readI64(): i64 {
    const b = this.peek();
    if (!this.ok) return 0;
    if (b <= 0x7f) {
      this.at++;
      return b;
    }
    if (b >= 0xe0) {
      this.at++;
      return <i8>b;
    }
    if (b >= 0xcc && b <= 0xcf) {
      this.at++;
      const n = this.big(1 << (b - 0xcc));
      if (n > <u64>i64.MAX_VALUE) this.fail("the integer " + n.toString() + " does not fit in an i64");
      return <i64>n;
    }
    if (b >= 0xd0 && b <= 0xd3) {
      this.at++;
      const width: u32 = 1 << (b - 0xd0);
      const shift: u64 = 64 - 8 * width;
      return (<i64>(this.big(width) << shift)) >> shift;
    }
    this.mismatch("an integer");
    return 0;
  }

  /** A signed integer that fits in `bits` bits. */
  readInt(bits: u32): i64 {
    const start = this.at;
    const n = this.readI64();
    const limit = <i64>1 << (bits - 1);
    if (bits < 64 && (n < -limit || n >= limit)) {
      this.at = start;
      this.fail("the integer " + n.toString() + " does not fit in an i" + bits.toString());
    }
    return n;
  }

  /** An unsigned integer that fits in `bits` bits. */
  readUint(bits: u32): u64 {
    const start = this.at;
    const n = this.readU64();
    if (bits < 64 && n >= (<u64>1 << bits)) {
      this.at = start;
      this.fail("the integer " + n.toString() + " does not fit in a u" + bits.toString());
    }
    return n;
  }

  /** An integer that is not negative. */
  readU64(): u64 {
    const b = this.peek();
    if (b >= 0xcc && b <= 0xcf) {
      this.at++;
      return this.big(1 << (b - 0xcc));
    }
    const n = this.readI64();
    if (n < 0) this.fail("expected an unsigned integer, found a negative one");
    return <u64>n;
  }

  /** A float, or an integer as one. */
  readF64(): f64 {
    const b = this.peek();
    if (b == 0xca) {
      this.at++;
      return <f64>reinterpret<f32>(<u32>this.big(4));
    }
    if (b == 0xcb) {
      this.at++;
      return reinterpret<f64>(this.big(8));
    }
    if (kind(b) == "an integer") return <f64>this.readI64();
    this.mismatch("a number");
    return 0;
  }

  /** A string (or binary), as a string. */
  readString(): string {
    const n = this.header(0xa0, 32, 0xd9, "a string", 0xc4);
    if (!this.ok) return "";
    if (this.len - this.at < n) {
      this.fail("the value ends early");
      return "";
    }
    const text = String.UTF8.decodeUnsafe(this.ptr + this.at, n);
    this.at += n;
    return text;
  }

  /** An array's length; its values follow. */
  readArray(): u32 {
    return this.header(0x90, 16, 0xdb, "an array", 0);
  }

  /** A map's number of entries; key, value, key, value follow. */
  readMap(): u32 {
    return this.header(0x80, 16, 0xdd, "a map", 0);
  }

  // Headers: fix|n below fix + fixCount, else one of three widths (8, 16,
  // 32 bits) after `first` (arrays and maps have no 8-bit form: their
  // 16-bit one is first + 1), or binary's three after `binary`.
  private header(fix: u8, fixCount: u8, first: u8, what: string, binary: u8): u32 {
    const b = this.peek();
    if (!this.ok) return 0;
    if (b >= fix && b < fix + fixCount) {
      this.at++;
      return b - fix;
    }
    for (let i: u8 = 0; i < 3; i++) {
      const width: u32 = 1 << i;
      if (b == first + i && (fix == 0xa0 || i > 0)) {
        this.at++;
        return <u32>this.big(width);
      }
      if (binary != 0 && b == binary + i) {
        this.at++;
        return <u32>this.big(width);
      }
    }
    this.mismatch(what);
    return 0;
  }

  /** An array of exactly n values, which follow. */
  readTuple(n: u32): void {
    const found = this.readArray();
    if (this.ok && found != n) this.fail("expected " + n.toString() + " values, found " + found.toString());
  }

  /** Skips a value. */
  skip(): void {
    const b = this.peek();
    if (!this.ok) return;
    const what = kind(b);
    if (what == "nil" || what == "a boolean") this.at++;
    else if (what == "an integer") {
      if (b >= 0xcc && b <= 0xcf) this.readU64();
      else this.readI64();
    }
    else if (what == "a float") this.readF64();
    else if (what == "a string" || what == "binary") this.readString();
    else if (what == "an array") {
      const n = this.readArray();
      for (let i: u32 = 0; i < n && this.ok; i++) this.skip();
    } else if (what == "a map") {
      const n = this.readMap();
      for (let i: u32 = 0; i < n * 2 && this.ok; i++) this.skip();
    } else this.fail("cannot read " + what);
  }

  /** Fails unless the whole buffer was one value. */
  end(): void {
    if (this.ok && this.at != this.len) this.fail("one value, then more bytes");
  }
}

function kind(b: u8): string {
  if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3)) return "an integer";
  if (b <= 0x8f || b == 0xde || b == 0xdf) return "a map";
  if (b <= 0x9f || b == 0xdc || b == 0xdd) return "an array";
  if (b <= 0xbf || (b >= 0xd9 && b <= 0xdb)) return "a string";
  if (b == 0xc0) return "nil";
  if (b == 0xc2 || b == 0xc3) return "a boolean";
  if (b >= 0xc4 && b <= 0xc6) return "binary";
  if (b == 0xca || b == 0xcb) return "a float";
  return "an extension value";
}

/** A MessagePack writer, writing integers in their smallest form. */
export class Writer {
  bytes: u8[] = [];

  private big(n: u64, width: u32): void {
    for (let i: i32 = <i32>width - 1; i >= 0; i--) this.bytes.push(<u8>(n >> (<u64>i * 8)));
  }

  writeNil(): void {
    this.bytes.push(0xc0);
  }

  writeBool(b: bool): void {
    this.bytes.push(b ? 0xc3 : 0xc2);
  }

  writeU64(n: u64): void {
    if (n < 128) this.bytes.push(<u8>n);
    else if (n <= 0xff) { this.bytes.push(0xcc); this.big(n, 1); }
    else if (n <= 0xffff) { this.bytes.push(0xcd); this.big(n, 2); }
    else if (n <= 0xffffffff) { this.bytes.push(0xce); this.big(n, 4); }
    else { this.bytes.push(0xcf); this.big(n, 8); }
  }

  writeI64(n: i64): void {
    if (n >= 0) this.writeU64(<u64>n);
    else if (n >= -32) this.bytes.push(<u8>n);
    else if (n >= -128) { this.bytes.push(0xd0); this.big(<u64>n, 1); }
    else if (n >= -32768) { this.bytes.push(0xd1); this.big(<u64>n, 2); }
    else if (n >= -2147483648) { this.bytes.push(0xd2); this.big(<u64>n, 4); }
    else { this.bytes.push(0xd3); this.big(<u64>n, 8); }
  }

  writeF64(x: f64): void {
    this.bytes.push(0xcb);
    this.big(reinterpret<u64>(x), 8);
  }

  writeString(s: string): void {
    const text = Uint8Array.wrap(String.UTF8.encode(s));
    this.header(0xa0, 32, 0xd9, text.length);
    for (let i = 0; i < text.length; i++) this.bytes.push(text[i]);
  }

  writeArray(n: u32): void {
    this.header(0x90, 16, 0xdc - 1, n);
  }

  writeMap(n: u32): void {
    this.header(0x80, 16, 0xde - 1, n);
  }

  private header(fix: u8, fixCount: u32, first: u8, n: u32): void {
    if (n < fixCount) this.bytes.push(fix | <u8>n);
    else if (n <= 0xff && fix == 0xa0) { this.bytes.push(first); this.big(n, 1); }
    else if (n <= 0xffff) { this.bytes.push(first + 1); this.big(n, 2); }
    else { this.bytes.push(first + 2); this.big(n, 4); }
  }
}

/** A value call (§3): the exports `ferry build` writes read the
 *  environment and input from it and hand it the result. */
export class ValueCall {
  env: Reader;
  input: Reader;
  writer: Writer = new Writer();

  constructor(envPtr: usize, envLen: u32, inputPtr: usize, inputLen: u32) {
    failure = null;
    // A nil argument is one byte, c0; hosts before December 2026 passed none.
    this.env = envLen == 0 ? nilReader() : new Reader(envPtr, envLen);
    this.input = inputLen == 0 ? nilReader() : new Reader(inputPtr, inputLen);
  }

  /** Status 2 if an argument did not read: call after reading them (each
   *  only if the function takes it: one without ignores it). */
  badArguments(withEnv: bool, withInput: bool): u32 {
    if (withEnv) this.env.end();
    if (withInput) this.input.end();
    let status = OK;
    if (!this.env.ok) status = report(BAD_ARGUMENT, "the environment: " + this.env.problem!);
    else if (!this.input.ok) status = report(BAD_ARGUMENT, "the input: " + this.input.problem!);
    if (status != OK) freeArguments();
    return status;
  }

  /** The call's status after the function ran and the result was written. */
  finish(): u32 {
    freeArguments();
    if (failure != null) return report(ERROR, failure!);
    const bytes = this.writer.bytes;
    hostResult(bytes.dataStart, bytes.length);
    return OK;
  }
}

const NIL = memory.data<u8>([0xc0]);

function nilReader(): Reader {
  return new Reader(NIL, 1);
}

// ---- columns (§8) ------------------------------------------------------------

const BOOLEAN: u32 = 1;
const UTF8: u32 = 12;
const BINARY: u32 = 14;
const TYPE_NAMES: string[] = ["?", "boolean", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
  "uint64", "float32", "float64", "utf8", "large_utf8", "binary", "date32", "timestamp_us"];

/** The column type tag of T. */
function tagOf<T>(): u32 {
  if (isBoolean<T>()) return BOOLEAN;
  if (isString<T>()) return UTF8;
  if (isReference<T>()) return BINARY;
  if (isFloat<T>()) return sizeof<T>() == 4 ? 10 : 11;
  const log = sizeof<T>() == 1 ? 0 : sizeof<T>() == 2 ? 1 : sizeof<T>() == 4 ? 2 : 3;
  return (isSigned<T>() ? 2 : 6) + log;
}

/** Whether `s` is Unicode text: UTF-16 with every surrogate paired, so
 *  that it has a UTF-8 form. */
function wellFormed(s: string): bool {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c > 0xdbff || i + 1 == s.length) return false;
    const next = s.charCodeAt(i + 1);
    if (next < 0xdc00 || next > 0xdfff) return false;
    i++;
  }
  return true;
}

/** An argument column, read in place. (The methods called for each row,
 *  here and in `Output` and `Call`, are `@inline`: as calls they cost a
 *  gcd over 10M rows a fifth of its time (407 against 323 ms); docs/perf.md.) */
export class Column<T> {
  constructor(
    private validity: usize,
    private values: usize,
    private offsets: usize,
  ) {}

  @inline
  isNull(row: i32): bool {
    return this.validity != 0 && (load<u8>(this.validity + (row >> 3)) & (1 << (row & 7))) == 0;
  }

  @inline
  get(row: i32): T {
    if (isBoolean<T>()) {
      return <T>((load<u8>(this.values + (row >> 3)) & (1 << (row & 7))) != 0);
    } else if (isString<T>()) {
      const start = load<i32>(this.offsets + (<usize>row << 2));
      const end = load<i32>(this.offsets + (<usize>(row + 1) << 2));
      return changetype<T>(String.UTF8.decodeUnsafe(this.values + start, end - start));
    } else if (isReference<T>()) {
      const start = load<i32>(this.offsets + (<usize>row << 2));
      const end = load<i32>(this.offsets + (<usize>(row + 1) << 2));
      const bytes = new ArrayBuffer(end - start);
      memory.copy(changetype<usize>(bytes), this.values + start, end - start);
      return changetype<T>(bytes);
    } else {
      return load<T>(this.values + (<usize>row << alignof<T>()));
    }
  }
}

function setBit(bits: u8[], row: i32): void {
  bits[row >> 3] = bits[row >> 3] | (<u8>1 << <u8>(row & 7));
}

/** A result column, written a row at a time, in order. */
export class Output<T> {
  private values: u8[] = [];
  private offsets: i32[] = [0];
  private validity: u8[] = [];
  private nulls: u32 = 0;

  constructor(private rows: i32) {
    if (isBoolean<T>()) this.values = new Array<u8>((rows + 7) >> 3);
    else if (!isReference<T>()) this.values = new Array<u8>(rows * sizeof<T>());
  }

  @inline
  set(row: i32, value: T): void {
    if (this.validity.length > 0) setBit(this.validity, row);
    if (isBoolean<T>()) {
      if (value) setBit(this.values, row);
    } else if (isReference<T>()) {
      const bytes = isString<T>()
        ? Uint8Array.wrap(String.UTF8.encode(changetype<string>(value)))
        : Uint8Array.wrap(changetype<ArrayBuffer>(value));
      for (let i = 0; i < bytes.length; i++) this.values.push(bytes[i]);
      this.offsets.push(this.values.length);
    } else {
      store<T>(this.values.dataStart + (<usize>row << alignof<T>()), value);
    }
  }

  setNull(row: i32): void {
    if (this.validity.length == 0) {
      this.validity = new Array<u8>((this.rows + 7) >> 3);
      for (let i = 0; i < row; i++) setBit(this.validity, i);
    }
    this.nulls++;
    if (isReference<T>()) this.offsets.push(this.values.length);
  }

  send(): void {
    const d = memory.data(28);
    store<u32>(d, tagOf<T>());
    store<u32>(d, this.rows, 4);
    store<u32>(d, this.nulls, 8);
    store<u32>(d, this.nulls > 0 ? this.validity.dataStart : 0, 12);
    store<u32>(d, this.values.length > 0 ? this.values.dataStart : 0, 16);
    store<u32>(d, this.values.length, 20);
    store<u32>(d, this.offsets.dataStart, 24);
    hostResultColumn(d);
  }
}

/** A batch call (§8, §9): the exports `ferry build` writes read their
 *  columns from it, and it reports how the call ended. */
export class Call {
  rows: i32 = 1;
  private problem: string | null = null;
  private status: u32 = OK;

  constructor(envPtr: usize, envLen: u32, private columns: usize, private count: u32, want: u32) {
    failure = null;
    nullResult = false;
    if (count != want) this.badArgument(count.toString() + " columns, expected " + want.toString());
    else if (count > 0) this.rows = <i32>this.field(0, 4);
  }

  private field(column: u32, offset: usize): usize {
    return load<u32>(this.columns + <usize>column * 28 + offset);
  }

  private badArgument(problem: string): void {
    if (this.status == OK) {
      this.status = BAD_ARGUMENT;
      this.problem = problem;
    }
  }

  /** Whether the call goes on. */
  @inline
  ok(): bool {
    return this.status == OK;
  }

  /** Column i, of Ts; one of another type, or of another length than
   *  `lengthOf`'s, is a bad argument. */
  arg<T>(i: u32, lengthOf: u32 = 0): Column<T> {
    const tag = this.field(i, 0);
    if (tag != tagOf<T>()) {
      this.badArgument("argument " + (i + 1).toString() + " is a " + (tag < 17 ? TYPE_NAMES[<i32>tag] : "?") +
        " column, expected " + TYPE_NAMES[tagOf<T>()]);
    } else if (this.field(i, 4) != this.field(lengthOf, 4)) {
      this.badArgument("column " + (i + 1).toString() + " has " + this.field(i, 4).toString() + " rows, column " +
        (lengthOf + 1).toString() + " " + this.field(lengthOf, 4).toString());
    }
    if (this.status != OK) return new Column<T>(0, 0, 0);
    return new Column<T>(this.field(i, 12), this.field(i, 16), this.field(i, 24));
  }

  /** How many rows column i has. */
  length(i: u32): i32 {
    return <i32>this.field(i, 4);
  }

  /** Writes a row of the result: `value`, or a null if the function called
   *  `setNull`; or ends the call if it called `fail`. */
  @inline
  put<T>(out: Output<T>, row: i32, value: T): void {
    if (isString<T>() && failure == null && !nullResult && !wellFormed(changetype<string>(value))) {
      failure = "the result is not Unicode text (it has a lone surrogate)";
    }
    if (failure != null) {
      this.status = ERROR;
      this.problem = "row " + row.toString() + ": " + failure!;
    } else if (nullResult) {
      nullResult = false;
      out.setNull(row);
    } else {
      out.set(row, value);
    }
  }

  /** Ends the call if the function called `fail` for `row`. */
  check(row: i32): void {
    if (failure != null) {
      this.status = ERROR;
      this.problem = "row " + row.toString() + ": " + failure!;
    }
  }

  /** The call's status: the result sent, or the error reported. */
  finish<T>(out: Output<T>): u32 {
    freeArguments();
    if (this.status != OK) return report(this.status, this.problem!);
    out.send();
    return OK;
  }

  // ---- aggregates (§9) ----

  /** The states (column 0) of a state class S of `size` bytes, in one
   *  buffer, a group after another; a group without one starts as `fresh`. */
  states(size: usize, fresh: usize): States {
    const groups = this.length(0);
    const states = new States(groups, size);
    const column = this.arg<ArrayBuffer>(0, 0);
    if (!this.ok()) return states;
    const values = this.field(0, 16), offsets = this.field(0, 24);
    for (let g = 0; g < groups; g++) {
      if (column.isNull(g)) {
        memory.copy(states.at(g), fresh, size);
        continue;
      }
      const start = load<i32>(offsets + (<usize>g << 2));
      const end = load<i32>(offsets + (<usize>(g + 1) << 2));
      if (<usize>(end - start) != size) {
        this.badArgument("a state of " + (end - start).toString() + " bytes, expected " + size.toString());
        return states;
      }
      memory.copy(states.at(g), values + start, size);
    }
    return states;
  }

  /** Column 1: the group of each row, checked against the states. */
  groups(): Column<u32> {
    const column = this.arg<u32>(1, 1);
    for (let row = 0; row < this.length(1) && this.ok(); row++) {
      if (column.get(row) >= <u32>this.length(0)) {
        this.badArgument("row " + row.toString() + " names group " + column.get(row).toString() + " of " +
          this.length(0).toString());
      }
    }
    return column;
  }

  /** A partial state of `size` bytes from column 2, row `row`; 0 for a null. */
  partial(row: i32, size: usize): usize {
    const values = this.field(2, 16), offsets = this.field(2, 24), validity = this.field(2, 12);
    if (validity != 0 && (load<u8>(validity + (row >> 3)) & (1 << (row & 7))) == 0) return 0;
    const start = load<i32>(offsets + (<usize>row << 2));
    const end = load<i32>(offsets + (<usize>(row + 1) << 2));
    if (<usize>(end - start) != size) {
      this.badArgument("a partial state of " + (end - start).toString() + " bytes, expected " + size.toString());
      return 0;
    }
    return values + start;
  }

  /** The call's status: the new states sent, or the error reported. */
  finishStates(states: States): u32 {
    freeArguments();
    if (this.status != OK) return report(this.status, this.problem!);
    const offsets = new Array<i32>(states.count + 1);
    for (let g = 0; g <= states.count; g++) offsets[g] = g * <i32>states.size;
    const d = memory.data(28);
    store<u32>(d, BINARY);
    store<u32>(d, states.count, 4);
    store<u32>(d, 0, 8);
    store<u32>(d, 0, 12);
    store<u32>(d, states.count > 0 ? states.bytes.dataStart : 0, 16);
    store<u32>(d, states.bytes.length, 20);
    store<u32>(d, offsets.dataStart, 24);
    hostResultColumn(d);
    return OK;
  }
}

/** An aggregate's states, a group after another in one buffer. */
export class States {
  bytes: u8[];

  constructor(public count: i32, public size: usize) {
    this.bytes = new Array<u8>(count * <i32>size);
  }

  /** Where group g's state is: `changetype<S>(states.at(g))` is it. */
  at(g: u32): usize {
    return this.bytes.dataStart + <usize>g * this.size;
  }
}
