package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/leakhunt/leakhunt/profiler/refs"
)

// walkChild analyses the heap of pid, a process this leakhunt started (the
// hunt's demo, watch's COMMAND), in a second leakhunt process. A tracer
// that is also the target's parent sees the target's ptrace stops in its
// own wait for the child (wait reports a traced child's stops to its
// tracer), so os/exec would take the stop of the copy for the child's end
// and never stop it. From a second process the parent sees nothing.
func walkChild(ctx context.Context, pid int) (*refs.Analysis, error) {
	self, err := selfExecutable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "leakhunt-walk-")
	if err != nil {
		return nil, fmt.Errorf("walk the heap of process %d: %w", pid, err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "walk.lhobj")
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, self, "objects", strconv.Itoa(pid), "-o", file)
	cmd.Stdout, cmd.Stderr = nil, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if last := strings.TrimPrefix(lines[len(lines)-1], "leakhunt: "); last != "" {
			return nil, errors.New(last)
		}
		return nil, fmt.Errorf("walk the heap of process %d: %w", pid, err)
	}
	return refs.Load(file)
}

// selfExecutable is the leakhunt program to run again: as it was invoked
// (found the way the shell found it), or a leakhunt next to the program
// that was invoked (a wrapper), else the running executable.
func selfExecutable() (string, error) {
	if p, err := exec.LookPath(os.Args[0]); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			if strings.HasPrefix(filepath.Base(abs), "leakhunt") {
				return abs, nil
			}
			if sib := filepath.Join(filepath.Dir(abs), "leakhunt"); isExecutable(sib) {
				return sib, nil
			}
		}
	}
	p, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the leakhunt executable: %w", err)
	}
	return p, nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
