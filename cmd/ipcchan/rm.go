package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ipcchan/ipcchan/internal/inventory"
	"github.com/ipcchan/ipcchan/ipcchan"
)

var cmdRm = &command{
	name:  "rm",
	usage: "rm NAME... [--kind KIND] | rm --stale [--dry-run]",
	help:  "remove objects by name; --stale removes ipcchan objects nobody uses",
	example: `  $ ipcchan rm /jobs /slots
  $ ipcchan rm /jobs --kind queue           # when /jobs is also a semaphore, say which
  $ ipcchan rm --stale --dry-run            # what --stale would remove`,
	run: runRm,
}

var kinds = []string{"queue", "ring", "semaphore", "shm", "mutex", "waitgroup"}

func runRm(c *cli, cmd *command, args []string) int {
	fs := c.flags(cmd)
	kind := fs.String("kind", "", "the kind to remove when a name has several: "+strings.Join(kinds, ", "))
	stale := fs.Bool("stale", false, "remove ipcchan's own objects (ring, mutex, wait group, shm, half-built files, large messages no queue refers to) that no live process uses; nothing else")
	dry := fs.Bool("dry-run", false, "with --stale: only say what would be removed")
	rest, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	if *kind == "sem" {
		*kind = "semaphore"
	}
	if *kind != "" && !contains(kinds, *kind) {
		return c.usageErr(cmd, "--kind %q: want one of %s", *kind, strings.Join(kinds, ", "))
	}
	if *stale {
		if len(rest) > 0 {
			return c.usageErr(cmd, "--stale takes no NAME")
		}
		return rmStale(c, *dry)
	}
	if len(rest) == 0 {
		return c.usageErr(cmd, "want a NAME, or --stale")
	}
	infos, listErr := inventory.List()
	status := exitOK
	for _, name := range rest {
		if err := ipcchan.CheckName(name); err != nil {
			return c.usageErr(cmd, "%v", err)
		}
		var found []inventory.Info
		for _, in := range infos {
			// A queue's large messages go with it: they are not an object of that name.
			if in.Name == name && in.Kind != "temp" && in.Kind != "large" && (*kind == "" || in.Kind == *kind) {
				found = append(found, in)
			}
		}
		// Queues could not be listed (no mqueue mount): try by name.
		if len(found) == 0 && listErr != nil && (*kind == "" || *kind == "queue") {
			found = append(found, inventory.Info{Kind: "queue", Name: name})
		}
		switch {
		case len(found) == 0:
			what := "object"
			if *kind != "" {
				what = *kind
			}
			fmt.Fprintf(c.stderr, "ipcchan: no %s is called %s\n", what, name)
			status = max(status, exitNotFound)
			continue
		case len(found) > 1:
			var ks []string
			for _, in := range found {
				ks = append(ks, in.Kind)
			}
			fmt.Fprintf(c.stderr, "ipcchan: %s names a %s; say which to remove with --kind\n", name, strings.Join(ks, " and a "))
			status = exitFailed
			continue
		}
		if err := inventory.Remove(found[0]); err != nil {
			if errors.Is(err, ipcchan.ErrNotExist) {
				status = max(status, exitNotFound)
			} else {
				status = exitFailed
			}
			fmt.Fprintln(c.stderr, "ipcchan:", err)
		}
	}
	return status
}

func rmStale(c *cli, dry bool) int {
	stale, err := inventory.Stale()
	status := exitOK
	if err != nil && stale == nil {
		return c.fail(err)
	}
	for _, in := range stale {
		verb := "removed"
		if dry {
			verb = "would remove"
		} else if rerr := inventory.Remove(in); rerr != nil && !errors.Is(rerr, ipcchan.ErrNotExist) {
			fmt.Fprintln(c.stderr, "ipcchan:", rerr)
			status = exitFailed
			continue
		}
		fmt.Fprintf(c.stdout, "%s %s %s (%s)\n", verb, in.Kind, in.Name, in.Path)
	}
	if len(stale) == 0 {
		fmt.Fprintln(c.stdout, "nothing stale")
	}
	if err != nil {
		fmt.Fprintln(c.stderr, "ipcchan:", err)
		status = exitFailed
	}
	return status
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
