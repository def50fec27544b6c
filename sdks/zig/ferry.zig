//! ferry for Zig, ABI version 1 (docs/abi.md): ordinary Zig functions made
//! ferry functions at compile time. Each declaration below reads a
//! function's (or a state type's) signature and writes the export the ABI
//! names and the record in the `ferry.functions` section:
//!
//!     comptime {
//!         _ = ferry.Scalar("gcd", gcd);                   // fn (i64, i64) i64
//!         _ = ferry.Aggregate("geo_mean", GeoMean);       // init, update, merge, finish
//!         _ = ferry.FunctionWithEnv("fill", fill);        // fn (Spec, Range) !Histogram
//!     }
//!
//! Build with `ferry build file.zig`. See sdks/zig/README.md.

const std = @import("std");

/// What produced the records.
pub const sdk = "ferry-zig/0.1.0";

// ---- imports (module ferry_v1, §4) ------------------------------------------

const host = struct {
    extern "ferry_v1" fn result(ptr: [*]const u8, len: usize) void;
    extern "ferry_v1" fn @"error"(ptr: [*]const u8, len: usize) void;
    extern "ferry_v1" fn panic(
        msg: [*]const u8,
        msg_len: usize,
        file: [*]const u8,
        file_len: usize,
        line: u32,
        column: u32,
    ) noreturn;
    extern "ferry_v1" fn blob_len(name: [*]const u8, name_len: usize) i64;
    extern "ferry_v1" fn blob_read(name: [*]const u8, name_len: usize, offset: i64, dst: [*]u8, dst_len: usize) i64;
    extern "ferry_v1" fn result_column(descriptor: *const Column) void;
};

// ---- memory -------------------------------------------------------------------

/// Everything a call allocates, the host's arguments included, comes from
/// one arena that is emptied when the call returns: no call leaks into the
/// next when the host keeps an instance. Allocate what must outlive a call
/// (an actor's state) from `std.heap.wasm_allocator` instead.
var arena_state = std.heap.ArenaAllocator.init(std.heap.wasm_allocator);

/// The call's allocator: freed, all of it, when the call returns.
pub const allocator = arena_state.allocator();

fn endCall() void {
    _ = arena_state.reset(.retain_capacity);
}

fn ferryAlloc(size: usize, alignment: usize) callconv(.c) ?[*]u8 {
    if (alignment == 0 or !std.math.isPowerOfTwo(alignment)) return null;
    return allocator.rawAlloc(@max(size, 1), std.mem.Alignment.fromByteUnits(alignment), @returnAddress());
}

fn ferryFree(ptr: [*]u8, size: usize, alignment: usize) callconv(.c) void {
    // The arena frees when the call ends.
    _ = ptr;
    _ = size;
    _ = alignment;
}

comptime {
    @export(&ferryAlloc, .{ .name = "ferry_alloc" });
    @export(&ferryFree, .{ .name = "ferry_free" });
}

// ---- failures -----------------------------------------------------------------

/// The error a function returns after `fail` gave its message.
pub const Failure = error{Failed};

/// The message of the last `fail` in this call, reported when the function
/// returns its error (with `row N: ` for a row of a batch).
var failure: ?[]const u8 = null;

/// Fails the function with a formatted message; return what it returns:
/// `return ferry.fail("cannot divide {d} by zero", .{a});`
pub fn fail(comptime format: []const u8, args: anytype) Failure {
    failure = std.fmt.allocPrint(allocator, format, args) catch "out of memory formatting an error";
    return error.Failed;
}

fn report(comptime format: []const u8, args: anytype) void {
    const message = std.fmt.allocPrint(allocator, format, args) catch "out of memory formatting an error";
    host.@"error"(message.ptr, message.len);
}

fn beginCall() void {
    failure = null;
}

/// Ends the call at once with a message and where it was raised, as a Rust
/// guest's panic does.
pub fn panic(comptime format: []const u8, args: anytype, src: std.builtin.SourceLocation) noreturn {
    const message = std.fmt.allocPrint(allocator, format, args) catch format;
    host.panic(message.ptr, message.len, src.file.ptr, src.file.len, src.line, src.column);
}

/// Reports an error the function returned: the message `fail` gave, or
/// else the error's name. `prefix` is `row N: ` for a row of a batch.
fn reportError(err: anyerror, comptime prefix: []const u8, args: anytype) void {
    const text = if (err == error.Failed) failure orelse @errorName(err) else @errorName(err);
    report(prefix ++ "{s}", args ++ .{text});
}

fn badArgument(comptime format: []const u8, args: anytype) i32 {
    report(format, args);
    return 2;
}

// ---- blobs ------------------------------------------------------------------------

/// The size of the closure's blob of that name, or null if it has none.
pub fn blobLen(name: []const u8) ?u64 {
    const len = host.blob_len(name.ptr, name.len);
    return if (len < 0) null else @intCast(len);
}

