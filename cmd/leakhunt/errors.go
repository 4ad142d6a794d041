package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Exit codes. Scripts and CI jobs gate on them.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
	// exitLeak means the command ran and found at least one leak.
	exitLeak = 3
)

// usageError is a mistake in the command line: it prints the usage hint.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// errLeakFound is returned by commands that found leaks and printed them;
// it carries no message of its own.
var errLeakFound = errors.New("leak found")

// exitCode maps an error to the process exit status.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errLeakFound):
		return exitLeak
	case errors.As(err, &ue):
		return exitUsage
	}
	return exitError
}

// errorLine is the one line a user sees for err.
func errorLine(err error) string {
	if errors.Is(err, context.Canceled) {
		return "leakhunt: interrupted"
	}
	msg := strings.TrimSpace(err.Error())
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return "leakhunt: " + msg
}
