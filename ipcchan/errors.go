package ipcchan

import (
	"errors"

	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/posix"
)

// Errors reported by ipcchan and its other transports (natsq), for use
// with errors.Is. The error returned by an operation is an *Error (or
// *MessageError) that wraps one of them and says what to do.
var (
	// ErrNotExist: no object has that name (also fs.ErrNotExist).
	ErrNotExist = ipcerr.ErrNotExist
	// ErrExist: the object exists and Exclusive was given, or it exists
	// with attributes other than those asked for (also fs.ErrExist).
	ErrExist = ipcerr.ErrExist
	// ErrPermission: the object's mode does not let this process open it
	// (also fs.ErrPermission).
	ErrPermission = ipcerr.ErrPermission
	// ErrInvalidName: the name breaks the POSIX rules (one leading slash,
	// no other slash, at most NAME_MAX bytes).
	ErrInvalidName = ipcerr.ErrInvalidName
	// ErrInvalid: an option or argument is out of range, or a value cannot
	// be encoded (also fs.ErrInvalid).
	ErrInvalid = ipcerr.ErrInvalid
	// ErrTooLarge: a message is larger than its queue carries.
	ErrTooLarge = ipcerr.ErrTooLarge
	// ErrLimit: a system limit stops the operation; the error names the
	// limit and how to raise it.
	ErrLimit = ipcerr.ErrLimit
	// ErrFull: TrySend found the queue full.
	ErrFull = ipcerr.ErrFull
	// ErrEmpty: TryReceive found the queue empty.
	ErrEmpty = ipcerr.ErrEmpty
	// ErrClosed: the handle was closed (also fs.ErrClosed).
	ErrClosed = ipcerr.ErrClosed
	// ErrTypeMismatch: a typed queue received a message that was not sent
	// as its type (another type, raw bytes, or another format), or an
	// object holds another type than the one it is opened as.
	ErrTypeMismatch = ipcerr.ErrTypeMismatch
	// ErrCorrupt: a message has the right type header but its payload
	// cannot be decoded.
	ErrCorrupt = ipcerr.ErrCorrupt
	// ErrOwnerDead: a Mutex was acquired from a holder that died; the
	// protected state may be inconsistent.
	ErrOwnerDead = ipcerr.ErrOwnerDead
	// ErrNotRecoverable: a Mutex was unlocked after ErrOwnerDead without
	// MarkConsistent, and can no longer be locked.
	ErrNotRecoverable = ipcerr.ErrNotRecoverable
	// ErrWrongKind: no object of the kind asked for has that name, but
	// one of another kind has ("/jobs is a queue, not a semaphore"); the
	// error names it. It is also ErrNotExist (and fs.ErrNotExist): objects
	// of different kinds may share a name, and Create makes one of the kind
	// asked for beside the other.
	ErrWrongKind = ipcerr.ErrWrongKind
	// ErrServerDied: the server process handling a call (Client.Call) died
	// before it answered. The call may or may not have had its effect.
	ErrServerDied = ipcerr.ErrServerDied
)

// An Error records a failed operation on a named object, in the manner of
// *fs.PathError, and prints as "KIND NAME: OP: DETAIL; HINT":
//
//	queue /jobs: open: does not exist; create it with ipcchan.Create(), or ...
//
// Its fields:
//
//	Kind   string  "queue", "semaphore", "mutex", "waitgroup", "shm", "NATS queue"
//	Name   string  the object's name, "/jobs"
//	Op     string  "open", "send", "receive", "unlink", ...
//	Err    error   the sentinel (ErrNotExist ...), or the context's error
//	Sys    error   the error beneath, if any: a syscall.Errno, a *codec.Error, a NATS error
//	Detail string  what happened (Err's text when empty)
//	Hint   string  what to do, in Go terms; a program with users of its own
//	               (a command-line tool) may put its own advice there
//
// Unwrap returns Err and Sys, so that errors.Is matches the sentinel and
// the system error (syscall.ENOENT, context.Canceled ...), and errors.As
// finds a *codec.Error.
type Error = ipcerr.Error

// A MessageError reports a message that left its queue but could not be
// handed over as a value: a receive got a message that does not decode as
// the queue's type (Err is ErrTypeMismatch or ErrCorrupt), or Close could
// not put back a message that Recv had read ahead (Err is ErrFull, or the
// system's error; Value holds the value). Either way the message is not
// lost: it is here. Its fields:
//
//	Kind     string  what it travelled on: "queue", "ring", "NATS queue" ("queue" when empty)
//	Queue    string  the queue's (or ring's) name
//	Op       string  "receive" or "close"
//	Priority uint    the message's priority
//	Data     []byte  the message, byte for byte
//	Value    any     the decoded value (a T), when there is one
//	Err      error   the sentinel, or the system's error
//	Cause    error   the error beneath, if any: the codec's *codec.Error
//	Detail   string  what happened
//
// Unwrap returns Err and Cause.
type MessageError = ipcerr.MessageError

// CheckName reports whether name is a valid object name: one leading
// slash, then 1 to 255 bytes without a slash or NUL, not "." or "..". (A
// semaphore's name, stored as "sem." + name, has 4 bytes less room.)
func CheckName(name string) error {
	if err := posix.CheckName(name, posix.NameMax); err != nil {
		return nameError("object", name, "check name", err)
	}
	return nil
}

func nameError(kind, name, op string, err error) error {
	var ne *posix.NameError
	if errors.As(err, &ne) {
		return ipcerr.Object{Kind: kind, Name: name}.Err(op, ErrInvalidName, "invalid name: "+ne.Reason)
	}
	return ipcerr.Object{Kind: kind, Name: name}.Fail(op, ErrInvalidName, err, "")
}
