// The SQL functions of examples/udfs, written in Go: gcd, normalize and div
// as scalars, geo_mean as an aggregate. Build with
//
//	ferry build examples/go/udfs.go
package main

import (
	"fmt"
	"math"
	"strings"
)

// gcd is the greatest common divisor (Euclid), non-negative.
//
//ferry:scalar
func gcd(a, b int64) int64 {
	x, y := magnitude(a), magnitude(b)
	for y != 0 {
		x, y = y, x%y
	}
	return int64(x)
}

func magnitude(n int64) uint64 {
	if n < 0 {
		return uint64(-n)
	}
	return uint64(n)
}

// normalize is text in lower case, single spaces, no leading or trailing
// space.
//
//ferry:scalar
func normalize(text string) string {
	return strings.ToLower(strings.Join(strings.Fields(text), " "))
}

// div is integer division that panics on a zero divisor, as Rust's `/`
// does.
//
//ferry:scalar
func div(a, b int64) int64 {
	if b == 0 {
		panic("attempt to divide by zero")
	}
	if b == -1 && a == math.MinInt64 {
		panic("attempt to divide with overflow")
	}
	return a / b
}

// geoMean is the geometric mean of the positive values, null when there
// are none; a value that is not positive is an error naming its row.
//
//ferry:aggregate name=geo_mean
type geoMean struct {
	LogSum float64
	Count  uint64
}

func (g *geoMean) Update(value float64) error {
	if value <= 0 {
		return fmt.Errorf("geo_mean of %v: values must be positive", value)
	}
	g.LogSum += math.Log(value)
	g.Count++
	return nil
}

// Retract takes back a value Update took, so that over a sliding window a
// row leaving the frame costs one row, not the frame.
func (g *geoMean) Retract(value float64) {
	g.LogSum -= math.Log(value)
	g.Count--
}

func (g *geoMean) Merge(other geoMean) {
	g.LogSum += other.LogSum
	g.Count += other.Count
}

func (g *geoMean) Finish() *float64 {
	if g.Count == 0 {
		return nil
	}
	mean := math.Exp(g.LogSum / float64(g.Count))
	return &mean
}
