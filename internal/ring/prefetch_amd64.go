package ring

import "unsafe"

// prefetchw asks the processor for the lines cache lines from p on, to be
// written (PREFETCHW): it takes them from the cache of another core
// without waiting for them, and never faults.
//
//go:noescape
func prefetchw(p unsafe.Pointer, lines int)
