// Package ipcerr holds the errors of every ipcchan transport and object:
// the sentinels for errors.Is, the *Error that names an object and an
// operation, and the *MessageError that hands back a message that could
// not be delivered as a value. Package ipcchan re-exports them; they live
// here so that the internal layers beneath it (the typed message layer,
// the options, the inventory) build the very errors users see, with no
// rewriting on the way up.
package ipcerr

import (
	"fmt"
	"io/fs"
	"strings"
)

// sentinel is an error value for errors.Is that may stand for a standard
// error as well (ErrNotExist is also fs.ErrNotExist).
type sentinel struct {
	msg string
	std error
}

func (e *sentinel) Error() string { return e.msg }
func (e *sentinel) Unwrap() error { return e.std }

// The sentinels; package ipcchan documents each.
var (
	ErrNotExist       error = &sentinel{"does not exist", fs.ErrNotExist}
	ErrExist          error = &sentinel{"already exists", fs.ErrExist}
	ErrPermission     error = &sentinel{"permission denied", fs.ErrPermission}
	ErrInvalidName    error = &sentinel{"invalid name", fs.ErrInvalid}
	ErrInvalid        error = &sentinel{"invalid argument", fs.ErrInvalid}
	ErrTooLarge       error = &sentinel{"message too large", nil}
	ErrLimit          error = &sentinel{"system limit reached", nil}
	ErrFull           error = &sentinel{"queue full", nil}
	ErrEmpty          error = &sentinel{"queue empty", nil}
	ErrClosed         error = &sentinel{"closed", fs.ErrClosed}
	ErrTypeMismatch   error = &sentinel{"type mismatch", nil}
	ErrCorrupt        error = &sentinel{"corrupt message", nil}
	ErrOwnerDead      error = &sentinel{"previous owner died", nil}
	ErrNotRecoverable error = &sentinel{"not recoverable", nil}
	ErrWrongKind      error = &sentinel{"the name is another kind's", ErrNotExist}
	ErrServerDied     error = &sentinel{"server died", nil}
)

// An Error records a failed operation on a named object, in the manner of
// *fs.PathError: "queue /jobs: open: does not exist; ...".
type Error struct {
	Kind   string // "queue", "ring", "semaphore", "mutex", "waitgroup", "shm", "NATS queue", ...
	Name   string // the object's name, "/jobs"
	Op     string // "open", "send", "receive", "unlink", ...
	Err    error  // the ipcchan error (ErrNotExist ...) or context error
	Sys    error  // the error beneath, if any: a syscall.Errno, a *codec.Error, a NATS error
	Detail string // what happened; Err's text when empty
	Hint   string // what to do about it, in Go terms; printed after Detail
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
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap returns Err and Sys, so that errors.Is matches both the ipcchan
// error and the one beneath (syscall.ENOENT, context.Canceled ...), and
// errors.As finds a *codec.Error.
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

// A MessageError reports a message that left its queue but could not be
// handed over as a value: a receive got a message that does not decode as
// the queue's type (Err is ErrTypeMismatch or ErrCorrupt), or Close could
// not put back a message that Recv had read ahead (Err is ErrFull or the
// system's error; Value holds it). Either way the message is not lost: it
// is here.
type MessageError struct {
	Kind     string // what the message travelled on: "queue", "ring", "NATS queue"; "queue" when empty
	Queue    string // the queue's (or ring's) name
	Op       string // "receive" or "close"
	Priority uint   // the message's priority
	Data     []byte // the message, byte for byte
	Value    any    // the decoded value, when there is one (a T)
	Err      error  // ErrTypeMismatch, ErrCorrupt, ErrFull, or the system's error
	Cause    error  // the error beneath, if any: the codec's *codec.Error
	Detail   string // what happened
}

func (e *MessageError) Error() string {
	kind := e.Kind
	if kind == "" {
		kind = "queue"
	}
	if kind == "ring" { // a ring has no priorities
		return fmt.Sprintf("%s %s: %s: message of %d bytes: %s", kind, e.Queue, e.Op, len(e.Data), e.Detail)
	}
	return fmt.Sprintf("%s %s: %s: message of %d bytes at priority %d: %s", kind, e.Queue, e.Op, len(e.Data), e.Priority, e.Detail)
}

// Unwrap returns Err and Cause.
func (e *MessageError) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// An Object is a named object as errors name it.
type Object struct {
	Kind string // as in Error.Kind
	Name string
}

// Err returns an *Error of o.
func (o Object) Err(op string, sentinel error, detail string) *Error {
	return &Error{Kind: o.Kind, Name: o.Name, Op: op, Err: sentinel, Detail: detail}
}

// Fail returns an *Error of o with the error beneath, sys (a
// syscall.Errno, a codec's error): the sentinel and detail may be nil and
// empty when sys says it all.
func (o Object) Fail(op string, sentinel, sys error, detail string) *Error {
	return &Error{Kind: o.Kind, Name: o.Name, Op: op, Err: sentinel, Sys: sys, Detail: detail}
}

// Closed is the error of an operation on a closed handle.
func (o Object) Closed(op string) *Error {
	kind := o.Kind
	if kind == "waitgroup" {
		kind = "wait group"
	}
	return o.Err(op, ErrClosed, "the "+kind+" handle is closed")
}

// Ended is the error of a wait for waitingFor that ended first because of
// cause: a context's error (its cause).
func (o Object) Ended(op string, cause error, waitingFor string) *Error {
	return o.Err(op, cause, cause.Error()+" while waiting for "+waitingFor)
}
