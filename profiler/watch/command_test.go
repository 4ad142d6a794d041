package watch_test

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"testing"

	"github.com/leakhunt/leakhunt/internal/proctest"
	"github.com/leakhunt/leakhunt/profiler/watch"
)

// parentEnv makes the test binary play leakhunt: start a program with
// watch.Start, print its PID, and wait to be killed.
const parentEnv = "LEAKHUNT_WATCH_TEST_PARENT"

func beParent() {
	c, err := watch.Start([]string{"sleep", "600"}, io.Discard)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	// Let the runtime end idle threads if it wants to: the program must
	// outlive the thread that started it, only not the process.
	runtime.GC()
	fmt.Println("child", c.PID())
	select {}
}

// TestStartedProgramDiesWithLeakhunt kills the process that started a
// program with SIGKILL, which gives it no chance to call Stop, and checks
// that the program does not outlive it.
func TestStartedProgramDiesWithLeakhunt(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux's")
	}
	t.Parallel()
	proctest.DiesWithParent(t, parentEnv+"=1", "the started program")
}
