package ring

// storeBefore stores v at *p, for a word whose store another store (of
// sequential consistency) publishes after it: the slots of a run but its
// first. On amd64 every store has release order (TSO) and Go's compiler
// keeps stores in program order, so a plain store is enough (an XCHG
// costs some 20 cycles more); the race detector does not see shared
// mappings.
func storeBefore(p *uint64, v uint64) { *p = v }

// storeBefore32 is storeBefore of a 32-bit word.
func storeBefore32(p *uint32, v uint32) { *p = v }