/// Copies the blob's bytes from `offset` into `buffer`; how many, or null if
/// there is no such blob.
pub fn blobRead(name: []const u8, offset: u64, buffer: []u8) ?usize {
    const n = host.blob_read(name.ptr, name.len, @intCast(offset), buffer.ptr, buffer.len);
    return if (n < 0) null else @intCast(n);
}

// ---- records ------------------------------------------------------------------------

/// A JSON string inside the assembler's .ascii string, where a quote is \".
fn jstr(comptime s: []const u8) []const u8 {
    return "\\\"" ++ s ++ "\\\"";
}

fn field(comptime key: []const u8, comptime value: []const u8) []const u8 {
    return "," ++ jstr(key) ++ ":" ++ jstr(value);
}

/// Puts a record in the module's `ferry.functions` section.
fn record(comptime fields: []const u8) []const u8 {
    return ".section .custom_section.ferry.functions,\"\",@\n" ++
        ".ascii \"{" ++ jstr("abi") ++ ":1" ++ fields ++ field("sdk", sdk) ++ "}\\n\"\n" ++
        ".text\n";
}

/// A type as records describe it to people: `[]const u8` as `str`.
fn describe(comptime T: type) []const u8 {
    if (T == []const u8) return "str";
    return switch (@typeInfo(T)) {
        .optional => |o| "Option<" ++ describe(o.child) ++ ">",
        .error_union => |e| "Result<" ++ describe(e.payload) ++ ", String>",
        else => blk: {
            const name = @typeName(T);
            const dot = std.mem.lastIndexOfScalar(u8, name, '.');
            break :blk if (dot) |i| name[i + 1 ..] else name;
        },
    };
}

fn describeAll(comptime types: []const type) []const u8 {
    comptime var text: []const u8 = "(";
    inline for (types, 0..) |T, i| text = text ++ (if (i > 0) ", " else "") ++ describe(T);
    return text ++ ")";
}

// ---- columns (§8) ----------------------------------------------------------------------

/// A column as the host describes it: the 28-byte descriptor of §8.
pub const Column = extern struct {
    type: u32,
    rows: u32,
    null_count: u32,
    validity: ?[*]const u8,
    values: ?[*]const u8,
    values_len: u32,
    offsets: ?[*]const u8,

    fn isNull(c: *const Column, row: usize) bool {
        const validity = c.validity orelse return false;
        return (validity[row >> 3] >> @intCast(row & 7)) & 1 == 0;
    }

    fn get(c: *const Column, comptime T: type, row: usize) T {
        if (T == bool) return (c.values.?[row >> 3] >> @intCast(row & 7)) & 1 == 1;
        if (T == []const u8) {
            const offsets: [*]align(1) const i32 = @ptrCast(c.offsets.?);
            const start: usize = @intCast(offsets[row]);
            const end: usize = @intCast(offsets[row + 1]);
            return if (end == start) "" else c.values.?[start..end];
        }
        const values: [*]align(1) const T = @ptrCast(c.values.?);
        return values[row];
    }
};

comptime {
    std.debug.assert(@sizeOf(Column) == 28 or @sizeOf(usize) != 4);
}

/// The ABI's tag and name of the column type a Zig type is.
fn columnType(comptime T: type) struct { tag: u32, name: []const u8 } {
    return switch (T) {
        bool => .{ .tag = 1, .name = "boolean" },
        i8 => .{ .tag = 2, .name = "int8" },
        i16 => .{ .tag = 3, .name = "int16" },
        i32 => .{ .tag = 4, .name = "int32" },
        i64 => .{ .tag = 5, .name = "int64" },
        u8 => .{ .tag = 6, .name = "uint8" },
        u16 => .{ .tag = 7, .name = "uint16" },
        u32 => .{ .tag = 8, .name = "uint32" },
        u64 => .{ .tag = 9, .name = "uint64" },
        f32 => .{ .tag = 10, .name = "float32" },
        f64 => .{ .tag = 11, .name = "float64" },
        []const u8 => .{ .tag = 12, .name = "utf8" },
        else => @compileError("ferry: " ++ @typeName(T) ++ " is not a column type " ++
            "(bool, i8..i64, u8..u64, f32, f64, []const u8, or an optional of one)"),
    };
}

/// A function's parameter types from `first` on.
fn paramTypes(comptime info: std.builtin.Type.Fn, comptime first: usize) [info.param_types.len - first]type {
    var types: [info.param_types.len - first]type = undefined;
    for (info.param_types[first..], 0..) |T, i| types[i] = T.?;
    return types;
}

fn Unwrapped(comptime T: type) type {
    return switch (@typeInfo(T)) {
        .optional => |o| o.child,
        else => T,
    };
}

