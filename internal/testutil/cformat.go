package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The C header block of docs/FORMATS.md: what BuildC compiles the C peers
// against (ipcchan_format.h in its build directory, passed with -I), and
// the constants the tests check against the code.

// CHeader returns the C header block of FORMATS.md.
func (f *Formats) CHeader() (string, error) {
	open := "\n```c " + CHeaderName + "\n"
	i := strings.Index(f.Text, open)
	if i < 0 {
		return "", fmt.Errorf("%s has no block opened by %q", FormatsPath, strings.TrimSpace(open))
	}
	body := f.Text[i+len(open):]
	j := strings.Index(body, "\n```\n")
	if j < 0 {
		return "", fmt.Errorf("%s: the block %s is not closed", FormatsPath, CHeaderName)
	}
	return body[:j+1], nil
}

// A CConst is the value of a constant of the C header: an integer, or the
// bytes of a string literal.
type CConst struct {
	Int   int64
	Str   string
	IsStr bool
}

var (
	cEnumRE   = regexp.MustCompile(`^\s*(IPCCHAN_\w+)\s*=\s*([^,]+),`)
	cDefineRE = regexp.MustCompile(`^#define\s+(IPCCHAN_\w+)\s+(.+?)\s*(/\*.*\*/)?$`)
)

// CConstants returns the constants of the C header that have a literal
// value (integers, character and string literals), by name; constants
// defined by an expression are left out.
func (f *Formats) CConstants(t testing.TB) map[string]CConst {
	t.Helper()
	h, err := f.CHeader()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]CConst{}
	for _, l := range strings.Split(h, "\n") {
		m := cEnumRE.FindStringSubmatch(l)
		if m == nil {
			m = cDefineRE.FindStringSubmatch(l)
		}
		if m == nil {
			continue
		}
		v, ok := cLiteral(strings.TrimSpace(m[2]))
		if !ok {
			continue
		}
		if _, dup := out[m[1]]; dup {
			t.Fatalf("%s: the C header defines %s twice", FormatsPath, m[1])
		}
		out[m[1]] = v
	}
	return out
}

func cLiteral(s string) (CConst, bool) {
	switch {
	case strings.HasPrefix(s, `"`) && strings.HasSuffix(s, `"`) && len(s) >= 2:
		// The escapes the header uses: \xHH (as C reads it: every hex
		// digit that follows), and plain characters.
		var b []byte
		body := s[1 : len(s)-1]
		for i := 0; i < len(body); i++ {
			if body[i] != '\\' {
				b = append(b, body[i])
				continue
			}
			if i+1 >= len(body) || body[i+1] != 'x' {
				return CConst{}, false
			}
			j := i + 2
			for j < len(body) && strings.IndexByte("0123456789abcdefABCDEF", body[j]) >= 0 {
				j++
			}
			n, err := strconv.ParseUint(body[i+2:j], 16, 8)
			if err != nil {
				return CConst{}, false
			}
			b = append(b, byte(n))
			i = j - 1
		}
		return CConst{Str: string(b), IsStr: true}, true
	case len(s) == 3 && s[0] == '\'' && s[2] == '\'':
		return CConst{Int: int64(s[1])}, true
	}
	n, err := strconv.ParseInt(strings.TrimRight(s, "uUlL"), 0, 64)
	if err != nil {
		return CConst{}, false
	}
	return CConst{Int: n}, true
}

// CheckCConstants compares the C header's constants with want (integers
// as int, int64, uint32 or uint64; strings as string): each of want must be
// there with its value, and every literal constant for which mine is true
// must be in want, so that none goes unchecked.
func CheckCConstants(t testing.TB, consts map[string]CConst, want map[string]any, mine func(name string) bool) {
	t.Helper()
	for name, w := range want {
		c, ok := consts[name]
		if !ok {
			t.Errorf("%s: the C header lacks %s", FormatsPath, name)
			continue
		}
		if s, isStr := w.(string); isStr {
			if !c.IsStr || c.Str != s {
				t.Errorf("%s: the C header has %s = %+v, want %q", FormatsPath, name, c, s)
			}
			continue
		}
		var n int64
		switch w := w.(type) {
		case int:
			n = int64(w)
		case int64:
			n = w
		case uint32:
			n = int64(w)
		case uint64:
			n = int64(w)
		default:
			t.Fatalf("CheckCConstants: %s: a %T", name, w)
		}
		if c.IsStr || c.Int != n {
			t.Errorf("%s: the C header has %s = %+v, want %d", FormatsPath, name, c, n)
		}
	}
	for name := range consts {
		if _, ok := want[name]; mine(name) && !ok {
			t.Errorf("%s: the C header's %s is not checked against the code", FormatsPath, name)
		}
	}
}

// WriteCHeader writes the C header of the module's docs/FORMATS.md into
// dir, as ipcchan_format.h.
func WriteCHeader(root, dir string) error {
	b, err := os.ReadFile(filepath.Join(root, FormatsPath))
	if err != nil {
		return err
	}
	h, err := (&Formats{Text: string(b)}).CHeader()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, CHeaderName), []byte(h), 0o644)
}

// cHeaderDir writes ipcchan_format.h into dir, for BuildC, and returns
// dir.
func cHeaderDir(t testing.TB, dir string) string {
	t.Helper()
	if err := WriteCHeader(moduleRoot(t), dir); err != nil {
		t.Fatalf("the C peers' header: %v", err)
	}
	return dir
}
