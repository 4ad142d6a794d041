//go:build unix

package demo

import (
	"os/exec"
	"syscall"
)

// ownGroup puts the demo in a process group of its own, so that a Ctrl-C
// in the terminal reaches only leakhunt, which then stops the demo itself:
// the demo never ends before the one who runs it knows why.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
