package main

import (
	"fmt"
	"sort"
)

// A scenario is one thing measured several ways.
type scenario struct {
	name  string
	unit  string // what one operation is
	impls []impl
}

// An impl is one way of doing it: ipcchan's, or a baseline's.
type impl struct {
	name    string
	ipcchan bool
	n       int                          // operations per measurement
	run     func(n int) (float64, error) // ns per operation
	skip    string                       // why it cannot run here, if it cannot
}

// A result is the repeated measurement of one impl.
type result struct {
	Scenario string    `json:"scenario"`
	Impl     string    `json:"impl"`
	Ipcchan  bool      `json:"ipcchan"`
	Unit     string    `json:"unit"`
	N        int       `json:"n"`
	Median   float64   `json:"median_ns"`
	Min      float64   `json:"min_ns"`
	Max      float64   `json:"max_ns"`
	Samples  []float64 `json:"samples_ns"`
	Skipped  string    `json:"skipped,omitempty"`
}

// measure runs every impl of sc cfg.reps times, interleaved, so that a
// slow moment of the machine falls on all of them alike.
func measure(cfg config, sc scenario) ([]*result, error) {
	rs := make([]*result, len(sc.impls))
	for i, im := range sc.impls {
		rs[i] = &result{Scenario: sc.name, Impl: im.name, Ipcchan: im.ipcchan, Unit: sc.unit, N: im.n, Skipped: im.skip}
	}
	for range cfg.reps {
		for i, im := range sc.impls {
			if im.skip != "" {
				continue
			}
			ns, err := im.run(im.n)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", im.name, err)
			}
			rs[i].Samples = append(rs[i].Samples, ns)
		}
	}
	for _, r := range rs {
		if len(r.Samples) == 0 {
			continue
		}
		s := append([]float64(nil), r.Samples...)
		sort.Float64s(s)
		r.Min, r.Max = s[0], s[len(s)-1]
		if len(s)%2 == 1 {
			r.Median = s[len(s)/2]
		} else {
			r.Median = (s[len(s)/2-1] + s[len(s)/2]) / 2
		}
	}
	return rs, nil
}
