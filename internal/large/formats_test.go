package large

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/internal/testutil"
)

// TestFormatsRef: the reference of FORMATS.md is what Put makes for a real
// large message in /dev/shm, whose file has the name and head it says.
func TestFormatsRef(t *testing.T) {
	name := fmt.Sprintf("/%sformats-%d", testutil.Prefix, os.Getpid())
	t.Cleanup(func() { RemoveAll("ring", name) })
	var st unix.Stat_t
	if err := unix.Stat(posix.ShmDir, &st); err != nil {
		t.Fatal(err)
	}
	st.Uid, st.Mode = uint32(os.Geteuid()), 0o600
	s := NewStore(ipcerr.Object{Kind: "ring", Name: name}, &st)
	msg := []byte(strings.Repeat("x", 5000))
	out, err := s.Put(msg)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Drop()
	ref := out.Ref
	if len(ref) != RefSize || !IsRef(ref) {
		t.Fatalf("the reference % x is not one", ref)
	}
	size, token := parseRef(ref)
	if size != int64(len(msg)) || binary.LittleEndian.Uint64(ref[8:]) != uint64(len(msg)) {
		t.Errorf("the size is not at offset 8: % x", ref)
	}
	path := posix.ShmDir + objfmt.RingLargePrefix + name[1:] + "." + hex.EncodeToString(ref[16:32])
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the file named after the reference's token: %v", err)
	}
	if in, err := objfmt.ParseLarge(b); err != nil || in.Token != token || in.Size != size {
		t.Errorf("the file's head: %+v, %v", in, err)
	}
	if string(b[objfmt.LargeDataOff:]) != string(msg) {
		t.Error("the message is not at LargeDataOff")
	}
	if ref[0] != 0xC1 || ref[1] != 'L' || ref[2] != 'M' || ref[3] != 1 || string(ref[4:8]) != "\x00\x00\x00\x00" {
		t.Errorf("the reference starts % x", ref[:8])
	}
	doc := testutil.ReadFormats(t)
	testutil.CheckFields(t, "layout: large-ref", doc.Layout(t, "large-ref"), []testutil.Field{
		{Name: "magic", Offset: 0, Size: len(refMagic)},
		{Name: "size", Offset: 8, Size: 8},
		{Name: "token", Offset: 16, Size: objfmt.LargeTokenSize},
	}, RefSize)
	testutil.CheckCConstants(t, doc.CConstants(t), map[string]any{
		"IPCCHAN_LARGE_REF_SIZE":      RefSize,
		"IPCCHAN_LARGE_REF_OFF_MAGIC": 0,
		"IPCCHAN_LARGE_REF_OFF_SIZE":  8,
		"IPCCHAN_LARGE_REF_OFF_TOKEN": 16,
		"IPCCHAN_LARGE_REF_MAGIC":     string(refMagic[:]),
	}, func(name string) bool { return strings.HasPrefix(name, "IPCCHAN_LARGE_REF_") })
}
