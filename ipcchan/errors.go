package ipcchan

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/ipcchan/ipcchan/internal/posix"
)

// sentinel is an error value for errors.Is that may stand for a standard
// error as well (ErrNotExist is also fs.ErrNotExist).
type sentinel struct {
	msg string
	std error
}

func (e *sentinel) Error() string { return e.msg }
func (e *sentinel) Unwrap() error { return e.std }

// Errors reported by ipcchan, for use with errors.Is. The error returned by
// an operation is an *Error (or *MessageError) that wraps one of them and
// says what to do.
var (
	// ErrNotExist: no object has that name (also fs.ErrNotExist).
	ErrNotExist error = &sentinel{"does not exist", fs.ErrNotExist}
	// ErrExist: the object exists and Exclusive was given, or it exists
	// with attributes other than those asked for (also fs.ErrExist).
	ErrExist error = &sentinel{"already exists", fs.ErrExist}
	// ErrPermission: the object's mode does not let this process open it
	// (also fs.ErrPermission).
	ErrPermission error = &sentinel{"permission denied", fs.ErrPermission}
	// ErrInvalidName: the name breaks the POSIX rules (one leading slash,
	// no other slash, at most NAME_MAX bytes).
	ErrInvalidName error = &sentinel{"invalid name", fs.ErrInvalid}
	// ErrInvalid: an option or argument is out of range (also fs.ErrInvalid).
	ErrInvalid error = &sentinel{"invalid argument", fs.ErrInvalid}
	// ErrTooLarge: a message is larger than the queue's MsgSize.
	ErrTooLarge error = &sentinel{"message too large", nil}
	// ErrLimit: a system limit stops the operation; the error names the
	// limit and how to raise it.
	ErrLimit error = &sentinel{"system limit reached", nil}
	// ErrFull: TrySend found the queue full.
	ErrFull error = &sentinel{"queue full", nil}
	// ErrEmpty: TryReceive found the queue empty.
	ErrEmpty error = &sentinel{"queue empty", nil}
	// ErrClosed: the handle was closed (also fs.ErrClosed).
	ErrClosed error = &sentinel{"closed", fs.ErrClosed}
	// ErrTypeMismatch: a typed queue received a message that was not sent
	// as its type (another type, raw bytes, or another format).
	ErrTypeMismatch error = &sentinel{"type mismatch", nil}
	// ErrCorrupt: a message has the right type header but its payload
	// cannot be decoded.
	ErrCorrupt error = &sentinel{"corrupt message", nil}
	// ErrOwnerDead: a Mutex was acquired from a holder that died; the
	// protected state may be inconsistent.
	ErrOwnerDead error = &sentinel{"previous owner died", nil}
	// ErrNotRecoverable: a Mutex was unlocked after ErrOwnerDead without
	// MarkConsistent, and can no longer be locked.
	ErrNotRecoverable error = &sentinel{"not recoverable", nil}
)

// An Error records a failed operation on a named object, in the manner of
// *fs.PathError: "queue /jobs: open: does not exist; ...".
type Error struct {
	Kind   string // "queue", "semaphore", "mutex", "waitgroup", "shm"
	Name   string // the object's name, "/jobs"
	Op     string // "open", "send", "receive", "unlink", ...
	Err    error  // the ipcchan error (ErrNotExist ...) or context error
	Sys    error  // the system error beneath, if any (a syscall.Errno)
	Detail string // what happened and what to do; Err's text when empty
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind)
	if e.Name != "" {
		b.WriteString(" ")
		b.WriteString(e.Name)
	}
	b.WriteString(": ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	switch {
	case e.Detail != "":
		b.WriteString(e.Detail)
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	case e.Sys != nil:
		b.WriteString(e.Sys.Error())
	}
	return b.String()
}

// Unwrap returns Err and Sys, so that errors.Is matches both the ipcchan
// error and the system one (syscall.ENOENT, context.Canceled ...).
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.Sys != nil {
		errs = append(errs, e.Sys)
	}
	return errs
}

// A MessageError reports a message that left the kernel queue but could
// not be handed over as a value: Receive got a message that does not decode
// as the queue's type (Err is ErrTypeMismatch or ErrCorrupt), or Close
// could not put back a message that Recv had read ahead (Err is ErrFull;
// Value holds it). Either way the message is not lost: it is here.
type MessageError struct {
	Queue    string // the queue's name
	Op       string // "receive" or "close"
	Priority uint   // the message's priority
	Data     []byte // the message, byte for byte
	Value    any    // the decoded value, when there is one (a T)
	Err      error  // ErrTypeMismatch, ErrCorrupt or ErrFull
	Detail   string // what happened
}

func (e *MessageError) Error() string {
	return fmt.Sprintf("queue %s: %s: message of %d bytes at priority %d: %s", e.Queue, e.Op, len(e.Data), e.Priority, e.Detail)
}

func (e *MessageError) Unwrap() error { return e.Err }

// CheckName reports whether name is a valid object name: one leading
// slash, then 1 to 255 bytes without a slash or NUL, not "." or "..". (A
// semaphore's name, stored as "sem." + name, has 4 bytes less room.)
func CheckName(name string) error {
	if err := posix.CheckName(name, posix.NameMax); err != nil {
		return nameError("object", name, "check name", err)
	}
	return nil
}
