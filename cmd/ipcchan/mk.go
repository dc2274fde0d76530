package main

import (
	"errors"
	"io/fs"
	"strconv"

	"github.com/ipcchan/ipcchan/ipcchan"
)

var cmdMk = &command{
	name:  "mk",
	usage: "mk queue|sem|shm|mutex|waitgroup NAME [--capacity N] [--msgsize N] [--value N] [--size N] [--perm MODE]",
	help:  "create an object; it must not exist yet",
	example: `  $ ipcchan mk queue /jobs --capacity 10 --msgsize 1024 --perm 0660
  $ ipcchan mk sem /slots --value 3
  $ ipcchan mk shm /grid --size 65536       # ipcchan's format: bytes at offset 192`,
	run: runMk,
}

func runMk(c *cli, cmd *command, args []string) int {
	flags := c.flags(cmd)
	capacity := flags.Int("capacity", 0, "queue: most messages (default /proc/sys/fs/mqueue/msg_default)")
	msgsize := flags.Int("msgsize", 0, "queue: largest message in bytes (default /proc/sys/fs/mqueue/msgsize_default)")
	value := flags.Uint("value", 0, "sem: initial count")
	size := flags.Int("size", 0, "shm: bytes")
	perm := flags.String("perm", "0600", "permission bits, octal")
	rest, code, ok := c.parse(flags, args)
	if !ok {
		return code
	}
	if len(rest) != 2 {
		return c.usageErr(cmd, "want a kind and a NAME")
	}
	kind, name := rest[0], rest[1]
	mode, err := strconv.ParseUint(*perm, 8, 32)
	if err != nil || mode > 0o777 {
		return c.usageErr(cmd, "--perm %q: want an octal mode such as 0600 or 0660", *perm)
	}
	opts := []ipcchan.Option{ipcchan.Create(), ipcchan.Exclusive(), ipcchan.Perm(fs.FileMode(mode))}
	var closer interface{ Close() error }
	switch kind {
	case "queue":
		if *capacity > 0 {
			opts = append(opts, ipcchan.Capacity(*capacity))
		}
		if *msgsize > 0 {
			opts = append(opts, ipcchan.MsgSize(*msgsize))
		}
		closer, err = ipcchan.OpenQueue[[]byte](name, opts...)
	case "sem", "semaphore":
		closer, err = ipcchan.OpenSemaphore(name, append(opts, ipcchan.Value(*value))...)
	case "shm":
		if *size <= 0 {
			return c.usageErr(cmd, "shm needs --size N (bytes)")
		}
		closer, err = ipcchan.OpenShmSlice[byte](name, *size, opts...)
	case "mutex":
		closer, err = ipcchan.OpenMutex(name, opts...)
	case "waitgroup", "wg":
		closer, err = ipcchan.OpenWaitGroup(name, opts...)
	default:
		return c.usageErr(cmd, "unknown kind %q: want queue, sem, shm, mutex or waitgroup", kind)
	}
	if err != nil {
		if errors.Is(err, ipcchan.ErrInvalidName) {
			return c.usageErr(cmd, "%v", err)
		}
		return c.fail(err)
	}
	closer.Close()
	return exitOK
}
