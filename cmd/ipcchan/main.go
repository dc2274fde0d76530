// Command ipcchan lists, inspects, creates, uses and removes POSIX message
// queues, semaphores and shared memory objects, and ipcchan's own rings,
// topics, mutexes and wait groups: what ipcs and ipcrm are for System V IPC.
//
//	ipcchan ls [--json]                      every object, with its owner, mode and state
//	ipcchan stat NAME [--json]               one object in detail
//	ipcchan mk queue|ring|topic|sem|shm|mutex|waitgroup NAME [--capacity N] [--msgsize N] [--history N] [--overflow P] [--subscribers N] [--value N] [--size N] [--perm MODE]
//	ipcchan send QUEUE|RING|TOPIC [--priority N] [--kind K] [MESSAGE...]
//	ipcchan recv QUEUE|RING|TOPIC [-n N] [--follow] [--timeout D] [--json] [--kind K]
//	ipcchan post SEM [-n N]
//	ipcchan wait SEM [--timeout D]
//	ipcchan rm NAME... [--kind KIND]
//	ipcchan rm --stale [--idle] [--dry-run]
//	ipcchan bridge QUEUE|TOPIC NATS_URL [--kind queue|topic] [--from-nats] [--stream NAME] [-n N]
//
// Exit status, the same for every command: 0 done; 1 failed; 2 bad usage
// (an unknown flag, a flag that does not apply, a value out of range, an
// invalid name); 3 no such object (or the name is another kind's: the
// message says which); 4 timed out. "ipcchan help COMMAND" or "ipcchan
// COMMAND --help" explains each.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// Exit statuses that scripts can rely on.
const (
	exitOK       = 0
	exitFailed   = 1
	exitUsage    = 2
	exitNotFound = 3
	exitTimeout  = 4
)

type command struct {
	name, usage, help, example string
	run                        func(c *cli, cmd *command, args []string) int
}

var commands = []*command{cmdLs, cmdStat, cmdMk, cmdSend, cmdRecv, cmdPost, cmdWait, cmdRm, cmdBridge}

// cli holds the streams of one run, so that tests can run it in-process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func main() {
	c := &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	os.Exit(c.run(os.Args[1:]))
}

func (c *cli) run(args []string) int {
	if len(args) == 0 {
		c.usage(c.stderr)
		return exitUsage
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		if len(args) > 1 {
			if cmd := find(args[1]); cmd != nil {
				c.commandHelp(cmd, c.stdout)
				return exitOK
			}
		}
		c.usage(c.stdout)
		return exitOK
	}
	cmd := find(name)
	if cmd == nil {
		fmt.Fprintf(c.stderr, "ipcchan: unknown command %q\n\n", name)
		c.usage(c.stderr)
		return exitUsage
	}
	return cmd.run(c, cmd, args[1:])
}

func find(name string) *command {
	for _, cmd := range commands {
		if cmd.name == name {
			return cmd
		}
	}
	return nil
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprint(w, `usage: ipcchan COMMAND [ARGS]

POSIX message queues, semaphores and shared memory, and ipcchan's rings,
topics, mutexes and wait groups, by name ("/jobs"):

`)
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-60s %s\n", cmd.usage, cmd.help)
	}
	fmt.Fprint(w, `
Exit status: 0 done; 1 failed; 2 bad usage (a flag that does not apply, a
value out of range, an invalid name); 3 no such object (or the name is
another kind's); 4 timed out.
Run "ipcchan COMMAND --help" for a command's flags and an example.
`)
}

func (c *cli) commandHelp(cmd *command, w io.Writer) {
	fmt.Fprintf(w, "usage: ipcchan %s\n\n%s\n\nexample:\n%s\n", cmd.usage, cmd.help, cmd.example)
}

// flags returns a FlagSet for cmd whose -help prints the command's help.
func (c *cli) flags(cmd *command) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		c.commandHelp(cmd, c.stderr)
		fmt.Fprintln(c.stderr, "\nflags:")
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags anywhere among args ("send /q --priority 3 hi"), and
// returns the other arguments; "--" ends the flags. It returns a status to
// exit with when parsing ends the run (help or a bad flag).
func (c *cli) parse(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitUsage, false
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, 0, true
		}
		if args[0] == "--" || (len(rest) > 0 && rest[len(rest)-1] == "--") {
			return append(rest, args...), 0, true
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

// fail reports err, with advice for a shell user, and returns the exit
// status it calls for.
func (c *cli) fail(err error) int {
	fmt.Fprintln(c.stderr, "ipcchan:", shellAdvice(err))
	return status(err)
}

func status(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, ipcchan.ErrInvalidName):
		return exitUsage
	case errors.Is(err, ipcchan.ErrNotExist): // ErrWrongKind too
		return exitNotFound
	case errors.Is(err, errTimeout):
		return exitTimeout
	}
	return exitFailed
}

var errTimeout = errors.New("timed out")

// given returns the names of the flags that were set on the command line.
func given(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// onlyFlags refuses, as a usage mistake of cmd, a flag that was set but
// does not apply to what (a kind of object): allowed are those that do.
func (c *cli) onlyFlags(cmd *command, fs *flag.FlagSet, what string, allowed ...string) (int, bool) {
	for _, name := range slices.Sorted(maps.Keys(given(fs))) {
		if !slices.Contains(allowed, name) {
			takes := "no flags"
			if len(allowed) > 0 {
				takes = "--" + strings.Join(allowed, ", --")
			}
			return c.usageErr(cmd, "--%s does not apply to %s (it takes %s)", name, what, takes), false
		}
	}
	return 0, true
}

// usageErr reports a usage mistake of cmd.
func (c *cli) usageErr(cmd *command, format string, a ...any) int {
	fmt.Fprintf(c.stderr, "ipcchan %s: %s\nusage: ipcchan %s (see ipcchan %s --help)\n", cmd.name, fmt.Sprintf(format, a...), cmd.usage, cmd.name)
	return exitUsage
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
