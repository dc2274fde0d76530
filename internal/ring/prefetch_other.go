//go:build !amd64

package ring

import "unsafe"

// prefetchw does nothing where ipcchan has no prefetch instruction for it.
func prefetchw(p unsafe.Pointer, lines int) {}
