//go:build unix && !linux

package watch

import (
	"os/exec"
	"syscall"
)

func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// startChild starts cmd. Outside Linux there is no parent-death signal: a
// leakhunt killed with SIGKILL leaves the program running.
func startChild(cmd *exec.Cmd, done <-chan struct{}) error { return cmd.Start() }

func terminate(cmd *exec.Cmd) { cmd.Process.Signal(syscall.SIGTERM) }
