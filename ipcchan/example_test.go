package ipcchan_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"sync/atomic"

	"github.com/ipcchan/ipcchan/codec"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// A unique name per run; in a real program it is a fixed name that both
// processes know, such as "/jobs".
var exampleName = fmt.Sprintf("/ipcchan-example-%d", os.Getpid())

func ExampleOpenQueue() {
	type Job struct {
		ID   int
		File string
	}
	ctx := context.Background()
	// The producer creates the queue; a consumer in another process opens
	// it with OpenQueue[Job](name) and no options.
	q, err := ipcchan.OpenQueue[Job](exampleName, ipcchan.Create(), ipcchan.Capacity(10))
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkQueue(exampleName)
	defer q.Close()

	if err := q.Send(ctx, Job{ID: 1, File: "a.png"}); err != nil {
		log.Fatal(err)
	}
	job, err := q.Receive(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", job)
	// Output: {ID:1 File:a.png}
}

func ExampleQueue_Recv() {
	ctx := context.Background()
	q, err := ipcchan.OpenQueue[string](exampleName, ipcchan.Create())
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkQueue(exampleName)
	defer q.Close()

	go func() {
		for _, s := range []string{"one", "two", "three"} {
			q.Send(ctx, s)
		}
		q.CloseSend(ctx) // like close(ch): the range below ends
	}()
	for s := range q.Recv() {
		fmt.Println(s)
	}
	if err := q.Err(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// one
	// two
	// three
}

func ExampleQueue_All() {
	ctx := context.Background()
	q, err := ipcchan.OpenQueue[int](exampleName, ipcchan.Create())
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkQueue(exampleName)
	defer q.Close()

	for i := range 5 {
		q.Send(ctx, i*i)
	}
	// All reads a message only when the loop asks for it: after the break,
	// the rest stay in the queue.
	for v, err := range q.All(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(v)
		if v == 4 {
			break
		}
	}
	a, _ := q.Attr()
	fmt.Println("left in the queue:", a.Len)
	// Output:
	// 0
	// 1
	// 4
	// left in the queue: 2
}

func ExampleQueue_SendPriority() {
	ctx := context.Background()
	q, err := ipcchan.OpenQueue[string](exampleName, ipcchan.Create())
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkQueue(exampleName)
	defer q.Close()

	q.SendPriority(ctx, "routine", 0)
	q.SendPriority(ctx, "urgent", 9)
	q.SendPriority(ctx, "routine too", 0)
	for range 3 {
		s, prio, _ := q.ReceivePriority(ctx)
		fmt.Println(prio, s)
	}
	// Output:
	// 9 urgent
	// 0 routine
	// 0 routine too
}

func ExampleQueue_TrySend() {
	q, err := ipcchan.OpenQueue[[]byte](exampleName, ipcchan.Create(), ipcchan.Capacity(1))
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkQueue(exampleName)
	defer q.Close()

	fmt.Println(q.TrySend([]byte("first")))
	err = q.TrySend([]byte("second"))
	fmt.Println(errors.Is(err, ipcchan.ErrFull))
	// Output:
	// <nil>
	// true
}

func ExampleQueue_Receive_endOfStream() {
	ctx := context.Background()
	q, err := ipcchan.OpenQueue[string](exampleName, ipcchan.Create())
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkQueue(exampleName)
	defer q.Close()

	q.Send(ctx, "last words")
	q.CloseSend(ctx)
	for {
		s, err := q.Receive(ctx)
		if err == io.EOF {
			fmt.Println("end of stream")
			break
		}
		fmt.Println(s)
	}
	// Output:
	// last words
	// end of stream
}

func ExampleOpenQueue_errors() {
	_, err := ipcchan.OpenQueue[string]("/ipcchan-example-missing")
	fmt.Println(errors.Is(err, ipcchan.ErrNotExist))
	fmt.Println(err)
	_, err = ipcchan.OpenQueue[string]("jobs")
	fmt.Println(err)
	// Output:
	// true
	// queue /ipcchan-example-missing: open: does not exist; create it with ipcchan.Create(), or start the program that creates it (names are global to the machine)
	// queue jobs: open: invalid name: it must start with a slash, as in "/jobs"
}

func ExampleOpenSemaphore() {
	ctx := context.Background()
	// At most 2 processes (or goroutines) hold a token at once. A C program
	// can share it: sem_open("/ipcchan-example-...", 0).
	slots, err := ipcchan.OpenSemaphore(exampleName, ipcchan.Create(), ipcchan.Value(2))
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkSemaphore(exampleName)
	defer slots.Close()

	if err := slots.Acquire(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(slots.TryAcquire(), slots.TryAcquire())
	slots.Release()
	v, _ := slots.Value()
	fmt.Println("free slots:", v)
	// Output:
	// true false
	// free slots: 1
}

func ExampleMutex_LockContext() {
	ctx := context.Background()
	m, err := ipcchan.OpenMutex(exampleName, ipcchan.Create())
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkMutex(exampleName)
	defer m.Close()

	err = m.LockContext(ctx)
	if errors.Is(err, ipcchan.ErrOwnerDead) {
		// A process died holding the lock: repair the shared state here,
		// then say so; the lock is held either way.
		m.MarkConsistent()
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println("locked")
	m.Unlock()
	// Output: locked
}

func ExampleWaitGroup() {
	ctx := context.Background()
	wg, err := ipcchan.OpenWaitGroup(exampleName, ipcchan.Create())
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkWaitGroup(exampleName)
	defer wg.Close()

	wg.Add(3)
	for range 3 {
		go wg.Done() // in real use: worker processes, each with its own handle
	}
	if err := wg.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("all done")
	err = wg.Done() // a Done too many is an error, not a panic
	fmt.Println(errors.Is(err, ipcchan.ErrInvalid))
	// Output:
	// all done
	// true
}

func ExampleOpenShm() {
	// Counters every worker process updates; only fixed-size fields.
	type Stats struct {
		Jobs   atomic.Int64 // atomic: no lock needed
		PerKey [4]int64     // plain: guard with an ipcchan.Mutex
	}
	sh, err := ipcchan.OpenShm[Stats](exampleName, ipcchan.Create())
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkShm(exampleName)
	defer sh.Close()

	s := sh.Ptr() // the same memory in every process that opens the name
	s.Jobs.Add(3)
	s.PerKey[1] = 7
	fmt.Println(s.Jobs.Load(), s.PerKey)

	// A type with a pointer inside cannot be shared, and says why.
	type Bad struct{ Name string }
	_, err = ipcchan.OpenShm[Bad]("/ipcchan-example-bad", ipcchan.Create())
	fmt.Println(errors.Is(err, ipcchan.ErrInvalid), strings.Contains(err.Error(), "Bad.Name is a string"))
	// Output:
	// 3 [0 7 0 0]
	// true true
}

func ExampleOpenShmSlice() {
	grid, err := ipcchan.OpenShmSlice[float64](exampleName, 1024, ipcchan.Create())
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkShm(exampleName)
	defer grid.Close()
	cells := grid.Slice()
	cells[1023] = 2.5
	fmt.Println(grid.Len(), cells[1023])
	// Output: 1024 2.5
}

func ExampleOpenRing() {
	// A pointer-free struct travels as its bytes: copied into the ring's
	// shared memory and out, with no encoding.
	type Tick struct {
		Seq   int64
		Price float64
	}
	ctx := context.Background()
	r, err := ipcchan.OpenRing[Tick](exampleName, ipcchan.Create(), ipcchan.Capacity(1024))
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkRing(exampleName)
	defer r.Close()

	go func() { // another process would open the same name
		for i := range 3 {
			r.Send(ctx, Tick{Seq: int64(i), Price: 100 + float64(i)/4})
		}
		r.CloseSend(ctx)
	}()
	for t := range r.Recv() {
		fmt.Println(t.Seq, t.Price)
	}
	fmt.Println("err:", r.Err())
	// Output:
	// 0 100
	// 1 100.25
	// 2 100.5
	// err: <nil>
}

func ExampleRing_SendBatch() {
	// Many messages at once: a batch is one claim of a run of slots and one
	// publication; Batches hands them out a batch at a time.
	type Tick struct {
		Seq   int64
		Price float64
	}
	ctx := context.Background()
	r, err := ipcchan.OpenRing[Tick](exampleName, ipcchan.Create(), ipcchan.Capacity(1024))
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkRing(exampleName)
	defer r.Close()

	ticks := make([]Tick, 10)
	for i := range ticks {
		ticks[i] = Tick{Seq: int64(i), Price: 100 + float64(i)/4}
	}
	if n, err := r.SendBatch(ctx, ticks); err != nil {
		log.Fatalf("sent %d: %v", n, err)
	}
	r.CloseSend(ctx)
	for batch, err := range r.Batches(ctx, 4) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(len(batch), batch[0].Seq, batch[len(batch)-1].Price)
	}
	// Output:
	// 4 0 100.75
	// 4 4 101.75
	// 2 8 102.25
}

func ExampleRing_Loan() {
	// With LargeMessages a ring has a pool of shared memory: a loan is
	// written where the receiver reads it (ReceiveView), so a large
	// message is never copied.
	ctx := context.Background()
	r, err := ipcchan.OpenRing[[]byte](exampleName, ipcchan.Create(), ipcchan.LargeMessages(), ipcchan.PoolSize(4<<20))
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkRing(exampleName)
	defer r.Close()

	l, err := r.Loan(ctx, 1<<20) // 1 MiB of the pool
	if err != nil {
		log.Fatal(err)
	}
	frame := l.Bytes()
	for i := range frame {
		frame[i] = byte(i)
	}
	if err := l.Send(ctx); err != nil { // no copy: the slot holds where it is
		log.Fatal(err)
	}

	v, err := r.ReceiveView(ctx) // another process would open the same name
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(v.Bytes()), v.Bytes()[1000])
	v.Release() // its memory goes back to the pool
	a, _ := r.Attr()
	fmt.Println("pool in use:", a.PoolInUse)
	// Output:
	// 1048576 232
	// pool in use: 0
}

func ExampleTopic_Loan() {
	// A topic made with LargeMessages lends its pool too: every
	// subscription reads the published frame where the publisher wrote it.
	ctx := context.Background()
	t, err := ipcchan.OpenTopic[[]byte](exampleName, ipcchan.Create(), ipcchan.LargeMessages(), ipcchan.PoolSize(8<<20))
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkTopic(exampleName)
	defer t.Close()
	a, _ := t.Subscribe() // subscriptions of other processes would do the same
	b, _ := t.Subscribe()

	l, err := t.Loan(ctx, 1<<20)
	if err != nil {
		log.Fatal(err)
	}
	for i := range l.Bytes() {
		l.Bytes()[i] = byte(i)
	}
	if err := l.Send(ctx); err != nil {
		log.Fatal(err)
	}
	for _, sub := range []*ipcchan.Subscription[[]byte]{a, b} {
		v, err := sub.ReceiveView(ctx) // in place: publishers wait for its Release (Overflow(Block))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(len(v.Bytes()), v.Bytes()[1000])
		v.Release()
	}
	// Output:
	// 1048576 232
	// 1048576 232
}

func ExampleOpenQueue_cStruct() {
	// A C program's struct order { int64_t id; double price; int32_t qty;
	// uint8_t side; uint8_t pad[3]; }, sent with
	// mq_send(q, (char *)&o, sizeof o, prio), is an Order here, and back.
	type Order struct {
		ID    int64
		Price float64
		Qty   int32
		Side  uint8
		_     [3]byte
	}
	ctx := context.Background()
	q, err := ipcchan.OpenQueue[Order](exampleName, ipcchan.Create(), ipcchan.WithCodec(codec.Layout))
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkQueue(exampleName)
	defer q.Close()
	a, _ := q.Attr()
	fmt.Println("message size:", a.MsgSize) // sizeof(struct order)

	q.SendPriority(ctx, Order{ID: 7, Price: 19.99, Qty: 3, Side: 1}, 5)
	o, prio, err := q.ReceivePriority(ctx)
	fmt.Printf("%+v at %d, %v\n", o, prio, err)
	// Output:
	// message size: 24
	// {ID:7 Price:19.99 Qty:3 Side:1 _:[0 0 0]} at 5, <nil>
}

func ExampleLargeMessages() {
	ctx := context.Background()
	// A queue of the machine's default shape (messages of at most 8192
	// bytes) that also carries larger ones through /dev/shm.
	q, err := ipcchan.OpenQueue[[]byte](exampleName, ipcchan.Create(), ipcchan.LargeMessages())
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkQueue(exampleName)
	defer q.Close()

	image := make([]byte, 5<<20) // 5 MiB
	copy(image, "\x89PNG")
	if err := q.SendPriority(ctx, image, 1); err != nil {
		log.Fatal(err)
	}
	if err := q.Send(ctx, []byte("small")); err != nil {
		log.Fatal(err)
	}
	for range 2 {
		msg, prio, err := q.ReceivePriority(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d bytes at priority %d, starting %q\n", len(msg), prio, msg[:4])
	}
	// Output:
	// 5242880 bytes at priority 1, starting "\x89PNG"
	// 5 bytes at priority 0, starting "smal"
}

func ExampleOpenTopic() {
	// Every subscription gets every message: two subscribers (other
	// processes, usually), one publisher.
	type Tick struct {
		Seq   int64
		Price float64
	}
	ctx := context.Background()
	t, err := ipcchan.OpenTopic[Tick](exampleName, ipcchan.Create(), ipcchan.Capacity(64), ipcchan.History(1))
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkTopic(exampleName)
	defer t.Close()

	t.Send(ctx, Tick{Seq: 0, Price: 99.75}) // before anyone subscribed: kept as history
	a, _ := t.Subscribe()
	b, _ := t.Subscribe()
	for i := 1; i <= 2; i++ {
		t.Send(ctx, Tick{Seq: int64(i), Price: 100 + float64(i)/4})
	}
	t.CloseSend(ctx) // each subscription gets what was sent, then the end
	for v, err := range a.All(ctx) {
		fmt.Println("a:", v.Seq, v.Price, err)
	}
	for v := range b.Recv() {
		fmt.Println("b:", v.Seq, v.Price)
	}
	fmt.Println("missed:", a.Missed(), b.Missed())
	// Output:
	// a: 0 99.75 <nil>
	// a: 1 100.25 <nil>
	// a: 2 100.5 <nil>
	// b: 0 99.75
	// b: 1 100.25
	// b: 2 100.5
	// missed: 0 0
}

func ExampleOverflow() {
	// Under DropOldest a publisher never waits: a subscription that falls a
	// whole Capacity behind loses the oldest messages, and counts them.
	ctx := context.Background()
	t, err := ipcchan.OpenTopic[int64](exampleName, ipcchan.Create(), ipcchan.Capacity(4), ipcchan.Overflow(ipcchan.DropOldest))
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkTopic(exampleName)
	defer t.Close()
	slow, _ := t.Subscribe()
	for i := range int64(10) {
		if err := t.TrySend(i); err != nil { // no subscription holds a DropOldest publisher back
			log.Fatal(err)
		}
	}
	t.CloseSend(ctx)
	for v := range slow.Recv() {
		fmt.Print(v, " ")
	}
	fmt.Println("missed:", slow.Missed())
	// Output:
	// 6 7 8 9 missed: 6
}
