//go:build !unix

package watch

import "os/exec"

func setProcessGroup(cmd *exec.Cmd) {}

func startChild(cmd *exec.Cmd, done <-chan struct{}) error { return cmd.Start() }

func terminate(cmd *exec.Cmd) { cmd.Process.Kill() }
