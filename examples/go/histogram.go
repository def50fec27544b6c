// The histogram map-reduce of examples/guest, written in Go: fill simulates
// a range of events and histograms their invariant mass, with the
// histogram's spec captured in the closure; merge adds two histograms. The
// types are the Rust guest's, field for field, so either language's
// closures read the other's results. Build with
//
//	ferry build examples/go/histogram.go
package main

import (
	"errors"
	"fmt"
	"math"
)

type HistSpec struct {
	Bins   uint32
	Lo, Hi float64
	// Mass of the simulated resonance on top of the falling background.
	Peak, Width float64
	Seed        uint64
}

// Range is a half-open range of event numbers: one task's share of the
// data.
type Range struct {
	Start, End uint64
}

type Histogram struct {
	Lo, Hi              float64
	Counts              []uint64
	Underflow, Overflow uint64
}

func (h *Histogram) add(x float64) {
	bins := float64(len(h.Counts))
	position := (x - h.Lo) / (h.Hi - h.Lo) * bins
	switch {
	case math.IsNaN(position):
		h.Counts[0]++
	case position < 0:
		h.Underflow++
	case position >= bins:
		h.Overflow++
	default:
		h.Counts[int(position)]++
	}
}

// fill simulates events r.Start..r.End and histograms their invariant
// mass. Each event depends only on the seed and its number, so any split of
// the events over tasks gives the same merged histogram.
//
//ferry:function env
func fill(spec HistSpec, r Range) (Histogram, error) {
	if r.End < r.Start {
		return Histogram{}, fmt.Errorf("empty range %d..%d", r.Start, r.End)
	}
	if spec.Bins == 0 || spec.Hi <= spec.Lo {
		return Histogram{}, fmt.Errorf("bad histogram spec: %d bins over [%v, %v)", spec.Bins, spec.Lo, spec.Hi)
	}
	h := Histogram{Lo: spec.Lo, Hi: spec.Hi, Counts: make([]uint64, spec.Bins)}
	for event := r.Start; event < r.End; event++ {
		h.add(simulateMass(spec, event))
	}
	return h, nil
}

// merge adds two histograms with the same binning: associative and
// commutative, so partial results merge in any order.
//
//ferry:function
func merge(a, b Histogram) (Histogram, error) {
	if len(a.Counts) != len(b.Counts) || a.Lo != b.Lo || a.Hi != b.Hi {
		return Histogram{}, errors.New("cannot merge histograms with different binning")
	}
	for i, n := range b.Counts {
		a.Counts[i] += n
	}
	a.Underflow += b.Underflow
	a.Overflow += b.Overflow
	return a, nil
}

// simulateMass is one event: one part in five is signal (a Cauchy peak),
// the rest an exponentially falling background.
func simulateMass(spec HistSpec, event uint64) float64 {
	u, v := unit(spec.Seed, event, 0), unit(spec.Seed, event, 1)
	if u < 0.2 {
		return spec.Peak + spec.Width*math.Tan(math.Pi*(v-0.5))
	}
	return spec.Lo - (spec.Hi-spec.Lo)*0.3*math.Log(1-v)
}

// unit is a uniform number in [0, 1) from (seed, event, stream):
// splitmix64.
func unit(seed, event, stream uint64) float64 {
	z := seed + event*0x9E37_79B9_7F4A_7C15 + stream*0xD1B5_4A32_D192_ED03
	z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9
	z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EB
	z ^= z >> 31
	return float64(z>>11) / float64(uint64(1)<<53)
}
