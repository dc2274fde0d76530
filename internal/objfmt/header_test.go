package objfmt

import (
	"strings"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	h := Header{Kind: Mutex, Size: 8, Align: 4, ElemSize: 0, Fingerprint: 0x1122334455667788, Creator: 4242,
		Overflow: true, Type: "ipcchan.Mutex", Users: [UserSlots]uint32{3: 77}}
	b := h.Marshal()
	got, err := Parse(b[:])
	if err != nil || got != h {
		t.Fatalf("Parse(Marshal(h)) = %+v, %v; want %+v", got, err, h)
	}
	mem := append(b[:], make([]byte, 8)...)
	if slot := AddUser(mem, 99, func(int) bool { return true }); slot != 0 {
		t.Errorf("AddUser took slot %d, want the first free one", slot)
	}
	DropUser(mem, 0, 99)
	if h2, _ := Parse(mem); h2.Users[0] != 0 || h2.Users[3] != 77 {
		t.Errorf("users after add+drop: %v", h2.Users)
	}
	b[8] = 9 // another version
	if _, err := Parse(b[:]); err == nil || !strings.Contains(err.Error(), "format version 9") {
		t.Errorf("Parse of version 9 = %v", err)
	}
	if _, err := Parse([]byte("not ipcchan")); err == nil || !strings.Contains(err.Error(), "not an ipcchan object") {
		t.Errorf("Parse of other bytes = %v", err)
	}
}
