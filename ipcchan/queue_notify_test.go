package ipcchan_test

import (
	"errors"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/ipcchan"
)

func TestQueueNotify(t *testing.T) {
	const sig = syscall.Signal(40) // SIGRTMIN+6: queued, not merged
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, sig)
	defer signal.Stop(sigs)

	name := queueName(t)
	q := openQueue[string](t, name, ipcchan.Create())
	if err := q.Notify(sig); err != nil {
		t.Fatal(err)
	}
	other := openQueue[string](t, name)
	if err := other.Notify(sig); !errors.Is(err, ipcchan.ErrExist) {
		t.Fatalf("a second registration = %v, want ErrExist (one per queue)", err)
	}
	if err := other.Send(t.Context(), "hello"); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-sigs:
		if s != sig {
			t.Fatalf("got %v", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notification for a message into an empty queue")
	}
	// The registration is spent: another message brings no signal unless
	// re-armed; re-armed while a message waits, the next arrival into an
	// empty queue signals again.
	if err := q.Notify(sig); err != nil {
		t.Fatal(err)
	}
	if s, err := q.TryReceive(); err != nil || s != "hello" {
		t.Fatalf("TryReceive = %q, %v", s, err)
	}
	other.Send(t.Context(), "again")
	select {
	case <-sigs:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification after re-arming")
	}
	if err := q.Notify(0); err != nil {
		t.Fatalf("removing the registration: %v", err)
	}
	if err := q.Notify(syscall.Signal(999)); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("Notify(999) = %v, want ErrInvalid", err)
	}
}

func TestQueueNoEndOfStream(t *testing.T) {
	name := queueName(t)
	q := openQueue[[]byte](t, name, ipcchan.Create(), ipcchan.NoEndOfStream())
	if err := q.Send(t.Context(), nil); err != nil {
		t.Fatalf("Send(empty) with NoEndOfStream = %v", err)
	}
	if b, err := q.TryReceive(); err != nil || len(b) != 0 {
		t.Fatalf("TryReceive = %q, %v; want an empty message", b, err)
	}
	if _, err := q.TryReceive(); !errors.Is(err, ipcchan.ErrEmpty) {
		t.Fatalf("the empty message was put back: %v", err)
	}
	if err := q.CloseSend(t.Context()); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("CloseSend with NoEndOfStream = %v, want ErrInvalid", err)
	}
}
