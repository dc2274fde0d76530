package ipcchan_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func init() {
	helpers["send-numbered"] = helperSendNumbered
	helpers["receive-record"] = helperReceiveRecord
	helpers["sem-wait"] = helperSemWait
	helpers["create-pause"] = helperCreatePause
}

// helperSendNumbered: QUEUE COUNTERS — sends Job{ID: 0, 1, 2...} forever,
// storing in COUNTERS how many sends have returned.
func helperSendNumbered(args []string) error {
	q, err := ipcchan.OpenQueue[Job](args[0])
	if err != nil {
		return err
	}
	c, release, err := mapCounters(args[1])
	if err != nil {
		return err
	}
	defer release()
	for i := 0; ; i++ {
		if err := q.Send(context.Background(), Job{ID: i, Name: "job " + strconv.Itoa(i)}); err != nil {
			return err
		}
		atomic.StoreUint64(c.plain, uint64(i+1))
	}
}

// helperReceiveRecord: QUEUE COUNTERS — receives Jobs with All, storing in
// COUNTERS how many it has been handed.
func helperReceiveRecord(args []string) error {
	q, err := ipcchan.OpenQueue[Job](args[0])
	if err != nil {
		return err
	}
	c, release, err := mapCounters(args[1])
	if err != nil {
		return err
	}
	defer release()
	for j, err := range q.All(context.Background()) {
		if err != nil {
			return err
		}
		if uint64(j.ID) != atomic.LoadUint64(c.plain) {
			return fmt.Errorf("got job %d after %d", j.ID, atomic.LoadUint64(c.plain))
		}
		atomic.StoreUint64(c.plain, uint64(j.ID+1))
	}
	return nil
}

// helperSemWait: SEM — takes a token, waiting for it.
func helperSemWait(args []string) error {
	s, err := ipcchan.OpenSemaphore(args[0])
	if err != nil {
		return err
	}
	return s.Acquire(context.Background())
}

// helperCreatePause: KIND NAME — creates the object, but stops between
// building it and linking it under its name, says where, and waits to die.
func helperCreatePause(args []string) error {
	posix.BeforeLink = func(tmp string) {
		fmt.Println(tmp)
		for {
			time.Sleep(time.Hour)
		}
	}
	var err error
	switch args[0] {
	case "shm":
		_, err = ipcchan.OpenShm[Stats](args[1], ipcchan.Create())
	case "mutex":
		_, err = ipcchan.OpenMutex(args[1], ipcchan.Create())
	case "waitgroup":
		_, err = ipcchan.OpenWaitGroup(args[1], ipcchan.Create())
	case "semaphore":
		_, err = ipcchan.OpenSemaphore(args[1], ipcchan.Create())
	}
	return err
}

// drainJobs receives what a queue holds, without waiting.
func drainJobs(t *testing.T, q *ipcchan.Queue[Job]) []int {
	t.Helper()
	var ids []int
	for {
		j, err := q.TryReceive()
		if errors.Is(err, ipcchan.ErrEmpty) {
			return ids
		}
		if err != nil {
			t.Fatalf("a message in the queue is damaged: %v", err)
		}
		if j.Name != "job "+strconv.Itoa(j.ID) {
			t.Fatalf("job %d arrived as %+v", j.ID, j)
		}
		ids = append(ids, j.ID)
	}
}

