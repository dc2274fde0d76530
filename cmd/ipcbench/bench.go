package main

import (
	"bufio"
	"context"
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

// ctx is the context of every call: the measurements wait as long as it takes.
var ctx = context.Background()

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

// create makes an object for one measurement, opened with Create,
// Exclusive and opts; done closes and removes it.
func create[T interface{ Close() error }](b *bench, what string, open func(string, ...ipcchan.Option) (T, error), unlink func(string) error, opts ...ipcchan.Option) (obj T, done func(), err error) {
	name := b.name(what)
	obj, err = open(name, append([]ipcchan.Option{ipcchan.Create(), ipcchan.Exclusive()}, opts...)...)
	if err != nil {
		return obj, nil, err
	}
	return obj, func() { obj.Close(); unlink(name) }, nil
}

// peer returns the command that runs this program as a peer.
func (b *bench) peer(role string, args ...string) *exec.Cmd {
	cmd := exec.Command(b.exe, append([]string{"-peer", role}, args...)...)
	cmd.Stderr = os.Stderr
	return cmd
}

// start starts this program as a peer.
func (b *bench) start(role string, args ...string) (*exec.Cmd, error) {
	cmd := b.peer(role, args...)
	return cmd, cmd.Start()
}

// startReady starts the peer cmd and waits for its "ready", and returns
// the rest of its output; a peer that says anything else is killed.
func startReady(cmd *exec.Cmd) (*bufio.Reader, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	out := bufio.NewReader(stdout)
	if l, _ := out.ReadString('\n'); l != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("the peer %v said %q", cmd.Args[1:], l)
	}
	return out, nil
}

// peerSays runs a peer that measures itself, and returns the number it
// prints.
func (b *bench) peerSays(role string, args ...string) (float64, error) {
	out, err := b.peer(role, args...).Output()
	if err != nil {
		return 0, err
	}
	return number(out)
}

// inC is the measurement of a C baseline: bench.c run with the words of
// format, its %d the operation count ("mq-stream %d 64"). bench.c prints
// its own ns per operation.
func inC(format string) measurement {
	return func(b *bench, n int) (float64, error) {
		if b.cc == "" {
			return 0, skipped("gcc not found")
		}
		args := strings.Fields(fmt.Sprintf(format, n))
		out, err := exec.Command(b.cc, args...).Output()
		if err != nil {
			return 0, fmt.Errorf("the C baseline %v: %w", args, err)
		}
		return number(out)
	}
}

// number is the one number a measuring program printed.
func number(out []byte) (float64, error) {
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}

// oneWay is m, a round trip's measurement, halved: a one-way trip's.
func oneWay(m measurement) measurement {
	return func(b *bench, n int) (float64, error) {
		rt, err := m(b, n)
		return rt / 2, err
	}
}
