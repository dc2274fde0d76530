// Package posix holds the raw Linux system calls behind ipcchan: the mq_*
// calls, object-name rules and the /proc limits that govern them.
//
// It is pure Go (golang.org/x/sys/unix, no cgo) and knows nothing of
// generics, codecs or the public API; errors are returned as the kernel's
// syscall.Errno or as *NameError, and the ipcchan package turns them into
// its documented errors.
package posix
