package inventory_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/cmd/ipcchan/internal/inventory"
	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func init() {
	helpers["create-pause"] = helperCreatePause
}

// helperCreatePause: KIND NAME — creates the object, and between building
// it and linking it under its name prints its temporary file and sleeps
// until killed.
func helperCreatePause(args []string) error {
	posix.BeforeLink = func(tmp string) {
		fmt.Println(tmp)
		for {
			time.Sleep(time.Hour)
		}
	}
	var err error
	switch args[0] {
	case "shm":
		_, err = ipcchan.OpenShm[[64]byte](args[1], ipcchan.Create())
	case "mutex":
		_, err = ipcchan.OpenMutex(args[1], ipcchan.Create())
	case "waitgroup":
		_, err = ipcchan.OpenWaitGroup(args[1], ipcchan.Create())
	case "semaphore":
		_, err = ipcchan.OpenSemaphore(args[1], ipcchan.Create())
	default:
		err = fmt.Errorf("unknown kind %q", args[0])
	}
	return err
}

// TestStaleTempFile: the temporary file of an object being built is in
// use while its creator lives; once the creator is killed before linking
// it, the file is abandoned, rm --stale finds it (as a temp file of the
// dead pid), and Remove removes it. (ipcchan's TestKillCreatorBeforeLink
// checks what the library leaves.)
func TestStaleTempFile(t *testing.T) {
	unlink := map[string]func(string) error{
		"shm": ipcchan.UnlinkShm, "mutex": ipcchan.UnlinkMutex, "waitgroup": ipcchan.UnlinkWaitGroup, "semaphore": ipcchan.UnlinkSemaphore,
	}
	for _, kind := range []string{"shm", "mutex", "waitgroup", "semaphore"} {
		t.Run(kind, func(t *testing.T) {
			name := testutil.Name(t, unlink[kind])
			creator := helperCmd(t, "create-pause", kind, name)
			out, _ := creator.StdoutPipe()
			if err := creator.Start(); err != nil {
				t.Fatal(err)
			}
			tmp, err := bufio.NewReader(out).ReadString('\n')
			if err != nil || !strings.Contains(tmp, posix.TempPrefix) {
				creator.Process.Kill()
				creator.Wait()
				t.Fatalf("creator said %q, %v", tmp, err)
			}
			tmp = strings.TrimSpace(tmp)
			t.Cleanup(func() { os.Remove(tmp) })
			tmpName := "/" + filepath.Base(tmp) // as List names a temporary file

			// Its creator lives: in use, kept.
			if in := infoOf(t, "temp", tmpName); in.Use != inventory.InUse || in.Creator != creator.Process.Pid || !in.CreatorAlive {
				t.Errorf("a temporary file whose creator lives is %s, creator %d (alive %v); want in use, by %d", in.Use, in.Creator, in.CreatorAlive, creator.Process.Pid)
			}
			if isStale(t, tmpName, false) {
				t.Error("rm --stale would remove the temporary file of a live creator")
			}

			creator.Process.Kill()
			creator.Wait()
			if in := infoOf(t, "temp", tmpName); in.Use != inventory.Abandoned || in.Creator != creator.Process.Pid || in.CreatorAlive || in.Path != tmp {
				t.Errorf("the temporary file %s of a dead creator is %s, creator %d (alive %v), path %s; want abandoned by %d", tmp, in.Use, in.Creator, in.CreatorAlive, in.Path, creator.Process.Pid)
			}
			// Its half-built file is stale, and only it.
			stale := staleOf(t, tmpName, false)
			if len(stale) != 1 || stale[0].Path != tmp {
				t.Fatalf("rm --stale finds %+v of the dead creator's %s; want it alone", stale, tmp)
			}
			if err := inventory.Remove(stale[0]); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(tmp); !os.IsNotExist(err) {
				t.Errorf("%s after Remove: %v", tmp, err)
			}
		})
	}
}
