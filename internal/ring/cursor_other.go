//go:build !amd64 || race

package ring

import "sync/atomic"

// storeCursor stores a handle's cursor (see cursor).
func storeCursor(p *uint64, v uint64) { atomic.StoreUint64(p, v) }
