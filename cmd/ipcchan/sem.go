package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"github.com/ipcchan/ipcchan/ipcchan"
)

var cmdPost = &command{
	name:    "post",
	usage:   "post SEM [-n N]",
	help:    "release a token of a semaphore (sem_post), N times",
	example: "  $ ipcchan post /slots -n 2",
	run:     runPost,
}

var cmdWait = &command{
	name:  "wait",
	usage: "wait SEM [--timeout D]",
	help:  "take a token of a semaphore (sem_wait), waiting for one",
	example: `  $ ipcchan wait /slots --timeout 3s && echo "got a slot"
  # status 4 if no token came within 3s`,
	run: runWait,
}

func runPost(c *cli, cmd *command, args []string) int {
	fs := c.flags(cmd)
	n := fs.Int("n", 1, "how many tokens")
	rest, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	if len(rest) != 1 || *n < 1 {
		return c.usageErr(cmd, "want one SEM and -n of at least 1")
	}
	s, err := ipcchan.OpenSemaphore(rest[0])
	if err != nil {
		return c.fail(err)
	}
	defer s.Close()
	for range *n {
		if err := s.Release(); err != nil {
			return c.fail(err)
		}
	}
	return exitOK
}

func runWait(c *cli, cmd *command, args []string) int {
	fs := c.flags(cmd)
	timeout := fs.Duration("timeout", 0, "give up after this long, with status 4 (0: no limit)")
	rest, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	if len(rest) != 1 {
		return c.usageErr(cmd, "want one SEM")
	}
	s, err := ipcchan.OpenSemaphore(rest[0])
	if err != nil {
		return c.fail(err)
	}
	defer s.Close()
	ctx, cancel := timeoutCtx(*timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	err = s.Acquire(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return c.fail(fmt.Errorf("%w: no token of %s came within %v", errTimeout, rest[0], *timeout))
	}
	if err != nil {
		return c.fail(err)
	}
	return exitOK
}
