package main

import (
	"time"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// shmScenarios are a field of ipcchan's Shm[T] against one of a plain Go
// struct (see table.go).
var shmScenarios = []scenario{{
	name: "shm field read+write", unit: "read+write",
	impls: []impl{
		{name: "ipcchan Shm[T].Ptr()", ipcchan: true, ops: 20000000, run: shmField},
		{name: "plain Go struct", ops: 20000000, run: plainField},
	},
}}

type record struct{ A [8]int64 }

func shmField(b *bench, n int) (float64, error) {
	sh, done, err := create(b, "shm", ipcchan.OpenShm[record], ipcchan.UnlinkShm)
	if err != nil {
		return 0, err
	}
	defer done()
	return readWrite(sh.Ptr(), n), nil
}

func plainField(_ *bench, n int) (float64, error) { return readWrite(new(record), n), nil }

func readWrite(p *record, n int) float64 {
	start := time.Now()
	for i := range n { // the writes go to memory others may see: kept
		p.A[i&7]++
	}
	return nsPer(start, n)
}
