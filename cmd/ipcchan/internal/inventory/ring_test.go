package inventory_test

import (
	"testing"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// TestRingLenPastClaimsAhead: a handle that sends or receives single
// messages leaves head and tail behind its claims (docs/FORMATS.md,
// "Claiming ahead"); List's length of the ring counts what it holds all
// the same.
func TestRingLenPastClaimsAhead(t *testing.T) {
	name := testutil.Name(t, ipcchan.UnlinkRing)
	r, err := ipcchan.OpenRing[[8]byte](name, ipcchan.Create(), ipcchan.Capacity(64))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := range 5 {
		if err := r.TrySend([8]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if in := infoOf(t, "ring", name); in.Len != 5 {
		t.Errorf("after 5 sends, List says Len %d, want 5", in.Len)
	}
	for range 2 {
		if _, err := r.TryReceive(); err != nil {
			t.Fatal(err)
		}
	}
	if in := infoOf(t, "ring", name); in.Len != 3 {
		t.Errorf("after 2 receives, List says Len %d, want 3", in.Len)
	}
}