fn columnsRecord(comptime name: []const u8, comptime kind: []const u8, comptime prefix: []const u8, comptime args: []const type, comptime Returns: type, comptime extra: []const u8) []const u8 {
    comptime var names: []const u8 = "";
    comptime var input: []const u8 = "";
    inline for (args, 0..) |T, i| {
        const column = columnType(Unwrapped(T)).name;
        names = names ++ (if (i > 0) "," else "") ++ jstr(column);
        input = input ++ (if (i > 0) ", " else "") ++ column;
    }
    const returns = columnType(Returns).name;
    return record(field("name", name) ++ field("kind", kind) ++ field("export", prefix ++ name) ++
        field("input", "(" ++ input ++ ")") ++ field("output", returns) ++
        "," ++ jstr("args") ++ ":[" ++ names ++ "]," ++ jstr("returns") ++ ":" ++ jstr(returns) ++ extra);
}

/// A result column being filled, one value per row.
fn Output(comptime T: type) type {
    return struct {
        const Self = @This();
        rows: usize,
        validity: ?[]u8 = null,
        values: if (T == []const u8) std.ArrayList(u8) else []T,
        offsets: if (T == []const u8) []i32 else void,
        packed_bits: if (T == bool) []u8 else void,

        fn init(rows: usize) !Self {
            return .{
                .rows = rows,
                .values = if (T == []const u8) .empty else try allocator.alloc(T, if (T == bool) 0 else rows),
                .offsets = if (T == []const u8) blk: {
                    const offsets = try allocator.alloc(i32, rows + 1);
                    offsets[0] = 0;
                    break :blk offsets;
                } else {},
                .packed_bits = if (T == bool) blk: {
                    const bits = try allocator.alloc(u8, (rows + 7) / 8);
                    @memset(bits, 0);
                    break :blk bits;
                } else {},
            };
        }

        fn setNull(self: *Self, row: usize) !void {
            if (self.validity == null) {
                const bits = try allocator.alloc(u8, (self.rows + 7) / 8);
                @memset(bits, 0xff);
                self.validity = bits;
            }
            self.validity.?[row >> 3] &= ~(@as(u8, 1) << @intCast(row & 7));
            if (T == []const u8) self.offsets[row + 1] = @intCast(self.values.items.len);
        }

        /// Rows are set in order, each once.
        fn set(self: *Self, row: usize, value: T) !void {
            if (T == []const u8) {
                try self.values.appendSlice(allocator, value);
                if (self.values.items.len > std.math.maxInt(i32)) return error.OutOfMemory;
                self.offsets[row + 1] = @intCast(self.values.items.len);
            } else if (T == bool) {
                if (value) self.packed_bits[row >> 3] |= @as(u8, 1) << @intCast(row & 7);
            } else {
                self.values[row] = value;
            }
        }

        fn send(self: *Self) void {
            var nulls: u32 = 0;
            if (self.validity) |bits| {
                for (0..self.rows) |row| nulls += @intFromBool((bits[row >> 3] >> @intCast(row & 7)) & 1 == 0);
            }
            const bytes: []const u8 = if (T == []const u8)
                self.values.items
            else if (T == bool)
                self.packed_bits
            else
                std.mem.sliceAsBytes(self.values);
            const descriptor = Column{
                .type = columnType(T).tag,
                .rows = @intCast(self.rows),
                .null_count = nulls,
                .validity = if (nulls > 0) self.validity.?.ptr else null,
                .values = if (bytes.len > 0) bytes.ptr else null,
                .values_len = @intCast(bytes.len),
                .offsets = if (T == []const u8) @ptrCast(self.offsets.ptr) else null,
            };
            host.result_column(&descriptor);
        }
    };
}

/// Checks the host's columns from `first` on against the types of `args`.
fn checkColumns(comptime name: []const u8, columns: []const Column, first: usize, comptime args: []const type, rows: usize) ?i32 {
    if (columns.len != first + args.len)
        return badArgument("`{s}` takes {d} columns, not {d}", .{ name, first + args.len, columns.len });
    inline for (args, 0..) |T, i| {
        const c = &columns[first + i];
        if (c.type != columnType(Unwrapped(T)).tag)
            return badArgument("argument {d} of `{s}` is of type {d}, not {s}", .{ i + 1, name, c.type, columnType(Unwrapped(T)).name });
        if (c.rows != rows)
            return badArgument("the columns of `{s}` have {d} and {d} rows", .{ name, rows, c.rows });
    }
    return null;
}

/// The arguments of `row`, or null when one is null and its parameter does
/// not take nulls (the function then gives null, as SQL's own do).
fn rowArgs(comptime Args: type, comptime types: []const type, columns: []const Column, row: usize) ?Args {
    var args: Args = undefined;
    inline for (types, 0..) |T, i| {
        const c = &columns[i];
        if (c.isNull(row)) {
            if (@typeInfo(T) != .optional) return null;
            args[i] = null;
        } else {
            args[i] = c.get(Unwrapped(T), row);
        }
    }
    return args;
}

