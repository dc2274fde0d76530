package ipcchan_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// TestQueueNoMessageLost receives N messages from a sender process through
// every way of receiving, breaking out of loops, cancelling waits and
// re-opening the queue at random, and checks each arrives exactly once.
func TestQueueNoMessageLost(t *testing.T) {
	const n = 3000
	// A busy sender keeps the queue full, so Close often cannot put back
	// what Recv read ahead; do not wait a second for room each time.
	defer ipcchan.SetPutBackPatience(20 * time.Millisecond)()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	name := queueName(t)
	q := openQueue[Job](t, name, ipcchan.Create(), ipcchan.Capacity(10))
	sender := helperCmd(t, "send", name, "0", strconv.Itoa(n))
	if err := sender.Start(); err != nil {
		t.Fatal(err)
	}
	senderDone := make(chan error, 1)
	closer := openQueue[Job](t, name) // q is replaced on reopen
	go func() {
		err := sender.Wait()
		if err == nil {
			err = closer.CloseSend(t.Context())
		}
		senderDone <- err
	}()

	seen := make(map[int]int)
	got := func(j Job) {
		seen[j.ID]++
		if j.Name != "job "+strconv.Itoa(j.ID) {
			t.Fatalf("job %d arrived as %+v", j.ID, j)
		}
	}
	ended := false
	ways := map[string]int{}
	for !ended {
		k := 1 + rng.IntN(20)
		switch way := rng.IntN(6); way {
		case 0: // range over Recv, break after k
			ways["recv-break"]++
			i := 0
			for j := range q.Recv() {
				got(j)
				if i++; i == k {
					break
				}
			}
			if i < k {
				ended = true
				if err := q.Err(); err != nil {
					t.Fatal(err)
				}
			}
		case 1: // All, break after k
			ways["all-break"]++
			i := 0
			ended = true
			for j, err := range q.All(t.Context()) {
				if err != nil {
					t.Fatal(err)
				}
				got(j)
				if i++; i == k {
					ended = false
					break
				}
			}
		case 2: // Receive with a deadline that may expire while waiting
			ways["receive-deadline"]++
			ctx, cancel := context.WithTimeout(t.Context(), time.Duration(rng.IntN(300))*time.Microsecond)
			j, err := q.Receive(ctx)
			cancel()
			switch {
			case err == io.EOF:
				ended = true
			case errors.Is(err, context.DeadlineExceeded):
			case err != nil:
				t.Fatal(err)
			default:
				got(j)
			}
		case 3: // Receive cancelled by another goroutine
			ways["receive-cancel"]++
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(time.Duration(rng.IntN(200))*time.Microsecond, cancel)
			j, err := q.Receive(ctx)
			cancel()
			switch {
			case err == io.EOF:
				ended = true
			case errors.Is(err, context.Canceled):
			case err != nil:
				t.Fatal(err)
			default:
				got(j)
			}
		case 4: // TryReceive
			ways["try"]++
			j, err := q.TryReceive()
			switch {
			case err == io.EOF:
				ended = true
			case errors.Is(err, ipcchan.ErrEmpty):
			case err != nil:
				t.Fatal(err)
			default:
				got(j)
			}
		case 5: // close the handle (a Recv goroutine may hold a message) and reopen
			ways["reopen"]++
			if err := q.Close(); err != nil {
				// The queue stayed full: Close hands back what Recv held.
				var me *ipcchan.MessageError
				if !errors.As(err, &me) || !errors.Is(err, ipcchan.ErrFull) {
					t.Fatalf("Close: %v", err)
				}
				ways["close-returned-message"]++
				got(me.Value.(Job))
			}
			q = openQueue[Job](t, name)
		}
	}
	if err := <-senderDone; err != nil {
		t.Fatalf("sender: %v", err)
	}
	t.Logf("ways of receiving used: %v", ways)
	for i := range n {
		if seen[i] != 1 {
			t.Errorf("job %d received %d times", i, seen[i])
		}
	}
	if len(seen) != n {
		t.Errorf("received %d distinct jobs, want %d", len(seen), n)
	}
}

