//go:build !race

package ring

// storeCursor stores a handle's cursor (see cursor) with a plain store: an
// aligned store of 8 bytes is atomic on amd64, and Go's compiler keeps it
// a single store, where atomic.StoreUint64 is an XCHG, the locked
// instruction the cursor is there to save. A goroutine that loads the
// cursor may find any value another stored (they are all valid); the race
// detector, which would call the plain store a race, gets the atomic one.
func storeCursor(p *uint64, v uint64) { *p = v }
