// Command body calls a local HTTP backend (on 127.0.0.1, a port it picks) on
// every request, looks at the status, and never closes the response body.
//
// What leaks: a connection per request — the client's read and write loop
// goroutines, the server's handler goroutine, their buffers, and two file
// descriptors: about 180 goroutines, 1.3 MiB of heap and 120 descriptors a
// minute at the default -rate 1, until the process runs out of descriptors.
//
// Where: handle calls c.http.Do (main.go:78) and returns without closing
// resp.Body. The goroutine dump shows net/http.(*persistConn).readLoop and
// writeLoop, created in net/http.(*Transport).dialConn, growing in step.
//
// Why: an http.Response's connection goes back to the pool only when its
// body is read to the end and closed. Unclosed, the Transport keeps it
// forever and dials a new one for the next request.
//
// The fix (-fixed): defer resp.Body.Close() (main.go:83), after draining
// the body with io.Copy(io.Discard, resp.Body) so the connection is reused.
//
// Python twin: requests.get(..., stream=True) or urllib3 responses never
// closed or released; files opened without "with" (ResourceWarning: unclosed
// file).
package main
