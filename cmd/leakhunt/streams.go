package main

import (
	"io"
	"os"
	"strconv"

	"golang.org/x/term"
)

// IOStreams are a command's input and outputs: data to Out, status and
// progress to ErrOut. Tests use in-memory buffers.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// InTTY, OutTTY and ErrTTY say whether the streams are terminals: progress
	// goes to ErrOut only when ErrTTY; tables are cut to Width only when OutTTY.
	InTTY, OutTTY, ErrTTY bool
	// Width is the terminal's width in columns when OutTTY, else 0 (no cut).
	Width int
}

func systemStreams() *IOStreams {
	s := &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	s.InTTY = term.IsTerminal(int(os.Stdin.Fd()))
	s.OutTTY = term.IsTerminal(int(os.Stdout.Fd()))
	s.ErrTTY = term.IsTerminal(int(os.Stderr.Fd()))
	if s.OutTTY {
		if w, _, err := term.GetSize(int(os.Stdout.Fd())); err == nil {
			s.Width = w
		}
		if c, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && c > 0 {
			s.Width = c
		}
	}
	return s
}