/// Exports `f` as a SQL scalar function named `name`, a call per batch of
/// rows. Its parameters and result are column types (`bool`, `i8`..`i64`,
/// `u8`..`u64`, `f32`, `f64`, `[]const u8` for utf8); a null argument gives
/// a null result unless its parameter is an optional; the result may be an
/// optional (null) and an error union (the row fails, `row N: ` and the
/// message). A first parameter of type `std.mem.Allocator` gets the call's
/// allocator, for text results.
pub fn Scalar(comptime name: []const u8, comptime f: anytype) type {
    const info = @typeInfo(@TypeOf(f)).@"fn";
    const takes_allocator = info.param_types.len > 0 and info.param_types[0].? == std.mem.Allocator;
    const first = @intFromBool(takes_allocator);
    const arg_types = paramTypes(info, first);
    const Result = info.return_type.?;
    const Value = switch (@typeInfo(Result)) {
        .error_union => |e| e.payload,
        else => Result,
    };
    const Column_ = Unwrapped(Value);
    return struct {
        fn call(env_ptr: ?[*]u8, env_len: usize, columns_ptr: ?[*]const Column, count: u32) callconv(.c) i32 {
            _ = env_ptr;
            _ = env_len;
            defer endCall();
            beginCall();
            const columns = if (columns_ptr) |p| p[0..count] else &[_]Column{};
            const rows: usize = if (count > 0) columns[0].rows else 1;
            if (checkColumns(name, columns, 0, &arg_types, rows)) |status| return status;
            var out = Output(Column_).init(rows) catch return outOfMemory(name);
            for (0..rows) |row| {
                const row_args = rowArgs(@Tuple(&arg_types), &arg_types, columns, row) orelse {
                    out.setNull(row) catch return outOfMemory(name);
                    continue;
                };
                const all = if (takes_allocator) .{allocator} ++ row_args else row_args;
                const returned = @call(.auto, f, all);
                const value = if (@typeInfo(Result) == .error_union) returned catch |err| {
                    reportError(err, "row {d}: ", .{row});
                    return 1;
                } else returned;
                const present = if (@typeInfo(Value) == .optional) value else @as(?Column_, value);
                if (present) |v| {
                    out.set(row, v) catch return outOfMemory(name);
                } else {
                    out.setNull(row) catch return outOfMemory(name);
                }
            }
            out.send();
            return 0;
        }

        comptime {
            @export(&call, .{ .name = "ferry_udf_" ++ name });
            asm (columnsRecord(name, "scalar", "ferry_udf_", &arg_types, Column_, ""));
        }
    };
}

fn outOfMemory(comptime name: []const u8) i32 {
    const message = "out of memory in `" ++ name ++ "`";
    host.@"error"(message, message.len);
    return 1;
}

// ---- aggregates (§9) ------------------------------------------------------------------------

