package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/cmd/ipcchan/internal/inventory"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/ipcchan"
)

var cmdLs = &command{
	name:  "ls",
	usage: "ls [--json]",
	help:  "list every queue, ring, topic, semaphore, shm object, mutex and wait group, whether it is in use, idle or abandoned, and what the user's queues cost of ulimit -q",
	example: `  $ ipcchan ls
  KIND       NAME     OWNER  MODE  SIZE  USE        DETAILS
  queue      /jobs    root   0600  128   idle       2/10 messages of at most 8192 bytes
  semaphore  /slots   root   0600  32    in use     value 3, open in 4121
  shm        /stats   root   0600  304   in use     ipcchan main.Stats, open in 4121 4125
  mutex      /lock    root   0600  200   abandoned  held by 4125, which is dead, left open by 4125, which died
  topic      /ticks   root   0600  9408  in use     12 published into 8 slots of at most 1024 bytes, history 2, dropoldest, 2/64 subscribers, topic of []uint8, open in 4121 4125

  1 queue of root: charged 82880 bytes of the 819200 bytes that RLIMIT_MSGQUEUE (ulimit -q) allows the user`,
	run: runLs,
}

var cmdStat = &command{
	name:  "stat",
	usage: "stat NAME [--json]",
	help:  "show everything known of the objects called NAME",
	example: `  $ ipcchan stat /jobs
  queue /jobs
    path      mqueue:/jobs
    ...`,
	run: runStat,
}

func runLs(c *cli, cmd *command, args []string) int {
	fs := c.flags(cmd)
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	rest, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		return c.usageErr(cmd, "unexpected argument %q", rest[0])
	}
	listing, err := inventory.List()
	infos := listing.Objects
	if infos == nil {
		infos = []inventory.Info{}
	}
	if *asJSON {
		writeJSON(c.stdout, infos)
	} else {
		writeTable(c.stdout, infos)
		if err == nil {
			writeBudget(c.stdout, inventory.QueueBudget(infos, os.Getuid()))
		}
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "ipcchan: the list is incomplete: %v\n", err)
		return exitFailed
	}
	return exitOK
}

func runStat(c *cli, cmd *command, args []string) int {
	fs := c.flags(cmd)
	asJSON := fs.Bool("json", false, "print JSON")
	rest, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	if len(rest) != 1 {
		return c.usageErr(cmd, "want one NAME")
	}
	name := rest[0]
	if err := ipcchan.CheckName(name); err != nil {
		return c.usageErr(cmd, "%v", err)
	}
	listing, listErr := inventory.List()
	var found []inventory.Info
	for _, in := range listing.Objects {
		if in.Name == name {
			found = append(found, in)
		}
	}
	if len(found) == 0 {
		msg := fmt.Sprintf("no object is called %s", name)
		if listErr != nil {
			msg += fmt.Sprintf(" (queues could not be listed: %v)", listErr)
		}
		fmt.Fprintln(c.stderr, "ipcchan:", msg)
		return exitNotFound
	}
	if *asJSON {
		writeJSON(c.stdout, found)
		return exitOK
	}
	unused := false
	for i, in := range found {
		if i > 0 {
			fmt.Fprintln(c.stdout)
		}
		writeStat(c.stdout, in)
		unused = unused || in.Use == inventory.Idle || in.Use == inventory.Abandoned
	}
	if unused && listing.Hidden > 0 {
		fmt.Fprintf(c.stderr, "ipcchan: %s: a process among them that uses it would not show\n", hiddenNote(listing.Hidden))
	}
	return exitOK
}

// hiddenNote says how many processes could not be inspected.
func hiddenNote(hidden int) string {
	if hidden == 1 {
		return "1 process could not be inspected (its /proc/PID/maps and fd are not readable by this user)"
	}
	return fmt.Sprintf("%d processes could not be inspected (their /proc/PID/maps and fd are not readable by this user)", hidden)
}

func writeJSON(w io.Writer, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintf(w, "%s\n", b)
}

// writeBudget says how much of the RLIMIT_MSGQUEUE budget the user's
// queues hold: queues left by crashed programs use it up silently, until
// every new queue fails.
func writeBudget(w io.Writer, b inventory.Budget) {
	of := "no limit"
	if b.Limit != unix.RLIM_INFINITY {
		of = fmt.Sprintf("of the %d bytes", b.Limit)
	}
	fmt.Fprintf(w, "\n%s of %s: charged %d bytes %s that RLIMIT_MSGQUEUE (ulimit -q) allows the user\n",
		plural(b.Queues, "queue", "queues"), userName(b.UID), b.Used, of)
	if b.Limit != unix.RLIM_INFINITY && b.Limit > 0 && uint64(b.Used)*10 >= b.Limit*9 {
		fmt.Fprintln(w, "nearly all of it is used: new queues will fail; remove unused ones with ipcchan rm")
	}
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}

