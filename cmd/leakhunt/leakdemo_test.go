package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leakhunt/leakhunt/profiler/demo"
)

// TestLeakdemoByPIDAndCore runs the PID and core commands on a real leakdemo
// that serves no pprof endpoint (sender: goroutines blocked on a forgotten
// send), through the real leakhunt: snapshot, top, stats and stacks by PID; a
// core dump; the same from the core; the Starlark commands and snoop. After
// each, the demo must still be running and untraced.
func TestLeakdemoByPIDAndCore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p, err := demo.Run(ctx, "sender", dir, demo.BuildOptions{}, demo.Options{Args: []string{"-rate", "40"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	bin := filepath.Join(dir, "sender")
	pid := strconv.Itoa(p.PID)

	lh := func(args ...string) (string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		c := leakhuntCmd(ctx, args...)
		c.Dir = dir
		c.Stdout, c.Stderr = &out, &errb
		if err := c.Run(); err != nil {
			t.Fatalf("leakhunt %s: %v\n%s\n%s", strings.Join(args, " "), err, out.String(), errb.String())
		}
		alive(t, p.PID)
		return out.String(), errb.String()
	}
	want := func(what, text string, patterns ...string) {
		t.Helper()
		for _, pat := range patterns {
			if !regexp.MustCompile(pat).MatchString(text) {
				t.Errorf("%s: no match for %q in:\n%s", what, pat, text)
			}
		}
	}

	// Let forgotten senders pile up (each request's lookup times out), and
	// let two garbage collections end: the heap profile only holds what a
	// completed collection published, so before that it is empty.
	deadline := time.Now().Add(time.Minute)
	for {
		out, _ := lh("stats", pid)
		senders, gcs := 0, 0
		if m := regexp.MustCompile(`(?m)^\s+(\d+)\s+chan send`).FindStringSubmatch(out); m != nil {
			senders, _ = strconv.Atoi(m[1])
		}
		if m := regexp.MustCompile(`(?m)^gc\s+(\d+) cycles`).FindStringSubmatch(out); m != nil {
			gcs, _ = strconv.Atoi(m[1])
		}
		if senders >= 20 && gcs >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no goroutines piled up in chan send after a minute:\n%s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// The heap profile samples one allocation per 512 KiB, and a young process
	// may have no sampled allocation still live: its in-use total can be 0 and
	// which sites it holds is chance (profiler/attach's tests compare the
	// profile with /debug/pprof/heap exactly). Here the profile must have been
	// read: its buckets are there, each with a stack.
	out, errs := lh("snapshot", pid, "-o", "live.lhsnap", "-v")
	want("snapshot", out+errs, `live\.lhsnap`, `target stopped [0-9.]+[mµ]?s`, `[1-9]\d* heap samples`)
	out, _ = lh("top", "live.lhsnap", "-n", "3")
	want("top", out, `(?m)^inuse_space by line: sender \(pid \d+\)`, `(?m)^Total in use: `)
	out, _ = lh("stats", "live.lhsnap")
	want("stats", out, `(?m)^heap profile .* [1-9]\d* stacks \(1 sample per 512\.0 KiB\)`)
	out, _ = lh("stacks", pid, "--source", "-n", "2")
	want("stacks by PID", out, `#1 · \d+ goroutines · chan send`, `created by main\.\(\*server\)\.handle`, `>\s+\d+\s+ch <- r`)
	out, _ = lh("stacks", pid, "--full", "-n", "1", "--filter", "handle.func1")
	want("stacks --full", out, `(?m)^\s+(var|arg) \w+ `)

	lh("core", pid, "-o", "sender.core")
	if fi, err := os.Stat(filepath.Join(dir, "sender.core")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("core file: %v %v", fi, err)
	}
	out, _ = lh("stacks", "core:sender.core", "--exe", bin, "-n", "1")
	want("stacks from the core", out, `#1 · \d+ goroutines · chan send`)
	out, _ = lh("top", "core:sender.core", "--exe", bin, "-n", "3")
	want("top from the core", out, `(?m)^inuse_space by line: sender \(pid \d+\)`, `(?m)^Total in use: `)
	out, _ = lh("stats", "core:sender.core", "--exe", bin)
	want("stats from the core", out, `(?m)^goroutines\s+\d+`, `chan send`)

	script := filepath.Join(dir, "hunt.star")
	if err := os.WriteFile(script, []byte(`def main():
    print("== gbt")
    gbt("")
    print("== gbt_full")
    gbt_full("")
    print("== gleaks")
    gleaks("0")
    print("== heaptop")
    heaptop("3")
    print("== gsource")
    gsource("1")
    print("== retainers")
    retainers("main.spec")
`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ = lh("script", pid, script)
	scriptWant := []string{
		`(?m)^== gbt\n\d+ goroutines in \d+ groups`,
		`(?m)^== gbt_full\n\d+ goroutines in \d+ groups`,
		`(?m)^\d+ goroutines running main\.\(\*server\)\.handle\.func1, created in main\.\(\*server\)\.handle`,
		`(?m)^== heaptop\nheap profile: \d+ buckets`,
		`(?m)^== gsource\ngoroutine 1 \[`,
		`(?m)^== retainers\nmain\.spec keeps [0-9.]+ [KMG]?i?B reachable`,
	}
	want("script by PID", out, scriptWant...)
	out, _ = lh("script", "core:sender.core", "--exe", bin, script)
	want("script from the core", out, scriptWant...)

	out, errs = lh("snoop", pid, "--func", "main.(*server).lookup", "--max-calls", "3", "--duration", "20s")
	want("snoop", out+errs, `main\.\(\*server\)\.lookup`, `(?i)breakpoint`)
}

// alive fails the test unless process pid runs, is not stopped and is not traced.
func alive(t *testing.T, pid int) {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatalf("the demo is gone: %v", err)
	}
	if m := regexp.MustCompile(`(?m)^State:\s+([a-zA-Z])`).FindSubmatch(data); m == nil || strings.ContainsAny(string(m[1]), "tTZX") {
		t.Fatalf("the demo is not running:\n%s", data)
	}
	if !regexp.MustCompile(`(?m)^TracerPid:\s+0$`).Match(data) {
		t.Fatalf("the demo is still traced:\n%s", data)
	}
}
