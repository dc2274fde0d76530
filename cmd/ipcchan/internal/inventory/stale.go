package inventory

import "time"

// judge says what an object of /dev/shm is to its users (Info.Use), from
// what fillShm read of it and the processes that map it or have it open.
// Large messages are judged with their queues, by judgeLarge, and pools
// with their rings, by judgePools.
func judge(in *Info) {
	switch {
	case in.Kind == "large", in.Kind == "pool":
	case in.Kind == "temp":
		in.Use = InUse
		if in.Creator > 0 && !in.CreatorAlive && len(in.Users) == 0 {
			in.Use = Abandoned
		}
	case len(in.Users) > 0 || len(in.Registered) > 0:
		in.Use = InUse
	case in.Problem != "":
		in.Use, in.Why = Unknown, WhyUnreadable
	case in.Overflow:
		in.Use, in.Why = Unknown, WhyOverflow
	case len(in.Died) > 0:
		in.Use = Abandoned
	default:
		in.Use = Idle
	}
}

// judgeLarge says what each large message among infos is: Abandoned when
// no queue or ring refers to it, which is when its queue or ring is gone,
// or is empty while the message's sender is not sending it (it marked it
// queued, or died). The reference of such a message was taken by a
// receiver that died before it removed the file, or was never sent; a
// message whose sender died just after sending it waits in its queue and
// is in use while the queue holds messages. Without the list of queues
// (queuesKnown false), nothing is known.
func judgeLarge(infos []Info, queuesKnown bool) {
	byName := map[string]*Info{} // "queue /jobs", "ring /ticks"
	for i, in := range infos {
		if in.Kind == "queue" || in.Kind == "ring" {
			byName[in.Kind+" "+in.Name] = &infos[i]
		}
	}
	for i := range infos {
		f := &infos[i]
		if f.Kind != "large" {
			continue
		}
		q := byName[f.Of+" "+f.Name]
		switch {
		case f.Problem != "" || (f.Of == "queue" && !queuesKnown) || (q != nil && q.Problem != ""):
			f.Use, f.Why = Unknown, "its queue or ring could not be read"
		case q == nil || (q.Len == 0 && (f.State == "queued" || !f.CreatorAlive)):
			f.Use = Abandoned
		default:
			f.Use = InUse
		}
	}
}

// judgePools says what each pool among infos is. A pool goes with its
// object (a ring; UnlinkRing removes both): while that exists, the pool is
// what its object is to its users, or in use if a process maps it, and is
// never stale on its own (rm --stale removes it with its object). A pool
// whose object is gone (or was made for an earlier object of that name:
// the one there has another inode) is an orphan: in use while a process maps it or has
// it open, abandoned once nobody does. Without the list of queues
// (queuesKnown false), a queue's pool is not known. Each pool's numbers
// are also given to its object.
func judgePools(infos []Info, queuesKnown bool) {
	byName := map[string]*Info{} // "ring /frames"
	for i, in := range infos {
		if in.Kind != "large" && in.Kind != "pool" && in.Kind != "temp" {
			byName[in.Kind+" "+in.Name] = &infos[i]
		}
	}
	for i := range infos {
		p := &infos[i]
		if p.Kind != "pool" {
			continue
		}
		o := byName[p.Of+" "+p.Name]
		if o != nil && o.id.ino != 0 && o.id.ino != p.poolOwner { // (a queue's inode is not read)
			o = nil // made for an earlier object of that name, removed without it
		}
		p.Orphan = o == nil && (p.Of != "queue" || queuesKnown)
		if o != nil {
			o.PoolSize, o.PoolInUse, o.PoolRecovered = p.PoolSize, p.PoolInUse, p.PoolRecovered
		}
		switch {
		case len(p.Users) > 0:
			p.Use = InUse
		case o != nil:
			p.Use, p.Why = o.Use, o.Why
		case p.Of == "queue" && !queuesKnown:
			p.Use, p.Why = Unknown, "its queue could not be listed"
		case p.Problem != "":
			p.Use, p.Why = Unknown, WhyUnreadable
		default:
			p.Use = Abandoned
		}
	}
}

// staleGrace is how long an object must stay stale to be removed: longer
// than a process takes between opening an object and registering in its
// users table or mapping it, and than a live receiver takes from getting a
// large message's reference to removing its file (microseconds).
var staleGrace = 200 * time.Millisecond

// Stale returns what ipcchan rm --stale removes: the abandoned objects
// (see Abandoned; a pool whose object exists is not among them: it goes
// with it), and, with idle, also the idle objects of ipcchan's own
// format (shm, mutex, waitgroup, ring, topic), which everyone closed
// cleanly. Queues, glibc semaphores and plain shm objects carry no record
// of their users, so they are never stale. (A queue has no byte to spare
// for one without changing what C sees; a companion file would cost every
// open a file and a mapping and still not see C's users; and a queue
// nobody has open is often meant to be there, holding messages for the
// next run.)
//
// Stale looks twice, staleGrace apart, and returns what was stale both
// times, the same file. It also returns how many processes could not be
// inspected (Listing.Hidden), and the error of List, if any, with what
// could be judged.
func Stale(idle bool) (stale []Info, hidden int, err error) {
	first, err := List()
	if first.Objects == nil && err != nil {
		return nil, 0, err
	}
	candidates := map[string]Info{}
	for _, in := range first.Objects {
		if removable(in, idle) {
			candidates[in.Path] = in
		}
	}
	if len(candidates) == 0 {
		return nil, first.Hidden, err
	}
	time.Sleep(staleGrace)
	second, err := List()
	for _, in := range second.Objects { // in List's order
		if was, ok := candidates[in.Path]; ok && was.id == in.id && removable(in, idle) {
			stale = append(stale, in)
		}
	}
	return stale, max(first.Hidden, second.Hidden), err
}

// removable reports whether rm --stale removes in: abandoned, or, with
// idle, idle and of ipcchan's own format, which records its users.
func removable(in Info, idle bool) bool {
	if in.Kind == "pool" && !in.Orphan {
		return false // it goes with its object
	}
	if in.Use == Abandoned {
		return true
	}
	if !idle || in.Use != Idle || in.Format != "ipcchan" {
		return false
	}
	switch in.Kind {
	case "shm", "mutex", "waitgroup", "ring", "topic", "service":
		return true
	}
	return false
}
