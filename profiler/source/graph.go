package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/leakhunt/leakhunt/profiler/attach"
	"github.com/leakhunt/leakhunt/profiler/heapgraph"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// ErrNeedsMemory is returned by Graph for targets that carry no memory to
// walk: URLs and saved snapshots.
var ErrNeedsMemory = errors.New("reference analysis needs a PID or a core file")

// GraphOptions tune Graph. The zero value is ready to use.
type GraphOptions struct {
	// Exe is the executable of a core target when it cannot be found from
	// the core.
	Exe string
}

// Graph builds the heap's object graph of t: a running process (stopped
// only while its memory is copied) or a core file. Other targets have no
// memory to walk and get ErrNeedsMemory.
func Graph(ctx context.Context, t Target, opts GraphOptions) (*heapgraph.Graph, *attach.GraphCapture, error) {
	const instead = "give the process's PID, or write a core with `leakhunt core PID` and give core:FILE"
	switch t.Kind {
	case snapshot.SourcePID:
		return attach.CaptureGraph(ctx, t.PID, attach.Options{})
	case snapshot.SourceCore:
		return attach.CaptureGraphCore(ctx, t.Path, opts.Exe, attach.Options{})
	case snapshot.SourceHTTP:
		return nil, nil, fmt.Errorf("%s is a pprof endpoint, which does not serve the heap's memory: %w; %s", t.Arg, ErrNeedsMemory, instead)
	case snapshot.SourceFile:
		if isELF(t.Path) {
			return nil, nil, fmt.Errorf("%s is an ELF file, not a snapshot: if it is a core dump, give it as core:%s", t.Path, t.Path)
		}
		if _, err := os.Stat(t.Path); err != nil {
			return nil, nil, fmt.Errorf("%s: no such file: %w; %s", t.Path, ErrNeedsMemory, instead)
		}
		return nil, nil, fmt.Errorf("%s is a snapshot or profile file, which holds no heap memory: %w; %s", t.Arg, ErrNeedsMemory, instead)
	}
	return nil, nil, fmt.Errorf("unknown target kind %q", t.Kind)
}

// isELF reports whether the file at path starts like an ELF file.
func isELF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 4)
	_, err = io.ReadFull(f, b)
	return err == nil && bytes.Equal(b, []byte("\x7fELF"))
}
