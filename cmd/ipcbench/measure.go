package main

import (
	"errors"
	"fmt"
	"sort"
)

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

// skipped is the error of a measurement that cannot run here: why.
type skipped string

func (s skipped) Error() string { return string(s) }

// measure runs every impl of sc b.cfg.reps times, interleaved, so that a
// slow moment of the machine falls on all of them alike. An impl that
// reports itself skipped is not run again.
func measure(b *bench, sc scenario) ([]*result, error) {
	rs := make([]*result, len(sc.impls))
	for i, im := range sc.impls {
		rs[i] = &result{Scenario: sc.name, Impl: im.name, Ipcchan: im.ipcchan, Unit: sc.unit, N: im.count(b.cfg)}
	}
	for range b.cfg.reps {
		for i, im := range sc.impls {
			if rs[i].Skipped != "" {
				continue
			}
			ns, err := im.run(b, rs[i].N)
			var why skipped
			if errors.As(err, &why) {
				rs[i].Skipped = string(why)
				continue
			}
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
