package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/leakhunt/leakhunt/leakdemo/internal/demo"
)

var spec = demo.Spec{
	Name:  "body",
	Kind:  demo.Leaky,
	Leaks: "a connection per request — its 3 goroutines, buffers and 2 file descriptors — because http.Response.Body is never closed (~180 goroutines and ~1.3 MiB of heap a minute at -rate 1, stacks besides)",
	Fixed: "the body is drained and closed, so the connection is reused",
	Rate:  1,
	Run:   run,
}

func main() { os.Exit(demo.Main(spec)) }

// backend is the local HTTP service the demo calls, on 127.0.0.1.
type backend struct {
	srv *http.Server
	url string
}

// startBackend serves a 4 KiB JSON document on a port the system picks.
func startBackend() (*backend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start backend: %w", err)
	}
	doc := `{"items":"` + strings.Repeat("x", 4<<10) + `"}`
	mux := http.NewServeMux()
	mux.HandleFunc("/item", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, doc)
	})
	b := &backend{srv: &http.Server{Handler: mux}, url: "http://" + ln.Addr().String() + "/item"}
	go b.srv.Serve(ln)
	return b, nil
}

func (b *backend) Close() error { return b.srv.Close() }

// client calls the backend once per request.
type client struct {
	fixed bool
	http  *http.Client
	url   string
}

func newClient(fixed bool, url string) *client {
	return &client{fixed: fixed, http: &http.Client{Transport: &http.Transport{}}, url: url}
}

func run(ctx context.Context, cfg demo.Config) error {
	b, err := startBackend()
	if err != nil {
		return err
	}
	defer b.Close()
	c := newClient(cfg.Fixed, b.url)
	return demo.Every(ctx, cfg.Rate, func(i int) { c.handle(ctx, i) })
}

// handle serves request i: it only needs the backend's status.
func (c *client) handle(ctx context.Context, i int) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s?id=%d", c.url, i), nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.http.Do(req) // the leak: the body below is never closed
	if err != nil {
		return 0, err
	}
	if c.fixed {
		defer resp.Body.Close()        // the fix: close the body...
		io.Copy(io.Discard, resp.Body) // ...after draining it, so the connection is reused
	}
	return resp.StatusCode, nil
}
