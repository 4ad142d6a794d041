package watch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/leakhunt/leakhunt/profiler/atomicfile"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// IndexFile is the name of a series directory's index.
const IndexFile = "series.json"

// IndexVersion is the version of the index format this package writes.
const IndexVersion = 1

// Index is the content of series.json: what was watched, how, and the
// samples saved so far, each naming its snapshot file. It is rewritten
// atomically after every sample, so it always lists complete files only.
type Index struct {
	Version  int             `json:"version"`
	Target   snapshot.Target `json:"target"`
	Address  string          `json:"address,omitempty"`
	Interval time.Duration   `json:"interval_ns"`
	Duration time.Duration   `json:"duration_ns"`
	Planned  int             `json:"planned"`
	// WarmUp is how long heap growth had to last to be called a leak in
	// the watch that wrote the series (verdict.Options.MinHeapSpan: negative
	// for no wait, 0 when not recorded), so that a later report judges the
	// series as the watch did.
	WarmUp time.Duration `json:"warm_up_ns,omitempty"`
	// Stop says how the watch ended; empty while it is going on (or when
	// leakhunt was killed).
	Stop    Stop     `json:"stop,omitempty"`
	Samples []Sample `json:"samples"`
}

func (idx *Index) write(dir string) error {
	data, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("encode series index: %w", err)
	}
	data = append(data, '\n')
	err = atomicfile.Write(filepath.Join(dir, IndexFile), true, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return fmt.Errorf("write series index: %w", err)
	}
	return nil
}

// ReadIndex reads the index of the series directory dir.
func ReadIndex(dir string) (*Index, error) {
	data, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is not a series directory: it has no %s (leakhunt watch -o writes one)", dir, IndexFile)
		}
		return nil, fmt.Errorf("read series index: %w", err)
	}
	var idx Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("%s: damaged series index: %w", filepath.Join(dir, IndexFile), err)
	}
	if idx.Version > IndexVersion {
		return nil, fmt.Errorf("%s: series index version %d is newer than this leakhunt reads (%d): upgrade leakhunt", filepath.Join(dir, IndexFile), idx.Version, IndexVersion)
	}
	return &idx, nil
}

// LoadDir rebuilds the series of a series directory from its snapshot files,
// in the order of its index.
func LoadDir(dir string) (*Series, *Index, error) {
	idx, err := ReadIndex(dir)
	if err != nil {
		return nil, nil, err
	}
	s := NewSeries()
	for _, smp := range idx.Samples {
		snap, err := snapshot.Load(filepath.Join(dir, smp.File))
		if err != nil {
			return nil, nil, fmt.Errorf("load sample %d: %w", smp.Index, err)
		}
		s.Add(snap)
		s.Samples[len(s.Samples)-1].File = smp.File
	}
	return s, idx, nil
}
