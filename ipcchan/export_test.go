package ipcchan

import "time"

// SetPutBackPatience changes how long Close waits for room to put back a
// message Recv read ahead, and returns a function that restores it.
func SetPutBackPatience(d time.Duration) (restore func()) {
	old := putBackPatience
	putBackPatience = d
	return func() { putBackPatience = old }
}
