package ipcchan_test

import (
	"testing"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// aTickWhoseTypeNameIsLongerThanTheSixtyFourBytesOfTheHeadersTypeField
// has a type string beyond the header's 64 bytes.
type aTickWhoseTypeNameIsLongerThanTheSixtyFourBytesOfTheHeadersTypeField struct{ Seq int64 }

// TestRingLongTypeName: a ring of a type whose name is longer than the
// header's type field opens again (the header holds its first 64 bytes).
func TestRingLongTypeName(t *testing.T) {
	type long = aTickWhoseTypeNameIsLongerThanTheSixtyFourBytesOfTheHeadersTypeField
	name := ringName(t)
	r, err := ipcchan.OpenRing[long](name, ipcchan.Create(), ipcchan.Capacity(2))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Send(t.Context(), long{Seq: 7}); err != nil {
		t.Fatal(err)
	}
	again, err := ipcchan.OpenRing[long](name)
	if err != nil {
		t.Fatalf("reopening a ring of a type with a long name: %v", err)
	}
	defer again.Close()
	if v, err := again.Receive(t.Context()); err != nil || v.Seq != 7 {
		t.Errorf("received %+v, %v", v, err)
	}
	if _, err := ipcchan.OpenRing[struct{ Seq int64 }](name); err == nil {
		t.Error("a ring of another type with the same layout opened")
	}
}
