package posix

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzCheckName: CheckName never panics; what it accepts obeys the rules,
// and the kernel accepts it too: a queue of that name can be created and
// removed (under a prefix of this test, so as to touch nothing else).
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"/jobs", "", "/", "//x", "/a/b", "/.", "/..", "/a\x00b", "/" + strings.Repeat("z", 300), "/ü", "/ \t"} {
		f.Add(s)
	}
	prefix := fmt.Sprintf("/fz%d-", os.Getpid())
	f.Fuzz(func(t *testing.T, name string) {
		err := CheckName(name, NameMax)
		if err != nil {
			return
		}
		rest := name[1:]
		if name[0] != '/' || rest == "" || strings.ContainsAny(rest, "/\x00") || rest == "." || rest == ".." || len(rest) > NameMax {
			t.Fatalf("CheckName accepted %q", name)
		}
		// The same name under our prefix, cut to fit, must work in the kernel.
		probe := prefix + rest
		if len(probe) > NameMax+1 {
			probe = probe[:NameMax+1]
		}
		if CheckName(probe, NameMax) != nil {
			return // cutting made it "." or ".." in some odd way: skip
		}
		fd, err := MqOpen(probe, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600, &MqAttr{MaxMsg: 1, MsgSize: 1})
		if err != nil && err != syscall.EEXIST {
			t.Fatalf("the kernel refused %q (accepted as %q): %v", probe, name, err)
		}
		if err == nil {
			unix.Close(fd)
			MqUnlink(probe)
		}
	})
}
