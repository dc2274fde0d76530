package ipcchan_test

import (
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// TestOpenWrongKind: opening a name that exists only as another kind of
// object is ErrWrongKind (which is also ErrNotExist), and says what the
// name is; Create makes the kind asked for beside it.
func TestOpenWrongKind(t *testing.T) {
	open := map[string]func(name string, opts ...ipcchan.Option) (io.Closer, error){
		"queue":     func(n string, o ...ipcchan.Option) (io.Closer, error) { return ipcchan.OpenQueue[string](n, o...) },
		"ring":      func(n string, o ...ipcchan.Option) (io.Closer, error) { return ipcchan.OpenRing[[]byte](n, o...) },
		"semaphore": func(n string, o ...ipcchan.Option) (io.Closer, error) { return ipcchan.OpenSemaphore(n, o...) },
		"shm":       func(n string, o ...ipcchan.Option) (io.Closer, error) { return ipcchan.OpenShm[Stats](n, o...) },
		"mutex":     func(n string, o ...ipcchan.Option) (io.Closer, error) { return ipcchan.OpenMutex(n, o...) },
		"waitgroup": func(n string, o ...ipcchan.Option) (io.Closer, error) { return ipcchan.OpenWaitGroup(n, o...) },
	}
	unlink := map[string]func(string) error{"queue": ipcchan.UnlinkQueue, "ring": ipcchan.UnlinkRing, "semaphore": ipcchan.UnlinkSemaphore,
		"shm": ipcchan.UnlinkShm, "mutex": ipcchan.UnlinkMutex, "waitgroup": ipcchan.UnlinkWaitGroup}
	describe := map[string]string{"queue": "a queue", "ring": "a ring", "semaphore": "a semaphore", "shm": "a shm object",
		"mutex": "a mutex", "waitgroup": "a wait group"}
	for made := range open {
		for asked := range open {
			if made == asked {
				continue
			}
			t.Run(made+"/as-"+asked, func(t *testing.T) {
				name := testutil.Name(t, unlink[made])
				c, err := open[made](name, ipcchan.Create())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_, err = open[asked](name)
				want := name + " is " + describe[made] + ", not " + describe[asked]
				if !errors.Is(err, ipcchan.ErrWrongKind) || !errors.Is(err, ipcchan.ErrNotExist) || !errors.Is(err, fs.ErrNotExist) ||
					err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("open as %s: %v; want ErrWrongKind saying %q", asked, err, want)
				}
				t.Cleanup(func() { unlink[asked](name) })
				beside, err := open[asked](name, ipcchan.Create())
				if err != nil {
					t.Fatalf("create %s beside %s: %v", asked, made, err)
				}
				beside.Close()
			})
		}
	}
	// A name of no kind at all is ErrNotExist alone.
	if _, err := ipcchan.OpenMutex(mutexName(t)); !errors.Is(err, ipcchan.ErrNotExist) || errors.Is(err, ipcchan.ErrWrongKind) {
		t.Errorf("open of a name nothing has: %v", err)
	}
}
