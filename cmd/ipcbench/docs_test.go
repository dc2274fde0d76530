package main

import (
	"os"
	"strings"
	"testing"
)

// TestDocsFromOneRun: docs/BENCHMARKS.md shows the run in
// docs/ipcbench-results.json, its tables as ipcbench prints them, and the
// README's figures are that run's summary, so that the two never disagree.
// After a new full run (go run ./cmd/ipcbench -json docs/ipcbench-results.json
// -svg docs/ipcbench-latency.svg), paste its tables into BENCHMARKS.md and
// the output of go run ./cmd/ipcbench -summary docs/ipcbench-results.json
// into the README.
func TestDocsFromOneRun(t *testing.T) {
	rep, err := readReport("../../docs/ipcbench-results.json")
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	printTable(&table, rep)
	out := table.String()
	results := strings.TrimSpace(out[strings.Index(out, "SCENARIO"):strings.Index(out, "\n(time per operation")])
	targets := strings.TrimSpace(out[strings.Index(out, "TARGETS"):])
	targets = targets[:strings.Index(targets+"\n\n", "\n\n")]
	bench := trimLines(read(t, "../../docs/BENCHMARKS.md"))
	for what, block := range map[string]string{"results": results, "targets": targets} {
		if !strings.Contains(bench, trimLines(block)) {
			t.Errorf("docs/BENCHMARKS.md lacks the %s of docs/ipcbench-results.json as ipcbench prints them:\n%s", what, block)
		}
	}

	var want strings.Builder
	writeSummary(&want, rep)
	got, ok := summaryBlock(read(t, "../../README.md"))
	if !ok {
		t.Fatalf("README.md has no summary between %q and %q", summaryBegin, summaryEnd)
	}
	if got != want.String() {
		t.Errorf("the README's figures are not the summary of docs/ipcbench-results.json; paste the output of go run ./cmd/ipcbench -summary docs/ipcbench-results.json:\n%s\nREADME has:\n%s", want.String(), got)
	}
}

// trimLines drops the spaces that end each line of s (tabwriter's padding).
func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