// TestQueueRecvPutBackOnClose: a message the Recv goroutine has read but
// not delivered goes back into the queue on Close.
func TestQueueRecvPutBackOnClose(t *testing.T) {
	name := queueName(t)
	q, err := ipcchan.OpenQueue[string](name, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"one", "two", "three"} {
		q.Send(t.Context(), s)
	}
	if s := <-q.Recv(); s != "one" {
		t.Fatalf("first = %q", s)
	}
	// The stream goroutine now holds "two", offered to the channel.
	testutil.WaitBlocked(t, "(*Receiving[...]).feed", 1) // the Recv goroutine
	if a, _ := q.Attr(); a.Len != 1 {
		t.Fatalf("kernel queue holds %d messages, want 1 (three) while Recv holds two", a.Len)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	r := openQueue[string](t, name)
	var got []string
	for range 2 {
		s, err := r.TryReceive()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	// "two" went back behind "three", at its priority.
	if strings.Join(got, ",") != "three,two" {
		t.Errorf("after Close the queue holds %q, want three,two", got)
	}
}

// TestQueueReceiveTakesRecvHeldMessage: after breaking out of a Recv loop,
// Receive on the same handle gets the message the stream holds, even though
// the kernel queue is empty.
func TestQueueReceiveTakesRecvHeldMessage(t *testing.T) {
	q := openQueue[int](t, queueName(t), ipcchan.Create())
	q.Send(t.Context(), 1)
	q.Send(t.Context(), 2)
	if v := <-q.Recv(); v != 1 { // and then stop ranging, as a break would
		t.Fatalf("first = %d", v)
	}
	testutil.WaitBlocked(t, "(*Receiving[...]).feed", 1) // the Recv goroutine
	if a, _ := q.Attr(); a.Len != 0 {
		t.Fatalf("kernel queue holds %d, want 0", a.Len)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if v, err := q.Receive(ctx); err != nil || v != 2 {
		t.Fatalf("Receive = %d, %v; want the held 2", v, err)
	}
	// And the stream goes on: a Receive waiting while the stream waits too
	// gets the next message, whoever reads it from the kernel.
	errc := make(chan error, 1)
	go func() {
		v, err := q.Receive(ctx)
		if err == nil && v != 3 {
			err = fmt.Errorf("got %d", v)
		}
		errc <- err
	}()
	testutil.WaitBlocked(t, "TestQueueReceiveTakesRecvHeldMessage", 1)
	q.Send(t.Context(), 3)
	if err := <-errc; err != nil {
		t.Fatalf("Receive during Recv: %v", err)
	}
}

// TestQueueConcurrentProcesses: senders and receivers in several processes
// and goroutines at once; every message arrives exactly once.
func TestQueueConcurrentProcesses(t *testing.T) {
	const (
		procSenders   = 3
		goSenders     = 3
		perSender     = 400
		procReceivers = 2
		goReceivers   = 3
	)
	name := queueName(t)
	q := openQueue[Job](t, name, ipcchan.Create(), ipcchan.Capacity(10))

	var recvWG sync.WaitGroup
	var mu sync.Mutex
	seen := map[int]int{}
	record := func(id int) {
		mu.Lock()
		seen[id]++
		mu.Unlock()
	}
	var outputs []*strings.Builder
	var receivers []interface{ Wait() error }
	for range procReceivers {
		cmd := helperCmd(t, "receive", name)
		out := &strings.Builder{}
		cmd.Stdout = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, out)
		receivers = append(receivers, cmd)
	}
	for g := range goReceivers {
		h := openQueue[Job](t, name)
		recvWG.Add(1)
		go func() {
			defer recvWG.Done()
			if g == 0 {
				for j := range h.Recv() {
					record(j.ID)
				}
				if err := h.Err(); err != nil {
					t.Error(err)
				}
				return
			}
			for j, err := range h.All(t.Context()) {
				if err != nil {
					t.Error(err)
					return
				}
				record(j.ID)
			}
		}()
	}
	var sendWG sync.WaitGroup
	for p := range procSenders {
		cmd := helperCmd(t, "send", name, strconv.Itoa(p*perSender), strconv.Itoa(perSender))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			if err := cmd.Wait(); err != nil {
				t.Errorf("sender process: %v", err)
			}
		}()
	}
	for g := range goSenders {
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			first := (procSenders + g) * perSender
			for i := first; i < first+perSender; i++ {
				if err := q.Send(t.Context(), Job{ID: i, Name: "job " + strconv.Itoa(i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	sendWG.Wait()
	if err := q.CloseSend(t.Context()); err != nil {
		t.Fatal(err)
	}
	recvWG.Wait()
	for _, r := range receivers {
		if err := r.Wait(); err != nil {
			t.Errorf("receiver process: %v", err)
		}
	}
	for _, out := range outputs {
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			id, err := strconv.Atoi(sc.Text())
			if err != nil {
				t.Fatalf("receiver printed %q", sc.Text())
			}
			record(id)
		}
	}
	total := (procSenders + goSenders) * perSender
	for i := range total {
		if seen[i] != 1 {
			t.Errorf("job %d received %d times", i, seen[i])
		}
	}
	if len(seen) != total {
		t.Errorf("%d distinct jobs, want %d", len(seen), total)
	}
}

// TestQueueCreateRace: goroutines and processes creating one queue at once
// all succeed and share it.
func TestQueueCreateRace(t *testing.T) {
	for round := range 5 {
		name := queueName(t)
		const goroutines, procs = 6, 3
		var wg sync.WaitGroup
		errs := make(chan error, goroutines+procs)
		for i := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				q, err := ipcchan.OpenQueue[string](name, ipcchan.Create(), ipcchan.Capacity(10), ipcchan.MsgSize(64))
				if err == nil {
					err = q.TrySend(fmt.Sprintf("g%d", i))
					q.Close()
				}
				errs <- err
			}()
		}
		for range procs {
			cmd := helperCmd(t, "open", name, "create", "capacity=10", "msgsize=64", "send=p")
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := cmd.Output()
				if err == nil && strings.TrimSpace(string(out)) != "ok" {
					err = errors.New(string(out))
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: concurrent create: %v", round, err)
			}
		}
		q := openQueue[string](t, name)
		if a, _ := q.Attr(); a.Len != goroutines+procs {
			t.Fatalf("round %d: shared queue holds %d messages, want %d", round, a.Len, goroutines+procs)
		}
	}
}

const nobody = 65534

// TestQueueUnprivilegedLimits: a process without CAP_SYS_RESOURCE is held
// to /proc/sys/fs/mqueue/msg_max and msgsize_max, and the error names the
// file to raise. Run as nobody when the tests run as root.
func TestQueueUnprivilegedLimits(t *testing.T) {
	name := queueName(t)
	lim := readLimit(t, "msg_max")
	sizeLim := readLimit(t, "msgsize_max")
	for _, tc := range []struct{ opt, file string }{
		{fmt.Sprintf("capacity=%d", lim+1), "msg_max"},
		{fmt.Sprintf("msgsize=%d", sizeLim+1), "msgsize_max"},
	} {
		out := runUnprivileged(t, "open", name, "create", tc.opt)
		if !strings.Contains(out, "is ErrLimit") || !strings.Contains(out, "/proc/sys/fs/mqueue/"+tc.file) || !strings.Contains(out, "sysctl fs.mqueue."+tc.file) {
			t.Errorf("unprivileged create with %s said:\n%s\nwant ErrLimit naming /proc/sys/fs/mqueue/%s and the sysctl", tc.opt, out, tc.file)
		}
	}
	if _, err := ipcchan.OpenQueue[[]byte](name); !errors.Is(err, ipcchan.ErrNotExist) {
		t.Errorf("a refused create left a queue: %v", err)
	}
	// At the limit it works.
	if out := runUnprivileged(t, "open", name, "create", fmt.Sprintf("capacity=%d", lim), "perm=0o666"); strings.TrimSpace(out) != "ok" {
		t.Errorf("unprivileged create at the limit: %s", out)
	}
}

// TestQueuePermissions: Perm decides who may open a queue, exactly (the
// umask does not narrow it).
func TestQueuePermissions(t *testing.T) {
	if os.Geteuid() != 0 {
		// Not root: the owner itself is refused by mode 0o000.
		name := queueName(t)
		q := openQueue[string](t, name, ipcchan.Create(), ipcchan.Perm(0o000))
		_ = q
		if _, err := ipcchan.OpenQueue[string](name); !errors.Is(err, ipcchan.ErrPermission) {
			t.Fatalf("open of a 0o000 queue = %v, want ErrPermission", err)
		}
		return
	}
	private := queueName(t)
	openQueue[string](t, private, ipcchan.Create())
	out := runUnprivileged(t, "open", private, "send=hi")
	if !strings.Contains(out, "is ErrPermission") || !strings.Contains(out, "Perm(0o666)") {
		t.Errorf("nobody opening a 0600 queue said:\n%s\nwant ErrPermission and how to grant access", out)
	}
	old := unix.Umask(0o077)
	shared := queueName(t)
	q := openQueue[string](t, shared, ipcchan.Create(), ipcchan.Perm(0o666))
	unix.Umask(old)
	if out := runUnprivileged(t, "open", shared, "send=hi"); strings.TrimSpace(out) != "ok" {
		t.Fatalf("nobody opening a 0666 queue (created under umask 077): %s", out)
	}
	if s, err := q.TryReceive(); err != nil || s != "hi" {
		t.Errorf("message from nobody = %q, %v", s, err)
	}
	st, err := testutil.StatQueue(shared)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o666 {
		t.Errorf("queue mode = %v, want 0666", st.Mode().Perm())
	}
}

// runUnprivileged runs a helper as nobody (when root) or as this user.
func runUnprivileged(t *testing.T, helper string, args ...string) string {
	t.Helper()
	cmd := helperCmd(t, helper, args...)
	if os.Geteuid() == 0 {
		cmd = testutil.HelperAs(t, nobody, nobody, helper, args...)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", helper, args, err, out)
	}
	return string(out)
}

func readLimit(t *testing.T, file string) int {
	b, err := os.ReadFile("/proc/sys/fs/mqueue/" + file)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
