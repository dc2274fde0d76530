// Command fanout is a small tour of ipcchan.Topic: one publisher, several
// subscriber processes, every subscriber gets every message — and one of
// them is slow.
//
//	go run ./examples/fanout              # DropOldest: the publisher never waits, the slow one misses
//	go run ./examples/fanout -block       # Block: nobody misses, the publisher waits for the slow one
//
// The publisher publishes price ticks on a topic of 256 slots to three
// subscriber processes (this program, re-executed). Two keep up; the third
// pauses 2 ms every 100 messages, while the feed publishes 100 a
// millisecond. Under DropOldest the publisher keeps the feed's pace, the slow subscriber jumps ahead whenever it falls a
// whole capacity behind, and Missed() says exactly how much it lost
// (received + missed = published, for each). Under Block every subscriber
// gets every message and the publisher goes at the slow one's pace. A
// late joiner subscribes after the stream and gets the topic's History.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// A Tick is a price; it is pointer-free, so it is copied into the topic's
// slots as it is.
type Tick struct {
	Seq   uint64
	Price float64
	Qty   uint32
	_     uint32
}

const (
	messages = 20000
	history  = 4
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-subscriber" {
		if err := subscriber(os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "subscriber:", err)
			os.Exit(1)
		}
		return
	}
	block := flag.Bool("block", false, "Overflow(Block): the publisher waits for the slowest subscriber")
	flag.Parse()
	if err := publisher(*block); err != nil {
		fmt.Fprintln(os.Stderr, "fanout:", err)
		os.Exit(1)
	}
}

func publisher(block bool) error {
	ctx := context.Background()
	policy := ipcchan.DropOldest
	if block {
		policy = ipcchan.Block
	}
	name := fmt.Sprintf("/ipcchan-fanout-%d", os.Getpid())
	topic, err := ipcchan.OpenTopic[Tick](name, ipcchan.Create(), ipcchan.Exclusive(),
		ipcchan.Capacity(256), ipcchan.History(history), ipcchan.Overflow(policy))
	if err != nil {
		return err
	}
	defer topic.Unlink()
	defer topic.Close()
	// The subscribers say they have subscribed on a wait group.
	ready, err := ipcchan.OpenWaitGroup(name+"-ready", ipcchan.Create(), ipcchan.Exclusive())
	if err != nil {
		return err
	}
	defer ipcchan.UnlinkWaitGroup(name + "-ready")
	defer ready.Close()
	fmt.Printf("publisher %d: %d ticks on %s (256 slots, History(%d), Overflow(%v)) to 3 subscriber processes\n",
		os.Getpid(), messages, name, history, policy)
	kinds := []string{"fast", "fast", "slow"}
	ready.Add(len(kinds))
	var subs []*exec.Cmd
	for _, kind := range kinds {
		cmd := exec.Command(os.Args[0], "-subscriber", name, kind)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		defer cmd.Process.Kill() // if this returns early
		subs = append(subs, cmd)
	}
	if err := ready.Wait(ctx); err != nil {
		return err
	}
	// A feed: a burst of 100 ticks every millisecond.
	feed := time.NewTicker(time.Millisecond)
	defer feed.Stop()
	start := time.Now()
	for i := range messages {
		if i%100 == 0 && i > 0 {
			<-feed.C
		}
		if err := topic.Send(ctx, Tick{Seq: uint64(i), Price: 100 + float64(i%100)/100, Qty: uint32(i % 7)}); err != nil {
			return err
		}
	}
	took := time.Since(start)
	if err := topic.CloseSend(ctx); err != nil { // every subscriber gets io.EOF after the last tick
		return err
	}
	for _, cmd := range subs {
		if err := cmd.Wait(); err != nil {
			return err
		}
	}
	fmt.Printf("publisher: published %d in %v\n", messages, took.Round(10*time.Millisecond))

	// A late joiner gets the last History(n) messages, then the end.
	late, err := topic.Subscribe()
	if err != nil {
		return err
	}
	defer late.Close()
	var seqs []uint64
	for t, err := range late.All(ctx) {
		if err != nil {
			return err
		}
		seqs = append(seqs, t.Seq)
	}
	fmt.Printf("late joiner: the last %d ticks from the history: %v\n", len(seqs), seqs)
	return nil
}

// subscriber subscribes, says so, and reads until the end of the stream,
// checking that the ticks come in order.
func subscriber(name, kind string) error {
	ctx := context.Background()
	topic, err := ipcchan.OpenTopic[Tick](name)
	if err != nil {
		return err
	}
	defer topic.Close()
	sub, err := topic.Subscribe()
	if err != nil {
		return err
	}
	defer sub.Close()
	ready, err := ipcchan.OpenWaitGroup(name + "-ready")
	if err != nil {
		return err
	}
	ready.Done()
	ready.Close()
	received, next := 0, uint64(0)
	for {
		t, err := sub.Receive(ctx)
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		if t.Seq < next {
			return fmt.Errorf("tick %d after %d", t.Seq, next-1)
		}
		next = t.Seq + 1
		received++
		if kind == "slow" && received%100 == 0 {
			time.Sleep(2 * time.Millisecond) // a slow consumer: work that takes time
		}
	}
	fmt.Printf("subscriber %d (%s): received %5d, missed %5d, %s\n", os.Getpid(), kind, received, sub.Missed(),
		"received + missed = "+strconv.Itoa(received+int(sub.Missed())))
	return nil
}
