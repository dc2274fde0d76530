package main

import "slices"

// The benchmark is a table. Each family of scenarios has a table of its
// own (queueScenarios in queue.go, typedScenarios in typed.go, ...), in
// which a scenario names what it measures, its unit and its impls, and an
// impl its name, whether it is ipcchan's, its operation count and the
// function that measures it. Adding a scenario is one entry in its
// family's table plus its measuring function (and, if it talks to another
// process, that process's role in peerRoles). The names are the keys of
// the targets (report.go), the README's summary (summary.go) and the chart
// (svg.go): change none of them.

// families are the tables in the order of the output.
var families = [][]scenario{
	queueScenarios, typedScenarios, ringScenarios, spscScenarios, batchScenarios, topicScenarios, syncScenarios, wakeScenarios,
	shmScenarios, lifecycleScenarios, largeScenarios, loanScenarios, callScenarios, natsScenarios,
}

// scenarios returns every scenario, in the order of the output.
func scenarios() []scenario { return slices.Concat(families...) }

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
	ops     int  // operations per measurement, which -quick and the default scale (config.n)
	once    bool // instead of ops: one operation, whatever the scale (a measurement of a quantity of its own)
	run     measurement
}

// A measurement runs n operations and returns the time per operation in
// ns, or the quantity of its scenario's unit. An error of type skipped
// says why it cannot run here.
type measurement func(b *bench, n int) (float64, error)

// count is the number of operations of im in a measurement with cfg.
func (im impl) count(cfg config) int {
	if im.once {
		return 1
	}
	return cfg.n(im.ops)
}
