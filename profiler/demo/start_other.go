//go:build !linux

package demo

import "os/exec"

func dieWithParent(cmd *exec.Cmd) {}

func start(cmd *exec.Cmd, done <-chan struct{}) error { return cmd.Start() }