/// Exports a SQL aggregate named `name` whose state is `State`, an `extern
/// struct` kept by the host as its bytes. `State` declares
///
///     pub fn init() State
///     pub fn update(self: *State, args...) !void    (or void; nulls as Scalar's)
///     pub fn merge(self: *State, other: State) void (order must not matter)
///     pub fn finish(self: State) R                  (R a column type, or ?R)
///
/// and, optionally, `pub fn retract(self: *State, args...)`, which takes a
/// row back out of a state (undoing `update`), so that over a sliding
/// window a row leaving the frame costs one row.
pub fn Aggregate(comptime name: []const u8, comptime State: type) type {
    if (@typeInfo(State).@"struct".layout != .@"extern")
        @compileError("ferry: the state of `" ++ name ++ "` must be an extern struct: its bytes are what the host keeps");
    const update_info = @typeInfo(@TypeOf(State.update)).@"fn";
    const arg_types = paramTypes(update_info, 1);
    const Finished = @typeInfo(@TypeOf(State.finish)).@"fn".return_type.?;
    const Column_ = Unwrapped(Finished);
    const size = @sizeOf(State);
    const has_retract = @hasDecl(State, "retract");

    return struct {
        /// The groups' states, decoded from the first column; null ones
        /// start from `init`.
        fn states(columns: []const Column) ![]State {
            const groups = columns[0].rows;
            const all = try allocator.alloc(State, groups);
            for (all, 0..) |*state, g| {
                if (columns[0].isNull(g)) {
                    state.* = State.init();
                    continue;
                }
                const bytes = columns[0].get([]const u8, g);
                if (bytes.len != size) return error.BadState;
                @memcpy(std.mem.asBytes(state), bytes);
            }
            return all;
        }

        fn begin(columns_ptr: ?[*]const Column, count: u32, grouped: bool) ?[]const Column {
            beginCall();
            const columns = if (columns_ptr) |p| p[0..count] else return null;
            if (count < 1 or columns[0].type != 14) return null;
            if (grouped and (count < 2 or columns[1].type != 8 or columns[1].null_count != 0)) return null;
            return columns;
        }

        fn groupOf(columns: []const Column, row: usize) ?usize {
            const g = columns[1].get(u32, row);
            return if (g < columns[0].rows) g else null;
        }

        fn sendStates(all: []State) i32 {
            const offsets = allocator.alloc(i32, all.len + 1) catch return outOfMemory(name);
            for (offsets, 0..) |*o, g| o.* = @intCast(g * size);
            const bytes = std.mem.sliceAsBytes(all);
            host.result_column(&Column{
                .type = 14,
                .rows = @intCast(all.len),
                .null_count = 0,
                .validity = null,
                .values = if (bytes.len > 0) bytes.ptr else null,
                .values_len = @intCast(bytes.len),
                .offsets = @ptrCast(offsets.ptr),
            });
            return 0;
        }

        /// A step that folds rows into their groups' states: `update`, or
        /// `retract`, which takes rows back out.
        fn Fold(comptime step: anytype) type {
            return struct {
                fn call(env_ptr: ?[*]u8, env_len: usize, columns_ptr: ?[*]const Column, count: u32) callconv(.c) i32 {
                    _ = env_ptr;
                    _ = env_len;
                    defer endCall();
                    const columns = begin(columns_ptr, count, true) orelse return badArgument("`{s}`: the columns are not states, groups and arguments", .{name});
                    const rows = columns[1].rows;
                    if (checkColumns(name, columns, 2, &arg_types, rows)) |status| return status;
                    const all = states(columns) catch |err| return stateError(err);
                    for (0..rows) |row| {
                        const g = groupOf(columns, row) orelse return badArgument("row {d} of `{s}` is in no group", .{ row, name });
                        const row_args = rowArgs(@Tuple(&arg_types), &arg_types, columns[2..], row) orelse continue;
                        const returned = @call(.auto, step, .{&all[g]} ++ row_args);
                        if (@typeInfo(@TypeOf(returned)) == .error_union) returned catch |err| {
                            reportError(err, "row {d}: ", .{row});
                            return 1;
                        };
                    }
                    return sendStates(all);
                }
            };
        }

        fn merge(env_ptr: ?[*]u8, env_len: usize, columns_ptr: ?[*]const Column, count: u32) callconv(.c) i32 {
            _ = env_ptr;
            _ = env_len;
            defer endCall();
            const columns = begin(columns_ptr, count, true) orelse return badArgument("`{s}`: the columns are not states, groups and states", .{name});
            if (count != 3 or columns[2].type != 14 or columns[2].rows != columns[1].rows)
                return badArgument("`{s}` merges states, groups and partial states", .{name});
            const all = states(columns) catch |err| return stateError(err);
            for (0..columns[1].rows) |row| {
                const g = groupOf(columns, row) orelse return badArgument("row {d} of `{s}` is in no group", .{ row, name });
                if (columns[2].isNull(row)) continue;
                const bytes = columns[2].get([]const u8, row);
                if (bytes.len != size) return stateError(error.BadState);
                var other: State = undefined;
                @memcpy(std.mem.asBytes(&other), bytes);
                State.merge(&all[g], other);
            }
            return sendStates(all);
        }

        fn finish(env_ptr: ?[*]u8, env_len: usize, columns_ptr: ?[*]const Column, count: u32) callconv(.c) i32 {
            _ = env_ptr;
            _ = env_len;
            defer endCall();
            const columns = begin(columns_ptr, count, false) orelse return badArgument("`{s}` finishes from the states alone", .{name});
            const all = states(columns) catch |err| return stateError(err);
            var out = Output(Column_).init(all.len) catch return outOfMemory(name);
            for (all, 0..) |state, g| {
                const value: ?Column_ = State.finish(state);
                if (value) |v| {
                    out.set(g, v) catch return outOfMemory(name);
                } else {
                    out.setNull(g) catch return outOfMemory(name);
                }
            }
            out.send();
            return 0;
        }

        fn stateError(err: anyerror) i32 {
            if (err == error.BadState) return badArgument("a state of `{s}` is not {d} bytes", .{ name, size });
            return outOfMemory(name);
        }

        comptime {
            @export(&Fold(State.update).call, .{ .name = "ferry_udaf_" ++ name ++ "_update" });
            @export(&merge, .{ .name = "ferry_udaf_" ++ name ++ "_merge" });
            @export(&finish, .{ .name = "ferry_udaf_" ++ name ++ "_finish" });
            if (has_retract) @export(&Fold(State.retract).call, .{ .name = "ferry_udaf_" ++ name ++ "_retract" });
            asm (columnsRecord(name, "aggregate", "ferry_udaf_", &arg_types, Column_, if (has_retract) "," ++ jstr("retract") ++ ":true" else ""));
        }
    };
}

// ---- values: MessagePack (§3) -----------------------------------------------------------------

