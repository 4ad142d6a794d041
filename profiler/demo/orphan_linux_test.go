package demo

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/leakhunt/leakhunt/internal/proctest"
)

// orphanEnv makes the test binary the parent of a demo (the binary named by
// the variable): it starts the demo, prints its PID and waits to be killed.
const orphanEnv = "LEAKHUNT_DEMO_TEST_PARENT"

func init() {
	bin := os.Getenv(orphanEnv)
	if bin == "" {
		return
	}
	p, err := Start(context.Background(), bin, Options{Stdout: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("child %d\n", p.PID)
	select {}
}

// TestDemoDiesWithLeakhunt kills the process that started a demo with
// SIGKILL, which gives it no chance to call Stop (a hunt --demo killed
// that way), and checks that the demo does not outlive it.
func TestDemoDiesWithLeakhunt(t *testing.T) {
	needGo(t)
	t.Parallel()
	bin, err := Build(context.Background(), "sender", t.TempDir(), BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	proctest.DiesWithParent(t, orphanEnv+"="+bin, "the demo")
}
