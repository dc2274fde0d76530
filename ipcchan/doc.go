// Package ipcchan turns Linux POSIX IPC into Go-shaped, typed primitives
// that work between processes: a message queue that behaves like a
// channel, the same channel in shared memory (a ring), named semaphores,
// and shared memory.
//
// # Queues
//
// A Queue[T] is a POSIX message queue (mq_open) carrying values of type T:
//
//	q, err := ipcchan.OpenQueue[Job]("/jobs", ipcchan.Create(), ipcchan.Capacity(10))
//	err = q.Send(ctx, job)              // waits while the queue is full
//	for job := range q.Recv() { ... }   // until CloseSend, Close, or an error
//	for job, err := range q.All(ctx) { ... }
//
// Names follow POSIX: one leading slash, no other, at most 255 bytes. They
// are global to the machine (to the IPC namespace): any process with the
// permission can open "/jobs", from Go with ipcchan or from C with
// mq_open("/jobs", ...).
//
// Queue[[]byte] and Queue[string] carry exactly the bytes a C program sends
// with mq_send. Other types are encoded with MessagePack behind a 12-byte
// header:
//
//	offset 0   0xC1 'Q'    magic (0xC1 is a byte MessagePack never uses)
//	offset 2   1           format version
//	offset 3   0           reserved
//	offset 4   uint64 LE   fingerprint of the codec and of T's shape
//	offset 12  payload     the MessagePack encoding of the value
//
// so that a receiver of another type gets ErrTypeMismatch instead of
// garbage. The shape of a type is its field names (or msgpack tags) and
// field types, not its name: two programs may each declare the same struct.
// A message of zero bytes ends the stream: CloseSend sends it, a C program
// can send it, and receivers stop at it.
//
// A message larger than the queue's MsgSize (at most 8192 bytes for an
// unprivileged creator, /proc/sys/fs/mqueue/msgsize_max), up to 1 GiB,
// travels in a file of its own in /dev/shm, and the queue carries a
// reference to it at the message's priority: typed queues do so always,
// Queue[[]byte] and Queue[string] with LargeMessages (see Queue):
//
//	offset 0   0xC1 'L' 'M' 1  magic and version of a reference
//	offset 4   0               reserved
//	offset 8   uint64 LE       the message's size
//	offset 16  16 bytes        the token that names its file, /dev/shm/ipcchan.large.NAME.TOKEN (hex)
//
// # Rings
//
// A Ring[T] is the same channel in shared memory (/dev/shm/ipcchan.ring.NAME):
// many senders and receivers in any processes, no system call while both
// sides are busy, a pointer-free T copied rather than encoded, and a
// process killed at any instant never wedging the others (see Ring):
//
//	r, err := ipcchan.OpenRing[Tick]("/ticks", ipcchan.Create(), ipcchan.Capacity(4096))
//	err = r.Send(ctx, tick)
//	for tick := range r.Recv() { ... }
//
// # Topics
//
// A Topic[T] is publish/subscribe in shared memory
// (/dev/shm/ipcchan.topic.NAME): every Subscription, in any process, gets
// every message published after it subscribed, plus the last History(n),
// in each publisher's order. Overflow(Block) (the default) makes a
// publisher wait for the slowest live subscriber; Overflow(DropOldest)
// never does, and a subscription that falls behind counts what it lost
// (Subscription.Missed). A Topic is a Sender, a Subscription a Receiver:
//
//	t, err := ipcchan.OpenTopic[Tick]("/ticks", ipcchan.Create(), ipcchan.History(16))
//	sub, err := t.Subscribe()
//	err = t.Send(ctx, tick)
//	for tick := range sub.Recv() { ... }
//
// # Calls
//
// A Server answers the typed calls of its Clients, in any processes,
// through call records in /dev/shm/ipcchan.service.NAME: each answer goes
// to the call that asked; the caller's deadline and cancellation reach the
// handler; a server that dies mid-call makes the call return ErrServerDied:
//
//	srv, err := ipcchan.OpenServer[Req, Resp]("/calc", ipcchan.Create())
//	err = srv.Serve(ctx, func(ctx context.Context, req Req) (Resp, error) { ... })
//	c, err := ipcchan.OpenClient[Req, Resp]("/calc")
//	resp, err := c.Call(ctx, req)
//
// # Semaphores, mutexes, wait groups
//
// A Semaphore is a glibc named semaphore, byte for byte: the file
// /dev/shm/sem.NAME holding a sem_t, so sem_open("/slots", 0) in C reaches
// the same count and sem_post wakes a Go Acquire:
//
//	slots, err := ipcchan.OpenSemaphore("/slots", ipcchan.Create(), ipcchan.Value(3))
//	err = slots.Acquire(ctx); defer slots.Release()
//
// A Mutex is a lock between processes that survives a holder killed while
// holding it: the next LockContext gets it with ErrOwnerDead. A WaitGroup
// is sync.WaitGroup across processes. Both live in files of ipcchan's own
// format in /dev/shm (ipcchan.mutex.NAME, ipcchan.wg.NAME), which start
// with a header that Open checks.
//
// Uncontended operations are a compare-and-swap in shared memory. A
// goroutine that must wait (on a Semaphore, a Mutex, a WaitGroup, a Ring or a Subscription)
// waits as a goroutine blocked on a channel does: it sleeps in
// futex_waitv on its own thread for a short slice, as a blocking sem_wait
// would (at most 4 per GOMAXPROCS at once), then parks without a thread on
// the shared waiter, one of whose parked goroutines sleeps in the kernel
// for up to 127 words and wakes the others as their words change. N
// goroutines waiting on W words hold at most 4×GOMAXPROCS + ceil(W/127) +
// 2 threads, whatever N. A context or Close ends a wait at once.
//
// Every object joins an event loop the same way, with Watch(l, ev, cb):
// Queue, Ring, Subscription, Semaphore and WaitGroup, level-triggered, as a descriptor
// added with loop.Add is, at the cost of a goroutine and no thread.
//
// # Shared memory
//
// Shm[T] and ShmSlice[T] put a T, or a []T, in POSIX shared memory
// (/dev/shm/NAME, which C opens with shm_open): every process that opens
// the name sees the same memory through Ptr or Slice.
//
//	sh, err := ipcchan.OpenShm[Stats]("/stats", ipcchan.Create())
//	sh.Ptr().Jobs.Add(1)
//
// T may hold only numbers, bools, fixed arrays, structs of those and
// sync/atomic's value types: OpenShm refuses a type with a pointer inside
// and names the field ("Stats.Hist[0].Name is a string"). The object starts
// with a 192-byte header (see Shm) recording T's name, size, alignment and
// a fingerprint of its layout; opening it as another type is
// ErrTypeMismatch, with both types described. T itself starts at offset
// 192.
//
// # Guarantees
//
// No message is lost: a message leaves the kernel queue only when it is
// handed to the caller. A cancelled Receive reads nothing; All reads a
// message only when the loop asks for it; the Recv channel holds at most
// one message read ahead, which Close puts back (see Recv). A message that
// does not decode is returned as a *MessageError with its bytes.
//
// Every blocking call takes a context and honours its deadline and
// cancellation; Close wakes every goroutine blocked on the handle with
// ErrClosed.
//
// A Send or Receive is one system call, as in C: it goes to the kernel on
// a blocking descriptor of the queue with a deadline 10 ms away, and if
// it must wait, the thread sleeps there until the kernel hands it a
// message or room. A wait that lasts longer goes on without a thread, on
// the shared epoll reactor of package loop. So a cancelled context or a
// Close ends a wait within 10 ms (a deadline is exact), and an open queue
// that nobody waits on costs no goroutine and no thread. TrySend and
// TryReceive use the non-blocking descriptor, which Fd returns.
//
// # C structs
//
// With WithCodec(codec.Layout), a queue of a pointer-free struct carries
// the struct's bytes, with no header and no encoding: C sends
// mq_send(q, (char *)&order, sizeof order, prio) and Go receives an
// Order, and the reverse:
//
//	type Order struct { // C: struct order { int64_t id; double price; int32_t qty; uint8_t side; uint8_t pad[3]; };
//		ID    int64
//		Price float64
//		Qty   int32
//		Side  uint8
//		_     [3]byte
//	}
//	q, err := ipcchan.OpenQueue[Order]("/orders", ipcchan.Create(), ipcchan.WithCodec(codec.Layout))
//	err = q.SendPriority(ctx, Order{ID: 1, Price: 19.99, Qty: 3}, 5)
//	o, prio, err := q.ReceivePriority(ctx)
//
// The queue's MsgSize defaults to the size of the struct; a message of
// another size is an ErrTypeMismatch *MessageError holding its bytes.
// Nothing else can be checked: see codec.Layout for how to make the two
// layouts agree.
//
// # Transports
//
// Sender[T] and Receiver[T] hold what every transport of typed messages
// does: a Queue, a Ring, a Topic and its Subscriptions, and natsq.Queue
// and natsq.Topic on NATS JetStream for more than one machine. Code written against them moves between transports by
// changing its Open call. Priorities are a promise of their own,
// PrioritySender[T] and PriorityReceiver[T], kept differently by each
// transport (see PrioritySender).
//
// # Errors
//
// Errors are *Error values that name the object and the operation, say
// what happened and what to do, and wrap a sentinel for errors.Is:
// ErrNotExist, ErrExist, ErrPermission and ErrClosed (which are also their
// io/fs counterparts), ErrInvalidName, ErrInvalid, ErrTooLarge, ErrLimit,
// ErrFull, ErrEmpty, ErrTypeMismatch, ErrCorrupt, ErrOwnerDead and
// ErrNotRecoverable. The error beneath stays reachable: errors.Is finds a
// syscall.Errno or a context's error, and errors.As a *codec.Error. A
// message that left its queue but cannot be handed over as a value is a
// *MessageError, which holds its bytes. For example:
//
//	queue /jobs: send: message of 9000 bytes exceeds its MsgSize of 8192; send smaller
//	messages, or recreate the queue with a larger MsgSize (this machine allows up to
//	8192: /proc/sys/fs/mqueue/msgsize_max), or open it with ipcchan.LargeMessages() to
//	carry larger messages (up to 1 GiB) through /dev/shm/
package ipcchan
