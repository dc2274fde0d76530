package ipcchan_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// TestRingMessageErrorNamesTheRing: a message a ring cannot hand over (here
// a reference to a large message whose file is gone) comes back in a
// *MessageError that names the ring, not a queue, and no priority.
func TestRingMessageErrorNamesTheRing(t *testing.T) {
	name := ringName(t)
	r := openRing[[]byte](t, name, ipcchan.Create(), ipcchan.LargeMessages())
	ref := make([]byte, 32) // a large message's reference (docs/FORMATS.md), to no file
	copy(ref, []byte{0xC1, 'L', 'M', 1})
	ref[8] = 1
	if err := r.Send(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	_, err := r.Receive(t.Context())
	var me *ipcchan.MessageError
	if !errors.As(err, &me) || me.Kind != "ring" || !strings.HasPrefix(err.Error(), "ring "+name+": receive: message of 32 bytes: ") {
		t.Errorf("receive of a dangling reference: %v; want a MessageError of ring %s", err, name)
	}
}
