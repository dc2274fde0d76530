package textesc

import "testing"

func TestAppend(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, ünïcode ✓":    "plain text, ünïcode ✓",
		"tab\there":                `tab\there`,
		"new\nline\r":              `new\nline\r`,
		`back\slash`:               `back\\slash`,
		"nul\x00 bell\x07 del\x7f": `nul\x00 bell\x07 del\x7f`,
		"bad \xff\xfe utf8":        `bad \xff\xfe utf8`,
		"line\u2028sep":            `line\u2028sep`,
	} {
		if got := string(Append(nil, []byte(in))); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
}
