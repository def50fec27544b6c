//! The histogram map-reduce of examples/guest, written in Zig: `fill`
//! simulates a range of events and histograms their invariant mass, with the
//! histogram's spec captured in the closure; `merge` adds two histograms.
//! The types are the Rust guest's, field for field, so either language's
//! closures read the other's results. Build with
//!
//!     ferry build examples/zig/histogram.zig

const std = @import("std");
const ferry = @import("ferry");

comptime {
    _ = ferry.FunctionWithEnv("fill", fill);
    _ = ferry.Function("merge", merge);
}

pub const HistSpec = struct {
    bins: u32,
    lo: f64,
    hi: f64,
    /// Mass of the simulated resonance on top of the falling background.
    peak: f64 = 0,
    width: f64 = 0,
    seed: u64 = 0,
};

/// A half-open range of event numbers: one task's share of the data.
pub const Range = struct { start: u64, end: u64 };

pub const Histogram = struct {
    lo: f64,
    hi: f64,
    counts: []u64,
    underflow: u64,
    overflow: u64,

    fn add(self: *Histogram, x: f64) void {
        const bins: f64 = @floatFromInt(self.counts.len);
        const position = (x - self.lo) / (self.hi - self.lo) * bins;
        if (position < 0) {
            self.underflow += 1;
        } else if (position >= bins) {
            self.overflow += 1;
        } else {
            self.counts[if (std.math.isNan(position)) 0 else @intFromFloat(position)] += 1;
        }
    }
};

/// Simulates events `range.start..range.end` and histograms their invariant
/// mass. Each event depends only on the seed and its number, so any split of
/// the events over tasks gives the same merged histogram.
fn fill(spec: HistSpec, range: Range) !Histogram {
    if (range.end < range.start) return ferry.fail("empty range {d}..{d}", .{ range.start, range.end });
    if (spec.bins == 0 or spec.hi <= spec.lo)
        return ferry.fail("bad histogram spec: {d} bins over [{d}, {d})", .{ spec.bins, spec.lo, spec.hi });
    const counts = try ferry.allocator.alloc(u64, spec.bins);
    @memset(counts, 0);
    var histogram = Histogram{ .lo = spec.lo, .hi = spec.hi, .counts = counts, .underflow = 0, .overflow = 0 };
    var event = range.start;
    while (event < range.end) : (event += 1) histogram.add(simulateMass(spec, event));
    return histogram;
}

/// Adds two histograms with the same binning: associative and commutative,
/// so partial results merge in any order.
fn merge(a: Histogram, b: Histogram) !Histogram {
    if (a.counts.len != b.counts.len or a.lo != b.lo or a.hi != b.hi)
        return ferry.fail("cannot merge histograms with different binning", .{});
    for (a.counts, b.counts) |*x, y| x.* +%= y;
    return .{ .lo = a.lo, .hi = a.hi, .counts = a.counts, .underflow = a.underflow +% b.underflow, .overflow = a.overflow +% b.overflow };
}

/// One event: one part in five is signal (a Cauchy peak), the rest an
/// exponentially falling background.
fn simulateMass(spec: HistSpec, event: u64) f64 {
    const u = unit(spec.seed, event, 0);
    const v = unit(spec.seed, event, 1);
    if (u < 0.2) return spec.peak + spec.width * @tan(std.math.pi * (v - 0.5));
    return spec.lo - (spec.hi - spec.lo) * 0.3 * @log(1.0 - v);
}

/// A uniform number in [0, 1) from (seed, event, stream): splitmix64.
fn unit(seed: u64, event: u64, stream: u64) f64 {
    var z = seed +% event *% 0x9E37_79B9_7F4A_7C15 +% stream *% 0xD1B5_4A32_D192_ED03;
    z = (z ^ (z >> 30)) *% 0xBF58_476D_1CE4_E5B9;
    z = (z ^ (z >> 27)) *% 0x94D0_49BB_1331_11EB;
    z ^= z >> 31;
    return @as(f64, @floatFromInt(z >> 11)) / @as(f64, @floatFromInt(@as(u64, 1) << 53));
}
