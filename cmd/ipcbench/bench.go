package main

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ipcchan/ipcchan/ipcchan"
)

//go:embed csrc/bench.c
var cSource []byte

// bench holds what the measurements share.
type bench struct {
	cfg   config
	dir   string // temporary: the C program, sockets
	cc    string // the compiled C baselines, or "" without gcc
	exe   string // this program, for the peers
	seq   int
	made  []string // queue names to remove at the end, in case a run fails
	notes []string

	natsSrv         *natsSide // the embedded NATS server, once started
	workerpoolBuilt string    // the worker-pool demo's program, once built
}

func newBench(cfg config) (*bench, error) {
	b := &bench{cfg: cfg}
	var err error
	if b.exe, err = os.Executable(); err != nil {
		return nil, err
	}
	if b.dir, err = os.MkdirTemp("", "ipcbench-"); err != nil {
		return nil, err
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return b, nil
	}
	src := filepath.Join(b.dir, "bench.c")
	if err := os.WriteFile(src, cSource, 0o644); err != nil {
		return nil, err
	}
	out := filepath.Join(b.dir, "cbench")
	if msg, err := exec.Command(gcc, "-O2", "-o", out, src, "-lrt", "-pthread").CombinedOutput(); err != nil {
		b.notes = append(b.notes, fmt.Sprintf("gcc failed, C baselines skipped: %v %s", err, msg))
		return b, nil
	}
	b.cc = out
	return b, nil
}

func (b *bench) cleanup() {
	b.stopNATS()
	for _, n := range b.made {
		ipcchan.UnlinkQueue(n)
	}
	os.RemoveAll(b.dir)
}

// name returns a fresh object name for one measurement.
func (b *bench) name(what string) string {
	b.seq++
	n := fmt.Sprintf("/ipcbench-%d-%d-%s", os.Getpid(), b.seq, what)
	b.made = append(b.made, n)
	return n
}

// peer returns the command that runs this program as a peer.
func (b *bench) peer(role string, args ...string) *exec.Cmd {
	cmd := exec.Command(b.exe, append([]string{"-peer", role}, args...)...)
	cmd.Stderr = os.Stderr
	return cmd
}

// c runs a C baseline, which prints its own ns per operation.
func (b *bench) c(args ...string) (float64, error) {
	out, err := exec.Command(b.cc, args...).Output()
	if err != nil {
		return 0, fmt.Errorf("the C baseline %v: %w", args, err)
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}
