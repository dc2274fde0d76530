package ipcerr

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"time"
)

// codes are the errors whose identity a call's error keeps across
// processes (a service's record, a NATS reply): the code of an error is
// its index here, 0 for none. The order is the wire's (docs/FORMATS.md
// lists it, for C servers): append, never reorder. Code matches the most
// specific first: ipcchan's sentinels before the io/fs ones they wrap.
var codes = []error{
	nil,
	ErrNotExist, ErrExist, ErrPermission, ErrInvalidName, ErrInvalid, // 1-5
	ErrTooLarge, ErrLimit, ErrFull, ErrEmpty, ErrClosed, // 6-10
	ErrTypeMismatch, ErrCorrupt, ErrOwnerDead, ErrNotRecoverable, ErrWrongKind, // 11-15
	ErrServerDied,                                                              // 16
	fs.ErrNotExist, fs.ErrExist, fs.ErrPermission, fs.ErrInvalid, fs.ErrClosed, // 17-21
	context.Canceled, context.DeadlineExceeded, io.EOF, io.ErrUnexpectedEOF, // 22-25
}

// specific is the order in which Code tries the codes: ErrWrongKind is
// also ErrNotExist, and every ipcchan sentinel of io/fs's meaning is also
// the io/fs error.
var specific = func() []int {
	order := []int{15}
	for i := 1; i < len(codes); i++ {
		if i != 15 {
			order = append(order, i)
		}
	}
	return order
}()

// Code returns the code of the first error in codes that err is
// (errors.Is), 0 for none.
func Code(err error) uint32 {
	if err == nil {
		return 0
	}
	for _, i := range specific {
		if errors.Is(err, codes[i]) {
			return uint32(i)
		}
	}
	return 0
}

// Sentinel returns the error of code, nil for 0 or a code this library
// does not know (a newer peer's).
func Sentinel(code uint32) error {
	if int(code) >= len(codes) {
		return nil
	}
	return codes[code]
}

// A HandlerError is the error a service's handler returned, as its caller
// gets it: its text, and the sentinel it was (see Code), if any.
type HandlerError struct {
	Kind    string // "service", "NATS service"
	Service string // the service's name
	Msg     string // the handler's error's text, as it was
	Err     error  // the sentinel (ipcchan's, io/fs's, context's, io's), or nil
}

// Error returns the handler's error's text, unchanged.
func (e *HandlerError) Error() string { return e.Msg }

// Unwrap returns the sentinel, so that errors.Is matches it.
func (e *HandlerError) Unwrap() error { return e.Err }

// PastDeadline returns ctx's error if it ended, or DeadlineExceeded if
// its deadline has passed though its timer has not fired yet: a call
// answered then is late, as its handler's ctx had ended. It compares
// ctx's deadline by the monotonic clock, as ctx's timer does: the wall
// clock may run ahead of it, and a call would fail before its deadline.
func PastDeadline(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}
