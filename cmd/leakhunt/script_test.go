package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"leakhunt":    func() { os.Exit(run(context.Background(), os.Args[1:], systemStreams())) },
		"pprofserver": func() { os.Exit(pprofServerMain()) },
		"hangserver":  func() { os.Exit(hangServerMain()) },
		"webserver":   func() { os.Exit(webServerMain()) },
		"watchfix":    func() { os.Exit(watchFixtureMain()) },
	})
}

// TestScripts runs the end-to-end scripts in testdata/script: the real
// leakhunt binary against real servers on 127.0.0.1.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			// Scripts run the real go tool pprof to check what leakhunt writes.
			gobin, err := exec.LookPath("go")
			if err != nil {
				return fmt.Errorf("the go command is needed on PATH: %w", err)
			}
			env.Setenv("GO", gobin)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitaddr":  cmdWaitAddr,
			"freeport":  cmdFreePort,
			"httpget":   cmdHTTPGet,
			"lines":     cmdLines,
			"nofile":    cmdNoFile,
			"filemode":  cmdFileMode,
			"writefile": cmdWriteFile,
		},
	})
}

// waitaddr FILE VAR: wait up to 30s for a server to write its address to
// FILE, then set $VAR to it.
func cmdWaitAddr(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: waitaddr FILE VAR")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, err := os.ReadFile(ts.MkAbs(args[0]))
		if err == nil && len(data) > 0 {
			ts.Setenv(args[1], strings.TrimSpace(string(data)))
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no address in %s after 30s", args[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeport VAR: set $VAR to a 127.0.0.1 port nothing listens on.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ts.Setenv(args[0], strconv.Itoa(port))
}

// httpget URL: fetch URL (waiting up to 30s for the server to listen),
// fail unless it answers 200, and write the body to stdout.
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(args[0])
		if err != nil {
			if time.Now().Before(deadline) && strings.Contains(err.Error(), "connection refused") {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			ts.Fatalf("GET %s: %v", args[0], err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		ts.Check(err)
		if resp.StatusCode != http.StatusOK {
			ts.Fatalf("GET %s: %s", args[0], resp.Status)
		}
		ts.Stdout().Write(body)
		return
	}
}

// lines stdout|stderr N: the last command's output has exactly N lines.
func cmdLines(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: lines stdout|stderr N")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	text := ts.ReadFile(args[0])
	got := strings.Count(text, "\n")
	if text != "" && !strings.HasSuffix(text, "\n") {
		got++
	}
	if got != want {
		ts.Fatalf("%s has %d lines, want %d:\n%s", args[0], got, want, text)
	}
}

// nofile DIR: DIR holds no file other than those listed after it (no partial
// or temporary file was left behind).
func cmdNoFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 {
		ts.Fatalf("usage: nofile DIR [ALLOWED...]")
	}
	allowed := make(map[string]bool)
	for _, a := range args[1:] {
		allowed[a] = true
	}
	entries, err := os.ReadDir(ts.MkAbs(args[0]))
	ts.Check(err)
	for _, e := range entries {
		if !allowed[e.Name()] {
			ts.Fatalf("unexpected file %s in %s", e.Name(), args[0])
		}
	}
}

// filemode FILE MODE: FILE has permission bits MODE (octal).
func cmdFileMode(ts *testscript.TestScript, neg bool, args []string) {
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	if got := fi.Mode().Perm(); uint64(got) != want {
		ts.Fatalf("%s has mode %o, want %s", args[0], got, args[1])
	}
}

// writefile FILE KIND: write a file testscript's txtar cannot hold: "zeros"
// (binary junk), "truncated:SRC" (the first half of SRC), "version:N" (a
// snapshot of format version N).
func cmdWriteFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: writefile FILE KIND")
	}
	var data []byte
	kind, arg, _ := strings.Cut(args[1], ":")
	switch kind {
	case "zeros":
		data = bytes.Repeat([]byte{0, 1, 2, 3}, 1000)
	case "truncated":
		src, err := os.ReadFile(ts.MkAbs(arg))
		ts.Check(err)
		data = src[:len(src)/2]
	case "version":
		data = snapshotOfVersion(ts, arg)
	default:
		ts.Fatalf("unknown kind %q", kind)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), data, 0o600))
}
