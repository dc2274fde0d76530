package ipcchan_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestCoreDependencies: the core packages (ipcchan, codec, loop, and all
// they import) depend only on the standard library, the module's own
// packages, golang.org/x/sys and msgpack (which brings its tagparser).
// NATS, or any other module, may serve natsq, the commands and the tests,
// never the core.
func TestCoreDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}",
		"github.com/ipcchan/ipcchan/ipcchan", "github.com/ipcchan/ipcchan/codec", "github.com/ipcchan/ipcchan/loop").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := []string{"github.com/ipcchan/ipcchan/", "golang.org/x/sys/", "github.com/vmihailenco/msgpack/v5", "github.com/vmihailenco/tagparser/v2"}
	var modules []string
	for _, p := range strings.Fields(string(out)) {
		ok := slices.ContainsFunc(allowed, func(a string) bool { return strings.HasPrefix(p, a) })
		if !ok {
			t.Errorf("core packages depend on %s", p)
		}
		if !strings.HasPrefix(p, "github.com/ipcchan/") {
			modules = append(modules, p)
		}
	}
	if len(modules) == 0 {
		t.Fatal("go list found no dependencies at all; the check is broken")
	}
}
