package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestFixedLosesNone runs rounds in this (non -race) test binary: the atomic
// counter never loses an update.
func TestFixedLosesNone(t *testing.T) {
	for range 5 {
		if got := count(true); got != workers*perWork {
			t.Fatalf("fixed counter = %d, want %d", got, workers*perWork)
		}
	}
}

var (
	buildOnce sync.Once
	raceBin   string
	buildErr  error
	buildOut  []byte
)

// raceBinary builds this demo once with the race detector. The nopprof tag
// keeps net/http out of it, so the instrumented build stays small.
func raceBinary(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command on PATH")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "leakdemo-race-")
		if err != nil {
			buildErr = err
			return
		}
		raceBin = filepath.Join(dir, "race")
		cmd := exec.Command("go", "build", "-race", "-tags", "nopprof", "-o", raceBin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build -race: %v\n%s", buildErr, buildOut)
	}
	return raceBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if raceBin != "" {
		os.RemoveAll(filepath.Dir(raceBin))
	}
	os.Exit(code)
}

// runRound starts the race-built demo, waits for its first round's line,
// stops it with SIGTERM and returns that line and everything it wrote to
// stderr.
func runRound(t *testing.T, args ...string) (round, stderr string) {
	t.Helper()
	cmd := exec.Command(raceBinary(t), append([]string{"-rate", "20", "-no-churn"}, args...)...)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "round 1:") {
			round = sc.Text()
			break
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	go func() {
		for sc.Scan() {
		}
	}()
	// The race detector makes a program that raced exit with status 66.
	cmd.Wait()
	if round == "" {
		t.Fatalf("no round line from %v; stderr:\n%s", cmd.Args, errBuf.String())
	}
	return round, errBuf.String()
}

func TestRaceDetector(t *testing.T) {
	round, stderr := runRound(t)
	t.Logf("leaky: %s", round)
	if !strings.Contains(stderr, "WARNING: DATA RACE") {
		t.Errorf("the race detector reported no DATA RACE; stderr:\n%s", stderr)
	}
	if !strings.Contains(stderr, "leakdemo/race/main.go") {
		t.Errorf("the race report does not point into main.go; stderr:\n%s", stderr)
	}

	round, stderr = runRound(t, "-fixed")
	t.Logf("fixed: %s", round)
	if strings.Contains(stderr, "DATA RACE") {
		t.Errorf("the fixed variant raced:\n%s", stderr)
	}
	if !strings.HasSuffix(round, " lost 0") {
		t.Errorf("the fixed variant lost updates: %s", round)
	}
}
