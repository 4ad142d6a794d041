package demo

import (
	"os/exec"
	"runtime"
	"syscall"
)

// dieWithParent asks the kernel to send the demo SIGTERM when leakhunt dies
// (PR_SET_PDEATHSIG), so that a leakhunt killed with SIGKILL, which cannot
// run Stop, does not leave the demo running.
func dieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
}

// start starts cmd from an OS thread that stays locked until the demo has
// exited (done is closed): the parent-death signal fires when the thread
// that forked the child exits, not the process, and Go may end an idle
// thread at any time.
func start(cmd *exec.Cmd, done <-chan struct{}) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := cmd.Start()
		errc <- err
		if err == nil {
			<-done
		}
		runtime.UnlockOSThread()
	}()
	return <-errc
}
