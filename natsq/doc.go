// Package natsq is ipcchan's typed queue over NATS JetStream: the same
// Sender and Receiver as a POSIX ipcchan.Queue, for workers on other
// machines; its topic (OpenTopic: see Topics); and its request/response
// service (OpenServer and OpenClient: see Services). Code written against
// ipcchan.Sender[T] and ipcchan.Receiver[T] moves from one machine to many
// by changing its Open call:
//
//	q, err := ipcchan.OpenQueue[Job]("/jobs", ipcchan.Create())
//	q, err := natsq.Open[Job](ctx, js, "/jobs", ipcchan.Create())
//
// # The stream
//
// A queue named "/jobs" is the JetStream stream "jobs" with work-queue
// retention (a message is removed once a receiver acknowledges it), file
// storage, and one subject per priority level, "ipcchan.jobs.p0" to
// "ipcchan.jobs.p3", each read through a durable pull consumer of the same
// name ("p0" ... "p3") shared by every receiver. Names follow the POSIX
// rule (one leading slash) and may hold letters, digits, '-' and '_'. A
// stream made beforehand by an operator (replicas, placement, limits) is
// used as it is, if it has this shape.
//
// The streams natsq creates allow direct gets (AllowDirect), so that the
// NATS tools read a queue's messages without taking them and without a
// consumer of their own (a work-queue stream refuses a consumer that reads
// without taking): `nats stream view jobs` works (on a stream without
// AllowDirect it says "work queue retention streams can only be paged if
// direct access is allowed"). A stream that an earlier version of natsq created without
// AllowDirect (one with natsq's description, "ipcchan queue /jobs") gets it
// when Open with Create finds it: AllowDirect is added to its
// configuration, and nothing else changes. That update is best effort: if
// the server refuses it or does not answer within 5 s (a client without
// the permission to update streams gets no answer), the queue works as
// before, and `nats stream edit jobs --allow-direct` does it. An
// operator's stream (another description) is never changed.
//
// Options are ipcchan's: Create, Exclusive, Capacity (the stream's
// MaxMsgs, with new messages refused while full: Send waits, TrySend
// returns ErrFull), MsgSize (the stream's MaxMsgSize; without it, the
// server's max_payload bounds messages), WithCodec, NoEndOfStream and
// LargeMessages (accepted so that code moves between transports unchanged:
// every natsq message may be up to max_payload, and a larger one is
// ErrTooLarge naming the limit before anything is sent). Perm does not
// apply: NATS accounts and permissions decide who may use a stream.
//
// # Messages
//
// Values are encoded exactly as a POSIX queue encodes them (one message
// format serves every transport): []byte and string as they are, other
// types behind ipcchan's 12-byte type header. A message therefore crosses from a POSIX queue to NATS and back
// byte for byte (cmd/ipcchan's bridge), and a receiver of another type gets
// ErrTypeMismatch. A message of zero bytes ends the stream (CloseSend), as
// in a POSIX queue: it stays in the stream so that every receiver sees it.
//
// # Delivery: at least once
//
// A receiver takes a message from JetStream unacknowledged, and
// acknowledges it when the message is handed to the caller: when Receive
// returns it, or when the Recv channel delivers it. A receiver that dies
// (or loses its connection) before that point leaves the message
// unacknowledged, and JetStream delivers it again to another receiver
// after the consumer's AckWait (30 s by default). A message that a
// receiver read but did not hand over (the loser of two levels that
// answered at once, or the message held by Recv at Close) is given back at
// once with a negative acknowledgement. On a stream with a Capacity, a
// receive waits for the server to confirm the acknowledgement, so that the
// stream has room once Receive returns; on one without, the
// acknowledgement is sent without waiting. Either way a message whose
// acknowledgement is lost (the connection dropped) is delivered again, so
// receivers must tolerate the occasional duplicate. What is handed over is the caller's
// to finish: a program that crashes after Receive returned loses that
// message, as with the POSIX queue.
//
// # Priorities
//
// A Queue is an ipcchan.PrioritySender and PriorityReceiver, with this
// promise. Priorities are 0 to 32767, as in a POSIX queue, but JetStream has no
// message priorities, so they are coarsened to four levels, each a
// subject: 0, 1-9, 10-99 and 100-32767 (see Level). A receiver asks every
// level at once and takes the message of the highest level that has one;
// within a level, messages come in the order they were sent, not by their
// exact priority. ReceivePriority still returns the exact priority a
// message was sent with (it travels in the Ipcchan-Priority header, a
// decimal number, on messages of a priority above 0).
//
// A message that another NATS client published on a level's subject (`nats
// pub ipcchan.jobs.p2 hello`) is received like any other, at the level of
// its subject. Without the Ipcchan-Priority header (its name is
// case-sensitive), ReceivePriority gives it the lowest priority of that
// level: 0 on p0, 1 on p1, 10 on p2 and 100 on p3. A header that is not a
// decimal number from 0 to 32767 ("high", "-1", "+5", "40000") counts as
// no header; a valid one is taken as it is, even outside its subject's
// level (the message still comes at the level of its subject). A
// Queue[[]byte] or Queue[string] receives the published bytes as they are;
// a typed queue returns them in a *ipcchan.MessageError with
// ErrTypeMismatch (they lack ipcchan's type header), and a message of zero
// bytes is the end of the stream (unless NoEndOfStream).
//
// JetStream passes a stored message to its consumers asynchronously, so
// in the instant (well under a millisecond here) after Send returns, a
// TryReceive may still report ErrEmpty, and a receive may take a lower
// level's message before the new, higher one. A POSIX queue has no such
// instant.
//
// A handle asks a level for a window of messages at once (up to 16, once
// its receives come within a millisecond of each other; one at a time
// otherwise, so a worker busy with each job takes one job at a time) and
// hands them over in order. While it holds a window, it leaves a short
// request (5 ms) on each level that it found empty, so that the next
// receives need not ask the higher levels again: the server passes it what
// is stored there. What it holds goes back to the stream (negative
// acknowledgement) 2 ms after its last receive ended, and at Close: a busy
// worker keeps nothing from an idle one for longer than that. A held
// message older than a third of the consumer's AckWait (and 10 s) is given
// back, with the newer ones of its level, rather than handed over, since
// JetStream may have passed it to another receiver by then. The Recv
// goroutine holds the one message it is handing over.
//
// What a handle gives back goes back in its order, ahead of the newer
// messages of its level (first what is left of what it gave back before,
// if JetStream has not delivered it all again yet), and the handle asks
// that level again only once the server has taken it back; a request that
// waits on an empty level asks for one message, so that one coming to it
// while the handle is busy goes back once, in its place. So a receiver
// gets each level's messages in the order they were sent however it
// stalls, and after Close (which waits for the server to take back what
// the handle held, the message Recv read ahead first) the next receiver
// does. That order is each receiver's own: receivers sharing a queue share
// its messages, and one that another gave back may reach them after newer
// ones; so may a message that JetStream delivers again after AckWait (its
// receiver died, or its acknowledgement was lost).
//
// # Pipelined sends
//
// By default Send returns once JetStream has stored the message: a crash
// of the sender loses nothing whose Send returned nil. With Pipelined(n),
// Send returns once the message is on its way, with up to n waiting for
// their acknowledgements; Flush waits for all of them, CloseSend and Close
// flush first, and what JetStream refused is sent again (under the same
// message ID, stored once) or reported in an *UnsentError. A crash of a
// pipelined sender loses what it sent since its last Flush that returned
// nil. cmd/ipcchan's bridge sends to NATS this way.
//
// # Topics
//
// OpenTopic is ipcchan.OpenTopic on JetStream: publish/subscribe, where
// every subscription sees every message, with the same Send, TrySend,
// CloseSend, Subscribe, Receive, TryReceive, Recv, All, Err, Missed and
// Close (a Topic is an ipcchan.Sender, a Subscription an
// ipcchan.Receiver), so fan-out code moves to many machines by changing
// its Open:
//
//	t, err := ipcchan.OpenTopic[Tick]("/ticks", ipcchan.Create(), ipcchan.History(16))
//	t, err := natsq.OpenTopic[Tick](ctx, js, "/ticks", ipcchan.Create(), ipcchan.History(16))
//	sub, err := t.Subscribe()
//
// A topic named "/ticks" is the stream "topic_ticks" (the prefix keeps it
// apart from a queue "/ticks", whose stream is "ticks"), with limits
// retention, file storage, MaxMsgs the Capacity (default 1024), the
// discard-old policy, and the one subject "ipcchan.topic_ticks" (two
// tokens, where a queue's have three: no subject of a queue overlaps a
// topic's). A queue named "/topic_ticks" would want the same stream: the
// second to be opened fails with ipcchan.ErrTypeMismatch, and UnlinkTopic
// leaves a queue's stream alone. History and Overflow are recorded in the
// stream's metadata; Subscribers is its MaxConsumers (default: no limit),
// and a Subscribe beyond it fails with ipcchan.ErrLimit. Messages are
// those of a Queue (a Topic[[]byte] publishes and receives the bytes as
// they are; other types behind the type header, so a subscriber of another
// type gets *ipcchan.MessageError with ErrTypeMismatch). Unlike
// ipcchan.OpenTopic, a pointer-free T is encoded with msgpack unless
// WithCodec(codec.Layout) asks for its bytes: between machines, the header
// is worth its 12 bytes.
//
// Each subscription is an ordered consumer: ephemeral, in the server's
// memory, without acknowledgements, starting at a stream sequence: the
// next message, or the last History(n) messages the stream holds.
// Subscribe takes no context (the signature of ipcchan.Topic.Subscribe):
// its two requests (the stream's state, the consumer's creation) are
// bounded by 10 seconds and by the topic's Close. Every message published
// after Subscribe returned reaches the subscription. It reads up to 64
// messages ahead of its receives (fewer if the Capacity is smaller). When
// its consumer fails (a server restarting, a connection back after it
// dropped), it resumes where it was, after the last message it took; a
// deleted stream ends it with ipcchan.ErrNotExist. Close deletes its
// consumer.
//
// Overflow: JetStream cannot make a publisher wait for a subscriber. A
// consumer does not hold messages in a stream with limits retention, and a
// stream that removed messages once every consumer had them (interest
// retention) would keep no History, nor anything for a subscriber that
// comes later. So on NATS both policies keep the last Capacity messages,
// and a publisher never waits: Overflow(DropOldest) is exactly what it is
// in shared memory, and Overflow(Block) is accepted (it is the default,
// and code that moves between transports passes it) but does not block: a
// subscription that falls more than the Capacity (plus what it read
// ahead) behind misses the oldest messages, as under DropOldest, and
// Missed counts them. TrySend never returns ErrFull. Size the Capacity for
// the slowest subscriber, or use a Queue per subscriber where nothing may
// be lost. Missed is exact: every message carries its stream sequence, and
// a gap between two that a subscription receives is what it missed
// (including messages an operator deleted from the stream).
//
// CloseSend publishes a message of zero bytes, after which every
// subscription's Receive returns io.EOF; a subscription made later gets
// its history and then the end, as in shared memory. CloseSend then
// seals the stream (JetStream's Sealed), if natsq created it, so that a
// later Send from any handle fails with ipcchan.ErrClosed, final until the
// topic is removed; a client without the permission to update streams
// leaves it unsealed, and then only the handle that ended it refuses to
// send. A message published by another handle while CloseSend runs may be
// stored after the end, where no subscription reads it.
//
// # Services
//
// OpenServer and OpenClient are ipcchan.OpenServer and OpenClient on NATS:
// a Client's Call sends a request and returns the answer to it, from one
// of the servers of the name, which may run on any machine. A handler is
// an ipcchan.Handler, so it moves between transports unchanged:
//
//	srv, err := ipcchan.OpenServer[Req, Resp]("/calc", ipcchan.Create())
//	srv, err := natsq.OpenServer[Req, Resp](ctx, js, "/calc")
//	err = srv.Serve(ctx, handler)
//	c, err := natsq.OpenClient[Req, Resp](ctx, js, "/calc")
//	resp, err := c.Call(ctx, req)
//
// A service is core NATS request/reply, not JetStream (js only gives the
// connection, js.Conn(), and nothing is stored): a service named "/calc"
// is the subject "ipcchan.service.calc", on which each Serve subscribes in
// the queue group of the same name, so that NATS gives each call to one of
// the servers. Requests and responses are encoded as ipcchan's services
// encode them: a pointer-free type as its bytes (codec.Layout), []byte and
// string as they are, any other type behind the type header, in
// MessagePack unless WithCodec says otherwise; a request or response is at
// most what the server's max_payload leaves beside the headers, or
// MsgSize. The options are WithCodec and MsgSize; Create and Capacity are
// accepted, so that ipcchan code moves unchanged, and change nothing.
//
// A request carries these headers (names case-sensitive):
//
//	Ipcchan-Types: func(main.Req) main.Resp 9c1f0e...   both types, and the fingerprint of both
//	Ipcchan-Deadline: 1767225600123456789              the caller's deadline, Unix ns (absent: none)
//
// and an answer is the encoded response, with no header; or a handler's
// error, its text as the body with the header "Ipcchan-Error: <code>" (the
// error's sentinel, numbered as in docs/FORMATS.md, 0 for none), which the
// caller gets as an *ipcchan.HandlerError whose errors.Is matches that
// sentinel. A client of another program may call a service with `nats req
// ipcchan.service.calc ...`: a request without Ipcchan-Types is decoded as
// it is.
//
// What shared memory does and NATS cannot:
//
//   - Types are checked at the first call, not at Open (NATS keeps no
//     record of a service): a server answers a request of other types
//     (another Ipcchan-Types) with ipcchan.ErrTypeMismatch naming both.
//   - The handler's ctx carries the caller's deadline, as a wall-clock
//     time: the machines' clocks must agree. It is not cancelled when the
//     caller gives up earlier (its ctx is cancelled, or its client
//     closed): NATS request/reply has no way to tell the server, so the
//     handler runs on to its deadline and its answer is dropped.
//   - A server that dies while it handles a call (or loses its connection)
//     is not noticed: the call waits for the answer until its ctx ends,
//     where ipcchan's returns ErrServerDied. Calls to a service should have
//     a deadline.
//
// While no server serves the name, NATS answers a request at once with no
// responders, and Call waits for a server, asking again after 1 ms, then
// twice as long each time up to every 50 ms, until its ctx ends, as
// ipcchan's Call waits for a server. Each Serve runs up to
// ipcchan.MaxHandlers handlers at once; a call beyond them waits in the
// server's subscription for one to end. When Serve ends (Close, or its
// ctx), it unsubscribes and hands the calls that had reached it but not
// started back to their callers ("Ipcchan-Retry" answers), who send them
// again to another server, or wait for one; the handlers running have
// their ctx cancelled, and their answers are sent.
//
// # Costs
//
// A Send waits for JetStream's acknowledgement (one round trip) unless the
// handle is Pipelined; a receive taking from its window costs no request,
// and its acknowledgement one message (and a round trip on a stream with a
// Capacity). Giving back a window costs a request (two while what it gave
// back before has not all come again), which the next receive waits for.
// A receiver waiting on an empty queue holds a pull request on each level,
// renewed every 5 s. On loopback here, with the server in another process
// than the sender (cmd/ipcbench): a stream of 64-byte messages takes about
// 140 µs per message with Send (the raw jetstream publisher: 90 µs), 19 µs
// with Pipelined sends (raw asynchronous publishing and batched fetching:
// 10 µs), and a ping-pong about 390 µs one way (raw publish and fetch:
// 260 µs). A service's Call is one request/reply round trip, and costs
// what raw request/reply costs, within the noise: about 100 µs here (the
// server embedded in the process, on 2 cores) against about 90 µs for
// nc.Request and an echo subscriber (BenchmarkServiceCall and
// BenchmarkRawRequest). NATS is for crossing machines, not for speed on
// one.
package natsq
