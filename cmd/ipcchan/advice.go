package main

import (
	"errors"
	"fmt"

	"github.com/ipcchan/ipcchan/internal/kinds"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// shellAdvice returns err with the library's advice, which is written for
// Go programmers ("create it with ipcchan.Create()"), replaced by the
// command that does the same from a shell, where there is one.
func shellAdvice(err error) error {
	var e *ipcchan.Error
	if !errors.As(err, &e) || e.Hint == "" {
		return err
	}
	mk, ok := mkKind[e.Kind]
	if !ok {
		return err
	}
	hint := ""
	switch {
	case errors.Is(e.Err, ipcchan.ErrWrongKind) && e.Op == "open":
		hint = fmt.Sprintf("`ipcchan stat %s` shows what it is; objects of different kinds may share a name: `ipcchan mk %s %s` makes %s beside it", e.Name, mk, e.Name, kinds.Describe(e.Kind))
	case errors.Is(e.Err, ipcchan.ErrNotExist) && e.Op == "open":
		hint = fmt.Sprintf("create it with `ipcchan mk %s %s`, or start the program that creates it (names are global to the machine)", mk, e.Name)
	case errors.Is(e.Err, ipcchan.ErrExist) && e.Op == "open":
		hint = fmt.Sprintf("remove it first with `ipcchan rm %s` if nothing needs it (`ipcchan stat %s` shows what it holds)", e.Name, e.Name)
	case errors.Is(e.Err, ipcchan.ErrPermission) && e.Op == "open":
		hint = fmt.Sprintf("`ipcchan stat %s` shows its owner and mode; its creator can make it with --perm 0660 (group) or 0666 (everyone)", e.Name)
	case errors.Is(e.Err, ipcchan.ErrTooLarge) && e.Kind == "queue":
		hint = fmt.Sprintf("send smaller messages, send it with --large (through /dev/shm: ipcchan.LargeMessages() for the receivers), or make the queue again with a larger message size: `ipcchan rm %s && ipcchan mk queue %s --msgsize N`", e.Name, e.Name)
	case errors.Is(e.Err, ipcchan.ErrTooLarge) && e.Kind == "topic":
		hint = fmt.Sprintf("send smaller messages, or make the topic again with a larger message size: `ipcchan rm %s && ipcchan mk topic %s --msgsize N`", e.Name, e.Name)
	case errors.Is(e.Err, ipcchan.ErrLimit) && e.Kind == "topic" && e.Op == "subscribe":
		hint = fmt.Sprintf("`ipcchan stat %s` lists its subscribers; close those that are done, or make the topic again with more: `ipcchan rm %s && ipcchan mk topic %s --subscribers N`", e.Name, e.Name, e.Name)
	default:
		return err
	}
	shell := *e
	shell.Hint = hint
	return &shell
}

// mkKind is the word `ipcchan mk` takes for each kind of object.
var mkKind = map[string]string{"queue": "queue", "ring": "ring", "topic": "topic", "semaphore": "sem", "shm": "shm", "mutex": "mutex", "waitgroup": "waitgroup"}