func writeTable(w io.Writer, infos []inventory.Info) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tOWNER\tMODE\tSIZE\tUSE\tDETAILS")
	for _, in := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%04o\t%d\t%s\t%s\n", in.Kind, in.Name, in.Owner, uint32(in.Mode), in.Size, in.Use, details(in))
	}
	tw.Flush()
}

// details says in a few words what state an object is in.
func details(in inventory.Info) string {
	var d []string
	switch in.Kind {
	case "queue":
		if in.Len >= 0 {
			d = append(d, fmt.Sprintf("%d/%d messages of at most %d bytes", in.Len, in.Capacity, in.MsgSize))
		}
		if in.Large > 0 {
			d = append(d, fmt.Sprintf("%s in %d bytes of /dev/shm", plural(in.Large, "large message", "large messages"), in.LargeBytes))
		}
		if in.PoolSize > 0 {
			d = append(d, fmt.Sprintf("pool of %d bytes, %d in use", in.PoolSize, in.PoolInUse))
		}
		if in.NotifyPID > 0 {
			d = append(d, fmt.Sprintf("notifies %d", in.NotifyPID))
		}
	case "large":
		sender := "alive"
		if !in.CreatorAlive {
			sender = "dead"
		}
		d = append(d, fmt.Sprintf("message of %d bytes, %s, sent by %d (%s)", in.MsgBytes, in.State, in.Creator, sender))
	case "pool":
		if in.PoolSize > 0 {
			d = append(d, fmt.Sprintf("pool of %d bytes, %d in use", in.PoolSize, in.PoolInUse))
		}
		if in.PoolRecovered > 0 {
			d = append(d, plural(int(in.PoolRecovered), "run recovered after a crash", "runs recovered after crashes"))
		}
		of := "of " + in.Of + " " + in.Name
		if in.Orphan {
			of += ", which is gone"
		}
		d = append(d, of)
	case "semaphore":
		d = append(d, fmt.Sprintf("value %d", in.Value))
		if in.Waiters > 0 {
			d = append(d, plural(in.Waiters, "waiter", "waiters"))
		}
	case "mutex":
		switch {
		case in.Holder == 0:
			d = append(d, "free")
		case in.HolderAlive:
			d = append(d, fmt.Sprintf("held by %d", in.Holder))
		default:
			d = append(d, fmt.Sprintf("held by %d, which is dead", in.Holder))
		}
		if in.State != "" && in.State != "consistent" {
			d = append(d, in.State)
		}
	case "waitgroup":
		d = append(d, fmt.Sprintf("count %d", in.Count))
	case "ring":
		d = append(d, fmt.Sprintf("%d/%d messages of at most %d bytes, ring of %s", in.Len, in.Capacity, in.MsgSize, in.Type))
		if in.Recovered > 0 {
			d = append(d, plural(int(in.Recovered), "slot recovered after a crash", "slots recovered after crashes"))
		}
		if in.PoolSize > 0 {
			d = append(d, fmt.Sprintf("pool of %d bytes, %d in use", in.PoolSize, in.PoolInUse))
		}
		if in.Ended {
			d = append(d, "stream ended")
		}
	case "topic":
		d = append(d, fmt.Sprintf("%d published into %d slots of at most %d bytes", in.Published, in.Capacity, in.MsgSize))
		if in.History > 0 {
			d = append(d, fmt.Sprintf("history %d", in.History))
		}
		d = append(d, in.Policy)
		subs := fmt.Sprintf("%d/%d subscribers", len(in.Subscribers), in.MaxSubscribers)
		if dead := deadSubscribers(in); dead > 0 {
			subs += fmt.Sprintf(" (%d of dead processes)", dead)
		}
		d = append(d, subs, "topic of "+in.Type)
		if in.PoolSize > 0 {
			d = append(d, fmt.Sprintf("pool of %d bytes, %d in use", in.PoolSize, in.PoolInUse))
		}
		if in.Recovered > 0 {
			d = append(d, fmt.Sprintf("%d recovered after crashes", in.Recovered))
		}
		if in.Ended {
			d = append(d, "stream ended")
		}
	case "service":
		d = append(d, fmt.Sprintf("%s, %s, %d/%d calls in flight, %d answered", plural(len(in.Servers), "server", "servers"),
			plural(in.Clients, "client", "clients"), in.InFlight, in.Capacity, in.Calls))
		if in.Late > 0 {
			d = append(d, fmt.Sprintf("%d late", in.Late))
		}
		if in.ServerDeaths > 0 {
			d = append(d, plural(int(in.ServerDeaths), "call lost to a dead server", "calls lost to dead servers"))
		}
		d = append(d, "service "+in.Type)
	case "temp":
		state := "alive"
		if !in.CreatorAlive {
			state = "dead"
		}
		d = append(d, fmt.Sprintf("half-built by %d (%s)", in.Creator, state))
	case "shm":
		if in.Format == "ipcchan" {
			d = append(d, "ipcchan "+in.Type)
		} else {
			d = append(d, "plain")
		}
	}
	if open := union(in.Users, in.Registered); len(open) > 0 {
		d = append(d, "open in "+pids(open))
	}
	if len(in.Died) > 0 {
		d = append(d, "left open by "+pids(in.Died)+", which died")
	}
	if in.Problem != "" {
		d = append(d, in.Problem)
	}
	return strings.Join(d, ", ")
}

