//go:build !unix

package watch

import "os/exec"

func setProcessGroup(cmd *exec.Cmd) {}

func terminate(cmd *exec.Cmd) { cmd.Process.Kill() }
