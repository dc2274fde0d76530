package natsq

// OnRetry makes c call f each time a call of it finds no server (or is
// handed back) and waits to ask again. Set it before calling.
func OnRetry[Req, Resp any](c *Client[Req, Resp], f func()) { c.onRetry = f }

// OnDispatch makes s call f as each call reaches it, before it waits for
// a free handler. Set it before Serve.
func OnDispatch[Req, Resp any](s *Server[Req, Resp], f func()) { s.onDispatch = f }
