// Command mqclient sends text messages to a POSIX message queue, the one
// cmd/mqserver reads by default.
//
//	mqclient [-queue NAME] [-priority N] [-timeout D] [MESSAGE...]
//
// It opens the existing queue, sends each MESSAGE argument, or each line of
// standard input when there are none, and closes it. It waits while the
// queue is full, up to -timeout for each message.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ipcchan/ipcchan/ipcchan"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stderr))
}

// run returns the exit status: 0 when every message was sent, 1 when one
// could not be, 2 for bad usage.
func run(args []string, stdin io.Reader, stderr io.Writer) int {
	flags := flag.NewFlagSet("mqclient", flag.ContinueOnError)
	flags.SetOutput(stderr)
	name := flags.String("queue", "/mqserver", "the queue `name`")
	prio := flags.Uint("priority", 0, "message priority, 0 to 32767; higher ones are read first")
	timeout := flags.Duration("timeout", 10*time.Second, "how long to wait for room in a full queue, per message (0: no limit)")
	flags.Usage = func() {
		fmt.Fprint(stderr, `usage: mqclient [flags] [MESSAGE...]

Sends each MESSAGE, or each line of standard input when there is none, to
an existing POSIX message queue.

example:
  mqclient -priority 5 "disk almost full"
  printf 'one\ntwo\n' | mqclient -queue /demo

flags:
`)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "mqclient:", err)
		return 1
	}
	q, err := ipcchan.OpenQueue[[]byte](*name, ipcchan.NoEndOfStream())
	if errors.Is(err, ipcchan.ErrNotExist) {
		return fail(fmt.Errorf("queue %s does not exist: is mqserver running?", *name))
	}
	if err != nil {
		return fail(err)
	}
	defer q.Close()

	send := func(msg []byte) error {
		ctx := context.Background()
		if *timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, *timeout)
			defer cancel()
		}
		err := q.SendPriority(ctx, msg, *prio)
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("queue %s stayed full for %v: is mqserver running and reading it?", *name, *timeout)
		}
		return err
	}
	if flags.NArg() > 0 {
		for _, m := range flags.Args() {
			if err := send([]byte(m)); err != nil {
				return fail(err)
			}
		}
		return 0
	}
	sc := bufio.NewScanner(stdin)
	const maxLine = 1 << 20
	sc.Buffer(make([]byte, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		if err := send(sc.Bytes()); err != nil {
			return fail(fmt.Errorf("line %d: %w", line, err))
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fail(fmt.Errorf("line %d is longer than %d bytes", line+1, maxLine))
		}
		return fail(fmt.Errorf("reading standard input: %w", err))
	}
	return 0
}