// deadSubscribers counts the subscriptions of a topic whose process died.
func deadSubscribers(in inventory.Info) int {
	n := 0
	for _, s := range in.Subscribers {
		if !s.Alive {
			n++
		}
	}
	return n
}

// union returns the pids of a and b, each once, sorted.
func union(a, b []int) []int {
	u := slices.Concat(a, b)
	slices.Sort(u)
	return slices.Compact(u)
}

// pids lists process ids: "4121 4125".
func pids(list []int) string {
	ps := make([]string, len(list))
	for i, p := range list {
		ps[i] = strconv.Itoa(p)
	}
	return strings.Join(ps, " ")
}

func writeStat(w io.Writer, in inventory.Info) {
	fmt.Fprintf(w, "%s %s\n", in.Kind, in.Name)
	line := func(k string, v any) { fmt.Fprintf(w, "  %-10s %v\n", k, v) }
	line("path", in.Path)
	line("format", in.Format)
	line("owner", fmt.Sprintf("%s (uid %d)", in.Owner, in.UID))
	line("mode", fmt.Sprintf("%04o", uint32(in.Mode)))
	line("size", fmt.Sprintf("%d bytes", in.Size))
	line("use", useDetail(in))
	switch in.Kind {
	case "queue":
		line("messages", fmt.Sprintf("%d of %d", in.Len, in.Capacity))
		line("msgsize", in.MsgSize)
		line("charge", fmt.Sprintf("%d bytes of its owner's RLIMIT_MSGQUEUE", in.Charge))
		line("large", fmt.Sprintf("%s in %d bytes of /dev/shm", plural(in.Large, "message", "messages"), in.LargeBytes))
		if in.PoolSize > 0 {
			line("pool", fmt.Sprintf("%d bytes, %d in use by large messages, %d runs taken back from processes that died holding them (%s)",
				in.PoolSize, in.PoolInUse, in.PoolRecovered, posix.ShmDir+objfmt.PoolName(in.Kind, in.Name)))
		}
		if in.NotifyPID > 0 {
			line("notify", fmt.Sprintf("process %d is registered (mq_notify)", in.NotifyPID))
		}
	case "semaphore":
		line("value", in.Value)
		line("waiters", in.Waiters)
	case "shm":
		if in.Type != "" {
			line("type", in.Type)
		}
	case "waitgroup":
		line("count", in.Count)
	case "ring":
		line("type", in.Type)
		line("messages", fmt.Sprintf("%d of %d", in.Len, in.Capacity))
		line("msgsize", in.MsgSize)
		if in.PoolSize == 0 {
			line("recovered", fmt.Sprintf("%d slots taken back from processes that died holding them", in.Recovered))
			break
		}
		line("recovered", fmt.Sprintf("%d slots and %d runs of its pool taken back from processes that died holding them", in.Recovered, in.PoolRecovered))
		line("pool", fmt.Sprintf("%d bytes, %d in use by messages, loans and views (%s)", in.PoolSize, in.PoolInUse, posix.ShmDir+objfmt.PoolName(in.Kind, in.Name)))
	case "pool":
		of := in.Of + " " + in.Name
		if in.Orphan {
			of += ", which is gone: this pool was left behind"
		} else {
			of += ": it goes with it"
		}
		line("of", of)
		line("holds", fmt.Sprintf("%d bytes of large messages, %d in use by messages, loans and views", in.PoolSize, in.PoolInUse))
		line("recovered", fmt.Sprintf("%d runs taken back from processes that died holding them", in.PoolRecovered))
	case "service":
		line("type", in.Type)
		line("capacity", fmt.Sprintf("%d calls in flight at most", in.Capacity))
		line("servers", fmt.Sprintf("%d %v", len(in.Servers), in.Servers))
		line("clients", fmt.Sprintf("%d (other processes with it open)", in.Clients))
		line("in flight", fmt.Sprintf("%d calls posted or being handled", in.InFlight))
		line("answered", in.Calls)
		line("late", fmt.Sprintf("%d answers dropped: their callers had given up", in.Late))
		line("servers died", fmt.Sprintf("%d calls whose server died handling them", in.ServerDeaths))
		line("recovered", fmt.Sprintf("%d records taken back from processes that died holding them", in.Recovered))
	case "topic":
		line("type", in.Type)
		line("capacity", fmt.Sprintf("%d slots", in.Capacity))
		line("msgsize", in.MsgSize)
		line("history", fmt.Sprintf("%d messages for a new subscriber", in.History))
		line("overflow", policyDetail(in.Policy))
		line("published", in.Published)
		line("recovered", fmt.Sprintf("%d slots and subscriptions taken back from processes that died holding them", in.Recovered))
		if in.PoolSize > 0 {
			line("pool", fmt.Sprintf("%d bytes, %d in use by large messages, loans and views, %d runs taken back (%s)",
				in.PoolSize, in.PoolInUse, in.PoolRecovered, posix.ShmDir+objfmt.PoolName(in.Kind, in.Name)))
		}
		line("ended", yesNo(in.Ended, "yes: CloseSend was called, nothing more is published", "no"))
		line("subscribed", fmt.Sprintf("%s of at most %d", plural(len(in.Subscribers), "subscription", "subscriptions"), in.MaxSubscribers))
		if len(in.Subscribers) > 0 {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "    ENTRY\tPID\tPROCESS\tLAG\tMISSED")
			for _, sub := range in.Subscribers {
				proc := yesNo(sub.Alive, "alive", "dead")
				if !sub.Active {
					proc += ", subscribing"
				}
				fmt.Fprintf(tw, "    %d\t%d\t%s\t%d\t%d\n", sub.Entry, sub.Pid, proc, sub.Lag, sub.Missed)
			}
			tw.Flush()
		}
	}
	if in.Creator > 0 {
		line("creator", in.Creator)
	}
	if d := details(in); d != "" {
		line("state", d)
	}
}

