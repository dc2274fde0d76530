package ipcchan

import "time"

// SetPutBackPatience changes how long Close waits for room to put back a
// message Recv read ahead, and returns a function that restores it.
func SetPutBackPatience(d time.Duration) (restore func()) {
	old := putBackPatience
	putBackPatience = d
	return func() { putBackPatience = old }
}

// SubscriptionStart is the position in its topic's stream at which s
// began: with the topic's final count of messages published, it says how
// many messages s was to see (received plus missed).
func SubscriptionStart[T any](s *Subscription[T]) uint64 { return s.st.sub.Start() }
