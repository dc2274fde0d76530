//go:build !amd64

package ring

import "sync/atomic"

// storeBefore stores v at *p, for a word whose store another store
// publishes after it (see store_amd64.go); elsewhere, an atomic store.
func storeBefore(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

// storeBefore32 is storeBefore of a 32-bit word.
func storeBefore32(p *uint32, v uint32) { atomic.StoreUint32(p, v) }