/// Reads MessagePack into Zig values: structs from maps keyed by field name
/// (as hosts write them; unknown fields skipped, missing ones their default
/// or an error), tuples and slices from arrays, `[]const u8` from strings or
/// binary, optionals from nil.
const Reader = struct {
    bytes: []const u8,
    at: usize = 0,
    problem: []const u8 = "",

    fn fail(r: *Reader, comptime format: []const u8, args: anytype) error{BadArgument} {
        r.problem = std.fmt.allocPrint(allocator, format ++ " at byte {d}", args ++ .{r.at}) catch format;
        return error.BadArgument;
    }

    fn kind(b: u8) []const u8 {
        return switch (b) {
            0x00...0x7f, 0xcc...0xd3, 0xe0...0xff => "an integer",
            0x80...0x8f, 0xde, 0xdf => "a map",
            0x90...0x9f, 0xdc, 0xdd => "an array",
            0xa0...0xbf, 0xd9...0xdb => "a string",
            0xc0 => "nil",
            0xc2, 0xc3 => "a boolean",
            0xc4...0xc6 => "binary",
            0xca, 0xcb => "a float",
            else => "an extension value",
        };
    }

    fn peek(r: *Reader) !u8 {
        if (r.at >= r.bytes.len) return r.fail("the value ends early", .{});
        return r.bytes[r.at];
    }

    fn take(r: *Reader, n: usize) ![]const u8 {
        if (r.bytes.len - r.at < n) return r.fail("the value ends early", .{});
        defer r.at += n;
        return r.bytes[r.at..][0..n];
    }

    fn big(r: *Reader, comptime T: type) !T {
        return std.mem.readInt(T, (try r.take(@sizeOf(T)))[0..@sizeOf(T)], .big);
    }

    fn expected(r: *Reader, what: []const u8) error{BadArgument} {
        return r.fail("expected {s}, found {s}", .{ what, kind(r.bytes[r.at]) });
    }

    fn int(r: *Reader, comptime T: type) !T {
        const b = try r.peek();
        const wide: i128 = switch (b) {
            0x00...0x7f => blk: {
                r.at += 1;
                break :blk b;
            },
            0xe0...0xff => blk: {
                r.at += 1;
                break :blk @as(i8, @bitCast(b));
            },
            0xcc...0xd3 => blk: {
                r.at += 1;
                break :blk switch (b) {
                    0xcc => try r.big(u8),
                    0xcd => try r.big(u16),
                    0xce => try r.big(u32),
                    0xcf => try r.big(u64),
                    0xd0 => try r.big(i8),
                    0xd1 => try r.big(i16),
                    0xd2 => try r.big(i32),
                    else => try r.big(i64),
                };
            },
            else => return r.expected("an integer"),
        };
        return std.math.cast(T, wide) orelse r.fail("{d} does not fit in {s}", .{ wide, @typeName(T) });
    }

    fn float(r: *Reader, comptime T: type) !T {
        const b = try r.peek();
        if (b == 0xca or b == 0xcb) {
            r.at += 1;
            return if (b == 0xca) @floatCast(@as(f32, @bitCast(try r.big(u32)))) else @floatCast(@as(f64, @bitCast(try r.big(u64))));
        }
        if (std.mem.eql(u8, kind(b), "an integer")) return @floatFromInt(try r.int(i128));
        return r.expected("a number");
    }

    /// A header's length: `fix` covers lengths below `fix_limit`, then 8-,
    /// 16- and 32-bit lengths from the tags (a zero tag: none); null if `b`
    /// is none of them.
    fn length(r: *Reader, b: u8, fix: u8, fix_limit: u8, tags: [3]u8) !?usize {
        if (b >= fix and b < fix +% fix_limit and fix_limit > 0) {
            r.at += 1;
            return b - fix;
        }
        inline for (tags, .{ u8, u16, u32 }) |tag, T| {
            if (tag != 0 and b == tag) {
                r.at += 1;
                return try r.big(T);
            }
        }
        return null;
    }

    fn bytesOf(r: *Reader) ![]const u8 {
        const b = try r.peek();
        const n = try r.length(b, 0xa0, 32, .{ 0xd9, 0xda, 0xdb }) orelse
            try r.length(b, 0, 0, .{ 0xc4, 0xc5, 0xc6 }) orelse return r.expected("a string");
        return r.take(n);
    }

    fn arrayLen(r: *Reader) !usize {
        const b = try r.peek();
        return try r.length(b, 0x90, 16, .{ 0, 0xdc, 0xdd }) orelse r.expected("an array");
    }

    fn mapLen(r: *Reader) !usize {
        const b = try r.peek();
        return try r.length(b, 0x80, 16, .{ 0, 0xde, 0xdf }) orelse r.expected("a map");
    }

    fn skip(r: *Reader) !void {
        var pending: u64 = 1;
        while (pending > 0) : (pending -= 1) {
            const b = try r.peek();
            switch (b) {
                0xc0, 0xc2, 0xc3 => r.at += 1,
                0x90...0x9f, 0xdc, 0xdd => pending += try r.arrayLen(),
                0x80...0x8f, 0xde, 0xdf => pending += 2 * @as(u64, try r.mapLen()),
                0xa0...0xbf, 0xd9...0xdb, 0xc4...0xc6 => _ = try r.bytesOf(),
                0xca, 0xcb => _ = try r.float(f64),
                0x00...0x7f, 0xcc...0xd3, 0xe0...0xff => _ = try r.int(i128),
                0xd4...0xd8 => _ = try r.take(2 + (@as(usize, 1) << @intCast(b - 0xd4))),
                0xc7...0xc9 => {
                    r.at += 1;
                    const n: usize = switch (b) {
                        0xc7 => try r.big(u8),
                        0xc8 => try r.big(u16),
                        else => try r.big(u32),
                    };
                    _ = try r.take(1);
                    _ = try r.take(n);
                },
                else => return r.fail("the reserved byte c1 is not MessagePack", .{}),
            }
        }
    }

    fn read(r: *Reader, comptime T: type) !T {
        if (T == []const u8) return r.bytesOf();
        switch (@typeInfo(T)) {
            .bool => {
                const b = try r.peek();
                if (b != 0xc2 and b != 0xc3) return r.expected("a boolean");
                r.at += 1;
                return b == 0xc3;
            },
            .int => return r.int(T),
            .float => return r.float(T),
            .optional => |o| {
                if (try r.peek() == 0xc0) {
                    r.at += 1;
                    return null;
                }
                return try r.read(o.child);
            },
            .pointer => |p| {
                if (p.size != .slice) @compileError("ferry: cannot read " ++ @typeName(T));
                const n = try r.arrayLen();
                const items = allocator.alloc(p.child, n) catch return r.fail("out of memory for {d} items", .{n});
                for (items) |*item| item.* = try r.read(p.child);
                return items;
            },
            .@"struct" => |s| {
                var value: T = undefined;
                if (s.is_tuple) {
                    const n = try r.arrayLen();
                    if (n != s.field_types.len) return r.fail("expected {d} values, found {d}", .{ s.field_types.len, n });
                    inline for (s.field_types, 0..) |F, i| value[i] = try r.read(F);
                    return value;
                }
                var seen: [s.field_names.len]bool = @splat(false);
                const n = try r.mapLen();
                for (0..n) |_| {
                    const key = try r.bytesOf();
                    var known = false;
                    inline for (s.field_names, s.field_types, 0..) |field_name, F, i| {
                        if (std.mem.eql(u8, key, field_name)) {
                            @field(value, field_name) = try r.read(F);
                            seen[i] = true;
                            known = true;
                        }
                    }
                    if (!known) try r.skip();
                }
                inline for (s.field_names, s.field_types, s.field_attrs, 0..) |field_name, F, attrs, i| {
                    if (!seen[i]) {
                        if (attrs.defaultValue(F)) |default| {
                            @field(value, field_name) = default;
                        } else if (@typeInfo(F) == .optional) {
                            @field(value, field_name) = null;
                        } else {
                            return r.fail("missing field `{s}`", .{field_name});
                        }
                    }
                }
                return value;
            },
            else => @compileError("ferry: cannot read " ++ @typeName(T)),
        }
    }
};

