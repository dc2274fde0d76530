package posix

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"/a", "/jobs", "/with.dots-and_under", "/" + strings.Repeat("x", NameMax), "/ünïcode"} {
		if err := CheckName(ok, NameMax); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a", "a/", "/", "//", "/a/", "/a/b", "/.", "/..", "/a\x00", "/" + strings.Repeat("x", NameMax+1)} {
		err := CheckName(bad, NameMax)
		var ne *NameError
		if !errors.As(err, &ne) || ne.Name != bad || ne.Reason == "" {
			t.Errorf("CheckName(%q) = %v, want a NameError", bad, err)
		}
	}
	if err := CheckName("/"+strings.Repeat("x", 252), 251); err == nil {
		t.Error("a shorter limit was not applied")
	}
}

func TestMqBytesMatchesKernel(t *testing.T) {
	// 10 messages of 8192 bytes: 81920 + 10*48 + 10*48.
	if got := MqBytes(10, 8192); got != 82880 {
		t.Errorf("MqBytes(10, 8192) = %d, want 82880", got)
	}
}
