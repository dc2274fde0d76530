package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BuildGo builds the Go command in the module's directory dir (a path from
// the module's root, "internal/waitload") without the race detector, once
// per test process, and returns the path of the program; it goes with the
// C peers' build directory when the tests end.
func BuildGo(t testing.TB, dir string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := "go:" + dir
	if p, ok := buildDone[key]; ok {
		return p
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "ipcchan-c-")
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o755) // helper processes may run as another user
		buildDir = d
	}
	out := filepath.Join(buildDir, filepath.Base(dir))
	cmd := exec.Command("go", "build", "-race=false", "-o", out, "./"+dir)
	cmd.Dir = moduleRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, b)
	}
	buildDone[key] = out
	return out
}
