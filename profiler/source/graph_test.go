package source

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestGraphNeedsMemory checks that targets without memory get one clear
// line naming what works instead.
func TestGraphNeedsMemory(t *testing.T) {
	for _, arg := range []string{"http://127.0.0.1:6060", "localhost:6060", "testdata/heap.pb.gz"} {
		tg, err := Parse(arg)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = Graph(context.Background(), tg, GraphOptions{})
		if !errors.Is(err, ErrNeedsMemory) {
			t.Fatalf("%s: got %v", arg, err)
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.Contains(msg, "leakhunt core PID") || !strings.Contains(msg, arg) {
			t.Errorf("%s: %q", arg, msg)
		}
	}
}

// TestGraphELFFile points a user who gave a core without core: at the right
// spelling.
func TestGraphELFFile(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tg, err := Parse(exe)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Graph(context.Background(), tg, GraphOptions{})
	if err == nil || !strings.Contains(err.Error(), "core:"+exe) {
		t.Fatalf("got %v", err)
	}
}
