package dlvscript

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/go-delve/delve/pkg/config"
	"github.com/go-delve/delve/pkg/terminal"
)

// TerminalOptions configure Terminal.
type TerminalOptions struct {
	// Init are scripts sourced before the first prompt (leakhunt.star).
	Init []Script
	// Out receives the terminal's output. delve's terminal package writes a
	// few lines (its banner, errors) straight to the process's standard
	// output and error whatever Out is.
	Out io.Writer
}

// Terminal runs delve's own interactive terminal (pkg/terminal) on the
// session, reading commands from the process's standard input, until the
// user quits or ctx is cancelled. Everything delve's terminal can do works;
// the Init scripts' commands are added to it. Quitting detaches and leaves
// the target running: the terminal's "kill the process?" question is never
// asked, and a detach that asks for a kill (a script's detach(True)) is
// turned into a plain detach.
//
// When ctx is cancelled (SIGTERM), the session is closed (the target
// detached and left running) and Terminal returns ctx's error while the
// terminal may still be blocked reading its input: the caller is expected
// to exit.
func (s *Session) Terminal(ctx context.Context, opts TerminalOptions) error {
	dir, err := os.MkdirTemp("", "leakhunt-dlv-")
	if err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	defer os.RemoveAll(dir)
	// delve sources an init file by path; the embedded scripts are written
	// to a private directory and chained from one init file.
	initFile := filepath.Join(dir, "init")
	var lines []byte
	for _, sc := range opts.Init {
		p := filepath.Join(dir, filepath.Base(sc.Name))
		if err := os.WriteFile(p, sc.Source, 0o600); err != nil {
			return fmt.Errorf("terminal: write %s: %w", p, err)
		}
		lines = append(lines, fmt.Sprintf("source %s\n", p)...)
	}
	if err := os.WriteFile(initFile, lines, 0o600); err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	client := &noKillClient{RPCClient: s.rpc(), sess: s}
	term := terminal.New(client, &config.Config{}, s.target.Live())
	if opts.Out != nil {
		term.RedirectTo(opts.Out)
	}
	if len(opts.Init) > 0 {
		term.InitFile = initFile
	}
	done := make(chan error, 1)
	go func() {
		_, err := term.Run()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil && !isExited(err) {
			return fmt.Errorf("terminal: %w", err)
		}
		return nil
	case <-ctx.Done():
		cerr := s.Close()
		term.Close()
		if cerr != nil {
			return cerr
		}
		return ctx.Err()
	}
}