// TestKillSenderMidStream: a sender killed while sending leaves the queue
// working, with every message it sent intact and in order.
func TestKillSenderMidStream(t *testing.T) {
	name := queueName(t)
	q := openQueue[Job](t, name, ipcchan.Create(), ipcchan.Capacity(10))
	file := counterFile(t)
	c, release, err := mapCounters(file)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	sender := helperCmd(t, "send-numbered", name, file)
	if err := sender.Start(); err != nil {
		t.Fatal(err)
	}
	// Receive while it sends, then kill it in the middle of the stream.
	var ids []int
	for len(ids) < 500 {
		j, err := q.Receive(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	sender.Process.Kill()
	sender.Wait()
	acked := int(atomic.LoadUint64(c.plain))
	ids = append(ids, drainJobs(t, q)...)
	for i, id := range ids {
		if id != i {
			t.Fatalf("message %d is job %d: a gap or a duplicate", i, id)
		}
	}
	if len(ids) < acked || len(ids) > acked+1 {
		t.Errorf("%d messages in all; the sender had %d sends return (at most one more was under way)", len(ids), acked)
	}
	// The queue still works.
	q.Send(t.Context(), Job{ID: -1, Name: "job -1"})
	if got := drainJobs(t, q); len(got) != 1 || got[0] != -1 {
		t.Errorf("after the kill the queue gives %v", got)
	}
	t.Logf("sender killed after %d acknowledged sends; %d messages received, in order", acked, len(ids))
}

// TestKillReceiverMidStream: a receiver killed while receiving takes at
// most the message it was handed; every other message stays in the queue.
func TestKillReceiverMidStream(t *testing.T) {
	name := queueName(t)
	q := openQueue[Job](t, name, ipcchan.Create(), ipcchan.Capacity(10))
	file := counterFile(t)
	c, release, err := mapCounters(file)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	const n = 3000
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if err := q.Send(t.Context(), Job{ID: i, Name: "job " + strconv.Itoa(i)}); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	receiver := helperCmd(t, "receive-record", name, file)
	if err := receiver.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the receiver to take 500 jobs", func() bool { return atomic.LoadUint64(c.plain) >= 500 })
	receiver.Process.Kill()
	receiver.Wait()
	handed := int(atomic.LoadUint64(c.plain))
	// Take the rest ourselves, as the sender finishes.
	var rest []int
	for len(rest) < n-handed-1 {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		j, err := q.Receive(ctx)
		cancel()
		if err != nil {
			break
		}
		rest = append(rest, j.ID)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	rest = append(rest, drainJobs(t, q)...)
	if len(rest) == 0 {
		t.Fatal("nothing left in the queue")
	}
	first := rest[0]
	if first != handed && first != handed+1 {
		t.Fatalf("the receiver recorded %d jobs but the queue resumes at job %d", handed, first)
	}
	for i, id := range rest {
		if id != first+i {
			t.Fatalf("after the kill, message %d is job %d: a gap or a duplicate", i, id)
		}
	}
	if last := rest[len(rest)-1]; last != n-1 {
		t.Fatalf("the queue ends at job %d, want %d", last, n-1)
	}
	t.Logf("receiver killed after recording %d jobs; the queue resumed at %d (%d in its hands when it died)", handed, first, first-handed)
}

// TestKillSemaphoreWaiter: a process killed while it waits for a token
// leaves the count exact.
func TestKillSemaphoreWaiter(t *testing.T) {
	name := semName(t)
	s := openSem(t, name, ipcchan.Create())
	waiter := helperCmd(t, "sem-wait", name)
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the waiter to sleep", func() bool { return semWaiters(t, name) == 1 })
	waiter.Process.Kill()
	waiter.Wait()
	for range 3 {
		s.Release()
	}
	if v := value(t, s); v != 3 {
		t.Fatalf("value %d after 3 releases with the waiter dead", v)
	}
	for i := range 3 {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		if err := s.Acquire(ctx); err != nil {
			t.Fatalf("acquire %d: %v", i, err)
		}
		cancel()
	}
	if v := value(t, s); v != 0 {
		t.Errorf("value %d, want 0", v)
	}
	// glibc's counter of possible sleepers still counts the dead one, as
	// glibc's own would: it only costs Release a futex wake-up call.
	t.Logf("waiters still counted after the kill: %d", semWaiters(t, name))
}

// TestKillCreatorBeforeLink: a creator killed after building an object but
// before linking it leaves nothing under the name; the next opener gets a
// clear "does not exist", or creates a new one; nobody waits.
func TestKillCreatorBeforeLink(t *testing.T) {
	for _, kind := range []string{"shm", "mutex", "waitgroup", "semaphore"} {
		t.Run(kind, func(t *testing.T) {
			name := testutil.Name(t, unlinkKind[kind])
			open := func(create bool) error {
				var opts []ipcchan.Option
				if create {
					opts = append(opts, ipcchan.Create())
				}
				c, err := openKind(kind, name, opts...)
				if err == nil {
					c.Close()
				}
				return err
			}
			creator := helperCmd(t, "create-pause", kind, name)
			out, _ := creator.StdoutPipe()
			if err := creator.Start(); err != nil {
				t.Fatal(err)
			}
			tmp, err := bufio.NewReader(out).ReadString('\n')
			if err != nil || !strings.Contains(tmp, ".ipcchan-tmp-") {
				t.Fatalf("creator said %q, %v", tmp, err)
			}
			tmp = strings.TrimSpace(tmp)
			t.Cleanup(func() { os.Remove(tmp) })
			creator.Process.Kill()
			creator.Wait()
			start := time.Now()
			if err := open(false); !errors.Is(err, ipcchan.ErrNotExist) {
				t.Fatalf("open after the creator died before linking = %v, want ErrNotExist", err)
			}
			if err := open(true); err != nil {
				t.Fatalf("create after the creator died = %v", err)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("opening took %v", took)
			}
			// Its half-built file is left, apart from the new object, named
			// after its dead creator: what ipcchan rm --stale removes
			// (cmd/ipcchan/internal/inventory's TestStaleTempFile).
			if fi, err := os.Stat(tmp); err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("the dead creator's %s: %v", tmp, err)
			}
			if want := posix.ShmDir + posix.TempPrefix + strconv.Itoa(creator.Process.Pid) + "-"; !strings.HasPrefix(tmp, want) {
				t.Errorf("the temporary file %s is not named after its creator %d (%s...)", tmp, creator.Process.Pid, want)
			}
			if posix.Alive(creator.Process.Pid) {
				t.Errorf("the creator %d of %s lives on", creator.Process.Pid, tmp)
			}
			if err := os.Remove(tmp); err != nil {
				t.Fatal(err)
			}
		})
	}
}
