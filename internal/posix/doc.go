// Package posix holds the raw Linux system calls behind ipcchan: the mq_*
// calls (raw syscalls; the kernel takes the name without its leading
// slash), mq_notify, futexes and futex_waitv, files in /dev/shm built
// under a temporary name and linked when complete, pidfds, the mqueue
// filesystem (mounted privately when it is not) and the listing of its
// queues, the object-name rules, and the /proc limits that govern queues.
//
// It is pure Go (golang.org/x/sys/unix, no cgo) and knows nothing of
// generics, codecs, byte layouts or the public API; errors are returned as
// the kernel's syscall.Errno or as *NameError, and the layers above turn
// them into ipcchan's documented errors.
package posix
