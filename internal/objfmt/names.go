package objfmt

// The names of the files in /dev/shm, in one place: each kind's file is
// its prefix, then the object's name without its slash. The table of the
// kinds (internal/kinds) takes them from here.
const (
	// SemPrefix starts a glibc named semaphore's file: sem_open("/slots")
	// is /dev/shm/sem.slots.
	SemPrefix = "sem."
	// LargePrefix and RingLargePrefix start the file of a large message
	// of a queue and of a ring (see LargeName).
	LargePrefix     = "ipcchan.large."
	RingLargePrefix = "ipcchan.large-ring."
)

// Prefix is the file-name prefix of the kind in /dev/shm, before the name
// without its slash. Shm objects have none, so that C's shm_open reaches
// them by the same name.
func (k Kind) Prefix() string {
	switch k {
	case Mutex:
		return "ipcchan.mutex."
	case WaitGroup:
		return "ipcchan.wg."
	case Ring:
		return "ipcchan.ring."
	case Topic:
		return "ipcchan.topic."
	case Service:
		return "ipcchan.service."
	}
	return ""
}
