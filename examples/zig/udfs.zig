//! The SQL functions of examples/udfs, written in Zig: gcd, normalize and
//! div as scalars, geo_mean as an aggregate. Build with
//!
//!     ferry build examples/zig/udfs.zig

const std = @import("std");
const ferry = @import("ferry");

comptime {
    _ = ferry.Scalar("gcd", gcd);
    _ = ferry.Scalar("normalize", normalize);
    _ = ferry.Scalar("div", div);
    _ = ferry.Aggregate("geo_mean", GeoMean);
}

/// Greatest common divisor (Euclid), non-negative.
fn gcd(a: i64, b: i64) i64 {
    var x = @abs(a);
    var y = @abs(b);
    while (y != 0) {
        const rest = x % y;
        x = y;
        y = rest;
    }
    return @bitCast(x);
}

/// Lower case, single spaces, no leading or trailing space (ASCII letters
/// and spaces; other bytes are kept as they are).
fn normalize(gpa: std.mem.Allocator, text: []const u8) ![]const u8 {
    const out = try gpa.alloc(u8, text.len);
    var n: usize = 0;
    var words = std.mem.tokenizeAny(u8, text, " \t\n\r\x0b\x0c");
    while (words.next()) |word| {
        if (n > 0) {
            out[n] = ' ';
            n += 1;
        }
        for (word) |c| {
            out[n] = std.ascii.toLower(c);
            n += 1;
        }
    }
    return out[0..n];
}

/// Integer division that panics on a zero divisor, as Rust's `/` does.
fn div(a: i64, b: i64) i64 {
    if (b == 0) ferry.panic("attempt to divide by zero", .{}, @src());
    if (b == -1 and a == std.math.minInt(i64)) ferry.panic("attempt to divide with overflow", .{}, @src());
    return @divTrunc(a, b);
}

/// The geometric mean of the positive values, null when there are none; a
/// value that is not positive is an error naming its row.
const GeoMean = extern struct {
    log_sum: f64,
    count: u64,

    pub fn init() GeoMean {
        return .{ .log_sum = 0, .count = 0 };
    }

    pub fn update(self: *GeoMean, value: f64) !void {
        if (value <= 0) return ferry.fail("geo_mean of {d}: values must be positive", .{value});
        self.log_sum += @log(value);
        self.count += 1;
    }

    /// Takes back a value `update` took, so that over a sliding window a
    /// row leaving the frame costs one row, not the frame.
    pub fn retract(self: *GeoMean, value: f64) void {
        self.log_sum -= @log(value);
        self.count -%= 1;
    }

    pub fn merge(self: *GeoMean, other: GeoMean) void {
        self.log_sum += other.log_sum;
        self.count +%= other.count;
    }

    pub fn finish(self: GeoMean) ?f64 {
        if (self.count == 0) return null;
        return @exp(self.log_sum / @as(f64, @floatFromInt(self.count)));
    }
};