/// Writes Zig values as MessagePack, as Rust's encoder does: structs as maps
/// keyed by field name, integers in their smallest form.
const Writer = struct {
    bytes: std.ArrayList(u8) = .empty,

    fn put(w: *Writer, data: []const u8) !void {
        try w.bytes.appendSlice(allocator, data);
    }

    fn tagged(w: *Writer, tag: u8, comptime T: type, v: T) !void {
        var buffer: [1 + @sizeOf(T)]u8 = undefined;
        buffer[0] = tag;
        std.mem.writeInt(T, buffer[1..], v, .big);
        try w.put(&buffer);
    }

    fn sized(w: *Writer, n: usize, fix: u8, fix_limit: usize, tags: [3]u8) !void {
        if (n < fix_limit) return w.put(&.{fix + @as(u8, @intCast(n))});
        if (tags[0] != 0 and n <= 0xff) return w.tagged(tags[0], u8, @intCast(n));
        if (n <= 0xffff) return w.tagged(tags[1], u16, @intCast(n));
        return w.tagged(tags[2], u32, @intCast(n));
    }

    fn write(w: *Writer, comptime T: type, value: T) !void {
        if (T == []const u8 or T == []u8) {
            try w.sized(value.len, 0xa0, 32, .{ 0xd9, 0xda, 0xdb });
            return w.put(value);
        }
        switch (@typeInfo(T)) {
            .bool => try w.put(&.{if (value) 0xc3 else 0xc2}),
            .int => {
                const v: i128 = value;
                if (v >= 0) {
                    if (v < 0x80) try w.put(&.{@intCast(v)}) else if (v <= 0xff) try w.tagged(0xcc, u8, @intCast(v)) else if (v <= 0xffff) try w.tagged(0xcd, u16, @intCast(v)) else if (v <= 0xffff_ffff) try w.tagged(0xce, u32, @intCast(v)) else try w.tagged(0xcf, u64, @intCast(v));
                } else {
                    if (v >= -32) try w.put(&.{@bitCast(@as(i8, @intCast(v)))}) else if (v >= -0x80) try w.tagged(0xd0, i8, @intCast(v)) else if (v >= -0x8000) try w.tagged(0xd1, i16, @intCast(v)) else if (v >= -0x8000_0000) try w.tagged(0xd2, i32, @intCast(v)) else try w.tagged(0xd3, i64, @intCast(v));
                }
            },
            .float => try w.tagged(0xcb, u64, @bitCast(@as(f64, value))),
            .optional => if (value) |v| try w.write(@TypeOf(v), v) else try w.put(&.{0xc0}),
            .pointer => |p| {
                if (p.size != .slice) @compileError("ferry: cannot write " ++ @typeName(T));
                try w.sized(value.len, 0x90, 16, .{ 0, 0xdc, 0xdd });
                for (value) |item| try w.write(p.child, item);
            },
            .@"struct" => |s| {
                if (s.is_tuple) {
                    try w.sized(s.field_types.len, 0x90, 16, .{ 0, 0xdc, 0xdd });
                    inline for (s.field_types, 0..) |F, i| try w.write(F, value[i]);
                } else {
                    try w.sized(s.field_names.len, 0x80, 16, .{ 0, 0xde, 0xdf });
                    inline for (s.field_names, s.field_types) |field_name, F| {
                        try w.write([]const u8, field_name);
                        try w.write(F, @field(value, field_name));
                    }
                }
            },
            else => @compileError("ferry: cannot write " ++ @typeName(T)),
        }
    }
};

