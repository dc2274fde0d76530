// Command ipcbench measures ipcchan against what a Go or C programmer
// would otherwise use, in one run, and prints a table of medians, spreads
// and ratios to the baselines, with the project's targets marked met or
// missed. Only same-run ratios mean anything: these figures move with the
// machine and its load.
//
//	go run ./cmd/ipcbench [-quick] [-reps N] [-only NAME] [-nospin] [-json FILE] [-svg FILE]
//
// With -json -, the JSON goes to standard output and the table to
// standard error.
//
// Cross-process scenarios run between this process and a peer it starts by
// re-executing itself. The C baselines are compiled with gcc from source
// embedded in the tool; without gcc they are skipped, with a note.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/ipcchan/ipcchan/internal/budget"
	"github.com/ipcchan/ipcchan/internal/ring"
)

// noSpinEnv, set, makes this process and its peers' ring waiters sleep at
// once, without spinning first (-nospin).
const noSpinEnv = "IPCBENCH_RING_NOSPIN"

func main() {
	if os.Getenv(noSpinEnv) != "" {
		ring.MaxSpin, ring.MinSpin = 0, 0
	}
	if os.Getenv(noSliceEnv) != "" {
		budget.Set(0)
	}
	if len(os.Args) > 2 && os.Args[1] == "-peer" {
		if err := runPeer(os.Args[2], os.Args[3:]); err != nil {
			fmt.Fprintln(os.Stderr, "ipcbench peer:", err)
			os.Exit(1)
		}
		return
	}
	quick := flag.Bool("quick", false, "fewer, shorter runs: under 20 seconds")
	reps := flag.Int("reps", 0, "repetitions of each measurement (default 9, or 3 with -quick)")
	jsonOut := flag.String("json", "", "also write the results as JSON to this file (- for stdout)")
	svgOut := flag.String("svg", "", "also write a chart of the latency ratios (SVG) to this file")
	only := flag.String("only", "", "run only the scenarios whose name contains this")
	noSpin := flag.Bool("nospin", false, "ring waiters sleep at once, without spinning first (to compare)")
	summary := flag.String("summary", "", "measure nothing: print the README's table of the run in this JSON file (as -json wrote it)")
	flag.Parse()
	if *summary != "" {
		if err := summarize(*summary); err != nil {
			fmt.Fprintln(os.Stderr, "ipcbench:", err)
			os.Exit(1)
		}
		return
	}
	if *noSpin {
		os.Setenv(noSpinEnv, "1") // for the peers too
		ring.MaxSpin, ring.MinSpin = 0, 0
	}
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "ipcbench: unexpected argument %q\n", flag.Arg(0))
		flag.Usage()
		os.Exit(2)
	}
	cfg := config{reps: 9, scale: 1.5}
	if *quick {
		cfg = config{reps: 3, scale: 0.25}
	}
	if *reps > 0 {
		cfg.reps = *reps
	}
	if err := run(cfg, *only, *jsonOut, *svgOut); err != nil {
		fmt.Fprintln(os.Stderr, "ipcbench:", err)
		os.Exit(1)
	}
}

type config struct {
	reps  int
	scale float64 // of the operation counts
}

func (c config) n(base int) int { return max(int(float64(base)*c.scale), 10) }

// report is everything one run measured.
type report struct {
	Machine  machine   `json:"machine"`
	Reps     int       `json:"reps"`
	Results  []*result `json:"results"`
	Targets  []target  `json:"targets"`
	Notes    []string  `json:"notes,omitempty"`
	Duration string    `json:"duration"`
}

type machine struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
}

func run(cfg config, only, jsonOut, svgOut string) error {
	start := time.Now()
	b, err := newBench(cfg)
	if err != nil {
		return err
	}
	defer b.cleanup()
	rep := &report{Machine: describeMachine(), Reps: cfg.reps}
	// With the JSON on standard output, the table goes to standard error,
	// so that `ipcbench -json - | jq .` reads only JSON.
	table := io.Writer(os.Stdout)
	if jsonOut == "-" {
		table = os.Stderr
	}
	fmt.Fprintf(table, "ipcbench: %s, %d cores, Linux %s, %s; %d repetitions of each measurement\n",
		rep.Machine.CPU, rep.Machine.Cores, rep.Machine.Kernel, rep.Machine.Go, cfg.reps)
	if b.cc == "" {
		rep.Notes = append(rep.Notes, "gcc not found: the C baselines are skipped")
	}
	for _, sc := range scenarios() {
		if only != "" && !strings.Contains(sc.name, only) {
			continue
		}
		fmt.Fprintf(os.Stderr, "measuring %s...\n", sc.name)
		rs, err := measure(b, sc)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		rep.Results = append(rep.Results, rs...)
	}
	rep.Targets = evaluate(rep.Results)
	rep.Notes = append(rep.Notes, b.notes...)
	rep.Duration = time.Since(start).Round(time.Second).String()
	printTable(table, rep)
	if jsonOut != "" {
		if err := writeJSON(jsonOut, rep); err != nil {
			return err
		}
	}
	if svgOut != "" {
		if err := os.WriteFile(svgOut, []byte(chart(rep)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func writeJSON(path string, rep *report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if path == "-" {
		_, err = os.Stdout.Write(append(b, '\n'))
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), CPU: "unknown CPU"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}
