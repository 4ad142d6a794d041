// Package demo builds and runs leakhunt's demo programs (package leakdemo)
// from the sources embedded in leakhunt, so that they work from a clone and
// after `go install` alike. Building needs the Go toolchain on PATH (and a C
// compiler for the cgo demo).
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/leakhunt/leakhunt/leakdemo"
)

// ErrNoGo means the go command is not on PATH, so demos cannot be built.
var ErrNoGo = errors.New("the go command is not on PATH: building a demo needs the Go toolchain (https://go.dev/dl/)")

// List returns every demo: leaks first, then controls, then the race demo.
func List() []leakdemo.Demo { return leakdemo.List() }

// Lookup returns the demo called name, or an error that lists the names.
func Lookup(name string) (leakdemo.Demo, error) {
	d, ok := leakdemo.Lookup(name)
	if !ok {
		var names []string
		for _, d := range leakdemo.List() {
			names = append(names, d.Name)
		}
		return d, fmt.Errorf("no demo called %q (demos: %s)", name, strings.Join(names, ", "))
	}
	return d, nil
}

// goMod is the go.mod of the extracted sources: the same module path as
// leakhunt's, so that the demos' imports of leakdemo/internal/demo resolve,
// and no requirements: the demos use the standard library only. The go line
// picks the language version and the runtime's GODEBUG defaults; an older
// line would bring back old behaviour (Go 1.22's asynchronous timer
// channels, for one).
const goMod = "module github.com/leakhunt/leakhunt\n\ngo 1.25\n"

// BuildOptions say how to build a demo.
type BuildOptions struct {
	// Tags are build tags. With "nopprof" the binary never references
	// runtime/pprof, so the linker turns its memory profiler off
	// (runtime.MemProfileRate is 0) and the demo refuses -addr.
	Tags []string
	// Race builds with the race detector (go build -race; needs cgo).
	Race bool
}

// Build writes demo name's sources, with a go.mod of their own, under
// dir/src, builds them with go build, and returns the path of the binary,
// dir/NAME. dir must exist; files already there are replaced. The sources
// stay so that tools can show the lines a profile points at.
func Build(ctx context.Context, name, dir string, opts BuildOptions) (string, error) {
	d, err := Lookup(name)
	if err != nil {
		return "", err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", ErrNoGo
	}
	// go build runs in the extracted sources: -o needs an absolute path.
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("build demo %s: %w", name, err)
	}
	src := filepath.Join(dir, "src")
	if err := extract(src, name); err != nil {
		return "", fmt.Errorf("build demo %s: %w", name, err)
	}
	bin := filepath.Join(dir, name)
	args := []string{"build", "-o", bin}
	if len(opts.Tags) > 0 {
		args = append(args, "-tags", strings.Join(opts.Tags, ","))
	}
	if opts.Race {
		args = append(args, "-race")
	}
	args = append(args, "./leakdemo/"+name)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = src
	// The extracted module stands alone: no workspace, no vendoring or
	// other flags from the user's environment.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false")
	if d.Cgo || opts.Race {
		cmd.Env = append(cmd.Env, "CGO_ENABLED=1")
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("build demo %s: %w", name, ctx.Err())
		}
		msg := firstLines(out.String(), 5)
		if d.Cgo || opts.Race {
			return "", fmt.Errorf("build demo %s (needs cgo and a C compiler such as gcc): %w: %s", name, err, msg)
		}
		return "", fmt.Errorf("build demo %s: %w: %s", name, err, msg)
	}
	return bin, nil
}

// extract writes go.mod and the files demo name needs under dir.
func extract(dir, name string) error {
	files, err := leakdemo.Files(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(goMod), 0o644); err != nil {
		return err
	}
	for _, f := range files {
		data, err := fs.ReadFile(leakdemo.Sources, f)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, "leakdemo", filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// firstLines returns the first n non-empty lines of s joined with "; ".
func firstLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && len(lines) < n {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}
