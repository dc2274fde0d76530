package ipcchan_test

import (
	"runtime"
	"testing"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// BenchmarkServiceCall: calls to a server in another process, from one
// goroutine and from eight (cmd/ipcbench sets them beside a ring
// ping-pong, gRPC and net/rpc).
func BenchmarkServiceCall(b *testing.B) {
	for _, goroutines := range []int{1, 8} {
		b.Run(map[int]string{1: "one", 8: "eight"}[goroutines], func(b *testing.B) {
			name := serviceName(b)
			c := openClient[CalcReq, CalcResp](b, name, ipcchan.Create())
			startHelper(b, "ready", "calc-serve", name, "sum")
			b.SetParallelism(max(goroutines/runtime.GOMAXPROCS(0), 1))
			b.ResetTimer()
			if goroutines == 1 {
				for i := 0; b.Loop(); i++ {
					if _, err := c.Call(b.Context(), CalcReq{Seq: uint32(i), A: 1}); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Call(b.Context(), CalcReq{A: 1}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
