package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ipcchan/ipcchan/cmd/ipcchan/internal/inventory"
	"github.com/ipcchan/ipcchan/internal/kinds"
	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/ipcchan"
)

var cmdRm = &command{
	name:  "rm",
	usage: "rm NAME... [--kind KIND] | rm --stale [--idle] [--dry-run]",
	help:  "remove objects by name; --stale removes abandoned objects (their users died without closing them)",
	example: `  $ ipcchan rm /jobs /slots
  $ ipcchan rm /jobs --kind queue           # when /jobs is also a semaphore, say which
  $ ipcchan rm --stale --dry-run            # what --stale would remove
  $ ipcchan rm --stale --idle               # also ipcchan objects that everyone closed`,
	run: runRm,
}

// kindWords maps what --kind takes to the kinds.
var kindWords = map[string]string{"queue": kinds.Queue, "ring": kinds.Ring, "topic": kinds.Topic, "semaphore": kinds.Semaphore, "sem": kinds.Semaphore,
	"shm": kinds.Shm, "mutex": kinds.Mutex, "waitgroup": kinds.WaitGroup, "wg": kinds.WaitGroup, "service": kinds.Service,
	"pool": "pool"} // a ring's pool left behind when its ring is gone

func runRm(c *cli, cmd *command, args []string) int {
	fs := c.flags(cmd)
	kind := fs.String("kind", "", "the kind to remove when a name has several: "+strings.Join(kinds.All, ", ")+", or pool (a ring's, left behind when its ring is gone)")
	stale := fs.Bool("stale", false, "remove what is abandoned: ipcchan objects (ring, topic, service, mutex, wait group, shm) whose users table (and a topic's subscription table) lists only processes that died without closing them and that nobody maps or has open, half-built files of dead creators, large messages nothing refers to, and pools of rings that are gone that nobody maps; nothing else")
	idle := fs.Bool("idle", false, "with --stale: also remove ipcchan objects (ring, topic, service, mutex, wait group, shm) that nobody uses and everyone closed cleanly, which are kept by default")
	dry := fs.Bool("dry-run", false, "with --stale: only say what would be removed")
	rest, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	if *kind != "" {
		k, known := kindWords[*kind]
		if !known {
			return c.usageErr(cmd, "--kind %q: want one of %s", *kind, strings.Join(kinds.All, ", "))
		}
		*kind = k
	}
	if *stale {
		if code, ok := c.onlyFlags(cmd, fs, "rm --stale", "stale", "idle", "dry-run"); !ok {
			return code
		}
		if len(rest) > 0 {
			return c.usageErr(cmd, "--stale takes no NAME")
		}
		return rmStale(c, *idle, *dry)
	}
	if code, ok := c.onlyFlags(cmd, fs, "rm NAME (they go with --stale)", "kind"); !ok {
		return code
	}
	if len(rest) == 0 {
		return c.usageErr(cmd, "want a NAME, or --stale")
	}
	for _, name := range rest {
		if err := ipcchan.CheckName(name); err != nil {
			return c.usageErr(cmd, "%v", err)
		}
	}
	listing, listErr := inventory.List()
	exit := exitOK
	for _, name := range rest {
		var found []inventory.Info
		var other []string
		for _, in := range listing.Objects {
			// A queue's large messages go with it, and a ring's pool: they
			// are not an object of that name (a pool whose ring is gone is).
			if in.Name != name || in.Kind == "temp" || in.Kind == "large" || (in.Kind == "pool" && !in.Orphan) {
				continue
			}
			if *kind == "" || in.Kind == *kind {
				found = append(found, in)
			} else {
				other = append(other, in.Kind)
			}
		}
		// Queues could not be listed (no mqueue mount): try by name.
		if len(found) == 0 && listErr != nil && (*kind == "" || *kind == kinds.Queue) {
			found = append(found, inventory.Info{Kind: kinds.Queue, Name: name})
		}
		switch {
		case len(found) == 0 && len(other) > 0:
			fmt.Fprintf(c.stderr, "ipcchan: %s is %s, not %s; nothing removed\n", name, kinds.List(other), kinds.Describe(*kind))
			exit = max(exit, exitNotFound)
			continue
		case len(found) == 0:
			what := "object"
			if *kind != "" {
				what = *kind
			}
			fmt.Fprintf(c.stderr, "ipcchan: no %s is called %s\n", what, name)
			exit = max(exit, exitNotFound)
			continue
		case len(found) > 1:
			var ks []string
			for _, in := range found {
				ks = append(ks, in.Kind)
			}
			fmt.Fprintf(c.stderr, "ipcchan: %s names %s; say which to remove with --kind\n", name, kinds.List(ks))
			exit = max(exit, exitFailed)
			continue
		}
		if err := inventory.Remove(found[0]); err != nil {
			exit = max(exit, status(err))
			fmt.Fprintln(c.stderr, "ipcchan:", err)
		}
	}
	return exit
}

func rmStale(c *cli, idle, dry bool) int {
	stale, hidden, err := inventory.Stale(idle)
	exit := exitOK
	if err != nil && stale == nil {
		fmt.Fprintln(c.stderr, "ipcchan:", err)
		exit = exitFailed
	}
	for _, in := range stale {
		verb := "removed"
		if dry {
			verb = "would remove"
		} else if rerr := inventory.Remove(in); rerr != nil && !errors.Is(rerr, ipcchan.ErrNotExist) {
			fmt.Fprintln(c.stderr, "ipcchan:", rerr)
			exit = exitFailed
			continue
		}
		fmt.Fprintf(c.stdout, "%s %s %s %s (%s)\n", verb, in.Use, in.Kind, in.Name, in.Path)
	}
	if len(stale) == 0 {
		fmt.Fprintln(c.stdout, "nothing stale")
	}
	if !posix.InitialPidNamespace() {
		fmt.Fprintf(c.stderr, "ipcchan: nothing is judged idle or abandoned here: %s; run rm --stale in the machine's own PID namespace\n", inventory.WhyPidNS)
	}
	if hidden > 0 {
		fmt.Fprintf(c.stderr, "ipcchan: %s: an object only they use was judged by its users table alone\n", hiddenNote(hidden))
	}
	if err != nil && stale != nil {
		fmt.Fprintln(c.stderr, "ipcchan:", err)
		exit = exitFailed
	}
	return exit
}
