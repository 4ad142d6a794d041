package watch

import (
	"os/exec"
	"runtime"
	"syscall"
)

// setProcessGroup puts the program in a process group of its own, and asks
// the kernel to send it SIGTERM when leakhunt dies (PR_SET_PDEATHSIG), so a
// leakhunt killed with SIGKILL, which cannot run Stop, does not leave the
// program running. SIGTERM is what Stop sends first.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// startChild starts cmd from an OS thread that stays locked until the
// program has exited (done is closed). The parent-death signal fires when
// the thread that forked the child exits, not the process: Go may end an
// idle thread, and that would kill the program in the middle of a watch.
func startChild(cmd *exec.Cmd, done <-chan struct{}) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := cmd.Start()
		errc <- err
		if err != nil {
			runtime.UnlockOSThread()
			return
		}
		<-done
		runtime.UnlockOSThread()
	}()
	return <-errc
}

func terminate(cmd *exec.Cmd) { cmd.Process.Signal(syscall.SIGTERM) }