fn valueFunction(comptime name: []const u8, comptime f: anytype, comptime with_env: bool) type {
    const info = @typeInfo(@TypeOf(f)).@"fn";
    const first = @intFromBool(with_env);
    const input_types = paramTypes(info, first);
    const Input = if (input_types.len == 1) input_types[0] else @Tuple(&input_types);
    const Result = info.return_type.?;
    const env_field = if (with_env) field("env", describe(info.param_types[0].?)) else "";
    const input = if (input_types.len == 1) describe(Input) else describeAll(&input_types);

    return struct {
        fn bytes(ptr: ?[*]u8, len: usize) []const u8 {
            // (0, 0) is how hosts before December 2026 passed nil.
            return if (ptr) |p| (if (len > 0) p[0..len] else &.{0xc0}) else &.{0xc0};
        }

        fn call(env_ptr: ?[*]u8, env_len: usize, input_ptr: ?[*]u8, input_len: usize) callconv(.c) i32 {
            defer endCall();
            beginCall();
            var reader = Reader{ .bytes = bytes(input_ptr, input_len) };
            const args = blk: {
                var in: Input = undefined;
                if (input_types.len > 0) in = reader.read(Input) catch return badArgument("the input: {s}", .{reader.problem});
                const tuple = if (input_types.len == 1) .{in} else in;
                if (!with_env) break :blk tuple;
                var env_reader = Reader{ .bytes = bytes(env_ptr, env_len) };
                const env = env_reader.read(info.param_types[0].?) catch return badArgument("the environment: {s}", .{env_reader.problem});
                break :blk .{env} ++ tuple;
            };
            const returned = @call(.auto, f, args);
            const value = if (@typeInfo(Result) == .error_union) returned catch |err| {
                reportError(err, "", .{});
                return 1;
            } else returned;
            var writer = Writer{};
            writer.write(@TypeOf(value), value) catch return outOfMemory(name);
            host.result(writer.bytes.items.ptr, writer.bytes.items.len);
            return 0;
        }

        comptime {
            @export(&call, .{ .name = "ferry_fn_" ++ name });
            asm (record(field("name", name) ++ field("kind", "value") ++
                    field("export", "ferry_fn_" ++ name) ++ env_field ++ field("input", input) ++
                    field("output", describe(Result))));
        }
    };
}

/// Exports `f` as a value function named `name`: its parameters are the
/// input (one parameter: the value itself; several: an array of them), its
/// result the call's result. An error it returns fails the call, with the
/// message `fail` reported or the error's name.
pub fn Function(comptime name: []const u8, comptime f: anytype) type {
    return valueFunction(name, f, false);
}

/// As `Function`, for a function whose first parameter is the closure's
/// captured environment.
pub fn FunctionWithEnv(comptime name: []const u8, comptime f: anytype) type {
    return valueFunction(name, f, true);
}
