// Command mqserver is an event-driven server that prints the text messages
// it receives from three sources, one line per message, tagged with the
// source:
//
//	[unix #ID] TEXT    a line from client ID on a Unix stream socket
//	[fifo] TEXT        a line written to a FIFO
//	[mq prio=N] TEXT   a message of priority N on a POSIX message queue
//
// Its main loop is one epoll reactor (package loop). It creates the queue
// at startup and removes the queue, the socket and the FIFO when SIGINT or
// SIGTERM stops it. Logs go to stderr.
//
// Usage:
//
//	mqserver [-socket PATH] [-fifo PATH] [-queue NAME] [-maxmsg N] [-msgsize N]
//	         [-notify epoll|signal] [-json] [-perm MODE]
//
// Example, with clients in another terminal:
//
//	mqserver -queue /demo
//	mqclient -queue /demo -priority 3 "hello from mqclient"
//	echo "hello from a FIFO writer" > /tmp/mqserver.fifo
//	echo "hello from a socket client" | nc -U /tmp/mqserver.sock
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"strconv"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	socket, fifo, queue string
	maxmsg, msgsize     int
	notify              string
	json                bool
	perm                fs.FileMode
}

// run is the whole program; it returns the exit status: 0 after a clean
// shutdown, 1 when the server could not start or failed, 2 for bad usage.
func run(args []string, stdout, stderr io.Writer) int {
	var cfg config
	flags := flag.NewFlagSet("mqserver", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.StringVar(&cfg.socket, "socket", "/tmp/mqserver.sock", "Unix stream `path` to listen on; one message per line")
	flags.StringVar(&cfg.fifo, "fifo", "/tmp/mqserver.fifo", "FIFO `path` to read; one message per line")
	flags.StringVar(&cfg.queue, "queue", "/mqserver", "POSIX message queue `name` to create and read")
	flags.IntVar(&cfg.maxmsg, "maxmsg", 10, "queue capacity in messages (at most /proc/sys/fs/mqueue/msg_max unless root)")
	flags.IntVar(&cfg.msgsize, "msgsize", 8192, "largest queue message in bytes (at most /proc/sys/fs/mqueue/msgsize_max unless root)")
	flags.StringVar(&cfg.notify, "notify", "epoll", "how the loop learns of queue messages: epoll (the queue's descriptor) or signal (mq_notify)")
	flags.BoolVar(&cfg.json, "json", false, "print one JSON object per message instead of a tagged line")
	perm := flags.String("perm", "0600", "permission `mode` of the queue, socket and FIFO (who may send)")
	flags.Usage = func() {
		fmt.Fprint(stderr, `usage: mqserver [flags]

Prints every message received on a Unix socket, a FIFO and a POSIX message
queue as one line "[SOURCE] TEXT" on stdout, until SIGINT or SIGTERM; then
removes the queue, the socket and the FIFO.

example:
  mqserver -queue /demo &
  mqclient -queue /demo "hello"             # prints: [mq prio=0] hello
  echo hi > /tmp/mqserver.fifo              # prints: [fifo] hi
  echo hey | nc -U /tmp/mqserver.sock       # prints: [unix #1] hey

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
	usageError := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "mqserver: "+format+"\n", a...)
		fmt.Fprintln(stderr, "run mqserver -help for usage")
		return 2
	}
	if flags.NArg() > 0 {
		return usageError("unexpected argument %q: mqserver takes flags only", flags.Arg(0))
	}
	if cfg.notify != "epoll" && cfg.notify != "signal" {
		return usageError("-notify %q: want epoll or signal", cfg.notify)
	}
	if cfg.maxmsg < 1 || cfg.msgsize < 1 {
		return usageError("-maxmsg and -msgsize must be at least 1")
	}
	mode, err := strconv.ParseUint(*perm, 8, 32)
	if err != nil || mode > 0o777 {
		return usageError("-perm %q: want an octal mode such as 0600 or 0666", *perm)
	}
	cfg.perm = fs.FileMode(mode)
	if cfg.socket == "" || cfg.fifo == "" {
		return usageError("-socket and -fifo need a path")
	}

	logger := log.New(stderr, "mqserver: ", 0)
	s, err := newServer(cfg, stdout, logger)
	if err != nil {
		logger.Print(err)
		return 1
	}
	if err := s.serve(); err != nil {
		logger.Print(err)
		return 1
	}
	return 0
}
