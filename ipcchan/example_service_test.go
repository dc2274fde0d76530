package ipcchan_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/ipcchan/ipcchan/ipcchan"
)

func ExampleOpenServer() {
	type Req struct{ A, B int64 } // pointer-free: copied, not encoded
	type Resp struct{ Sum int64 }
	name := exampleName + "-calc"
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	// The server process: Serve answers calls until ctx ends or Close.
	srv, err := ipcchan.OpenServer[Req, Resp](name, ipcchan.Create(), ipcchan.Capacity(256))
	if err != nil {
		log.Fatal(err)
	}
	defer ipcchan.UnlinkService(name)
	defer srv.Close()
	go srv.Serve(ctx, func(ctx context.Context, r Req) (Resp, error) {
		if r.A < 0 {
			return Resp{}, fmt.Errorf("account %d: %w", r.A, ipcchan.ErrNotExist)
		}
		return Resp{Sum: r.A + r.B}, nil
	})

	// A client process (here the same one): Call returns the answer to its
	// own request, or the handler's error.
	c, err := ipcchan.OpenClient[Req, Resp](name)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Call(ctx, Req{A: 2, B: 3})
	fmt.Println(resp.Sum, err)
	_, err = c.Call(ctx, Req{A: -7})
	fmt.Println(err, errors.Is(err, ipcchan.ErrNotExist))
	// Output:
	// 5 <nil>
	// account -7: does not exist true
}