// policyDetail says what a topic's overflow policy does.
func policyDetail(policy string) string {
	switch policy {
	case "block":
		return "block: a publisher waits while a live subscriber is a whole capacity behind"
	case "dropoldest":
		return "dropoldest: a publisher overwrites the oldest message, which a subscriber that had not read it misses"
	}
	return policy
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

// useDetail says what the object is to its users, and how that is known.
func useDetail(in inventory.Info) string {
	if in.Kind == "pool" && !in.Orphan && len(in.Users) == 0 {
		use := in.Use
		if in.Why != "" {
			use += " (" + in.Why + ")"
		}
		return fmt.Sprintf("%s, as its %s is: it goes with its %s, and is removed with it", use, in.Of, in.Of)
	}
	return ownUse(in)
}

// ownUse says what the object is to its users, judged by itself.
func ownUse(in inventory.Info) string {
	switch in.Use {
	case inventory.InUse:
		var who []string
		if len(in.Users) > 0 {
			who = append(who, "mapped or open in "+pids(in.Users))
		}
		if len(in.Registered) > 0 {
			who = append(who, "registered by "+pids(in.Registered))
		}
		if len(who) == 0 {
			return "in use"
		}
		return "in use: " + strings.Join(who, "; ")
	case inventory.Idle:
		if in.Format == "ipcchan" {
			return "idle: nobody has it open, and everyone who did closed it (rm --stale keeps it; rm --stale --idle removes it)"
		}
		return "idle: nobody has it open (nothing records who did; rm --stale keeps it)"
	case inventory.Abandoned:
		if len(in.Died) > 0 {
			return "abandoned: only processes that died without closing it used it (" + pids(in.Died) + "), and nobody has it open (rm --stale removes it)"
		}
		return "abandoned (rm --stale removes it)"
	case inventory.Unknown:
		if in.Why != "" {
			return "unknown: " + in.Why + " (rm --stale keeps it)"
		}
		return "unknown (rm --stale keeps it)"
	}
	return in.Use
}
