package ipcchan

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/large"
	"github.com/ipcchan/ipcchan/internal/options"
	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/internal/typed"
)

// largeStore returns where the queue or ring obj, whose file is st and
// whose messages are at most msgSize bytes, keeps its large messages, or
// nil when its values stay within msgSize: typed values always travel as
// large messages when they must, []byte and string values with
// LargeMessages. It sets w's limit accordingly: 1 GiB, or msgSize, with
// advice (what to do about a larger message) followed by a word on
// LargeMessages where it would help.
func largeStore[T any](obj ipcerr.Object, w *typed.Wire[T], cfg *options.Config, msgSize int, st *unix.Stat_t, advice func() string) (*large.Store, error) {
	kind := w.Kind()
	raw := kind == typed.Bytes || kind == typed.String
	carries := kind == typed.Typed || (cfg.Has(options.Large) && raw)
	if carries && msgSize < large.RefSize {
		if cfg.Has(options.Large) {
			return nil, obj.Err("open", ErrInvalid, fmt.Sprintf("LargeMessages needs a MsgSize of at least %d bytes, for the references, and the %s's is %d", large.RefSize, obj.Kind, msgSize))
		}
		carries = false // tiny typed messages: they stay within MsgSize
	}
	if carries {
		w.SetLimit(large.Max, "the largest message a "+obj.Kind+" carries, 1 GiB (a large message travels through "+posix.ShmDir+")", func() string {
			return "send it in parts"
		})
		return large.NewStore(obj, st), nil
	}
	w.SetLimit(msgSize, fmt.Sprintf("its MsgSize of %d", msgSize), func() string {
		if raw {
			return advice() + ", or open it with ipcchan.LargeMessages() to carry larger messages (up to 1 GiB) through " + posix.ShmDir
		}
		return advice()
	})
	return nil, nil
}

// takeLarge reports whether msg, received at priority prio, is a
// reference to a large message of store (nil: the handle takes none), and
// if so reads the message, appending it to dst, and removes its file.
func takeLarge(store *large.Store, msg []byte, prio uint, dst []byte) ([]byte, bool, error) {
	if store == nil || !large.IsRef(msg) {
		return dst, false, nil
	}
	var ref [large.RefSize]byte // msg may be in dst's spare room, where the message goes, or in a slot about to be freed
	copy(ref[:], msg)
	dst, err := store.Take(ref[:], prio, dst)
	return dst, true, err
}
