package source

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/pprof/profile"

	"github.com/leakhunt/leakhunt/profiler/goroutines"
	"github.com/leakhunt/leakhunt/profiler/heapproto"
	"github.com/leakhunt/leakhunt/profiler/pproftext"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// ErrUnknownFormat is returned for a file that is neither a snapshot nor a Go profile.
var ErrUnknownFormat = errors.New("not a leakhunt snapshot or Go profile")

// LoadFile reads a saved snapshot, or a raw profile written by any Go tool: a
// heap or goroutine profile in protobuf form (gzipped or not), a debug=1 heap
// or goroutine profile, or a debug=2 goroutine dump. A raw profile becomes a
// snapshot holding just what the profile has.
func LoadFile(path string) (*snapshot.Snapshot, error) { return loadFile(path, false) }

// loadFile is LoadFile; lazy keeps a heap profile encoded (Options.LazyHeap).
func loadFile(path string, lazy bool) (*snapshot.Snapshot, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: no such file (a TARGET is a URL, a PID, core:FILE or a snapshot or profile file)", path)
	case err != nil:
		return nil, err
	case fi.IsDir():
		return nil, fmt.Errorf("%s is a directory: give a snapshot or profile file", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, unwrapPathErr(err))
	}
	s, err := decode(data, lazy)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.Capture.Source == "" {
		s.Capture.Source = snapshot.SourceFile
		s.Capture.Address = path
		s.Capture.Time = fi.ModTime()
	}
	return s, nil
}

// Decode recognises the format of data and reads it into a snapshot.
func Decode(data []byte) (*snapshot.Snapshot, error) { return decode(data, false) }

func decode(data []byte, lazy bool) (*snapshot.Snapshot, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("empty file: %w", ErrUnknownFormat)
	}
	if snapshot.IsSnapshot(data) {
		if lazy {
			return snapshot.DecodeLazy(data)
		}
		return snapshot.DecodeBytes(data)
	}
	if isGzip(data) {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("damaged gzip data: %w", err)
		}
		var raw bytes.Buffer
		raw.Grow(heapproto.GunzipSize(data))
		if _, err := raw.ReadFrom(zr); err != nil {
			return nil, fmt.Errorf("damaged or truncated gzip data: %w", err)
		}
		data = raw.Bytes()
	}
	s := new(snapshot.Snapshot)
	switch {
	case pproftext.IsHeap(data):
		p, ms, err := pproftext.ParseHeap(data)
		if err != nil {
			return nil, err
		}
		s.Heap, s.MemStats = p, ms
	case pproftext.IsGoroutine(data):
		p, err := pproftext.ParseGoroutine(data)
		if err != nil {
			return nil, err
		}
		if s.Goroutines, err = goroutines.FromProfile(p); err != nil {
			return nil, err
		}
	case goroutines.IsDump(data):
		gs, err := goroutines.ParseDump(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		s.Goroutines = gs
	case lazy && heapproto.IsHeap(data):
		// Checked when first used: analyze.HeapTop reads it without
		// building a profile.Profile (see snapshot.Snapshot.HeapData).
		s.HeapData = data
	default:
		p, err := profile.ParseUncompressed(data)
		if err != nil {
			return nil, ErrUnknownFormat
		}
		if err := p.CheckValid(); err != nil {
			return nil, fmt.Errorf("damaged profile: %w", err)
		}
		switch {
		case goroutines.IsProfile(p):
			if s.Goroutines, err = goroutines.FromProfile(p); err != nil {
				return nil, err
			}
		case isHeapProfile(p):
			s.Heap = p
		default:
			return nil, fmt.Errorf("a %s profile, not a heap or goroutine profile: leakhunt reads heap and goroutine profiles", profileKind(p))
		}
	}
	if !s.HasHeap() && len(s.Goroutines) == 0 {
		return nil, fmt.Errorf("the profile holds no samples: %w", ErrUnknownFormat)
	}
	return s, nil
}

func isGzip(data []byte) bool { return len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b }

// isHeapProfile reports whether p has the sample types of a Go heap (or allocs) profile.
func isHeapProfile(p *profile.Profile) bool {
	want := map[string]bool{"alloc_objects": true, "alloc_space": true, "inuse_objects": true, "inuse_space": true}
	n := 0
	for _, st := range p.SampleType {
		if want[st.Type] {
			n++
		}
	}
	return n == len(want)
}

func profileKind(p *profile.Profile) string {
	if p.PeriodType != nil && p.PeriodType.Type != "" {
		return p.PeriodType.Type
	}
	if len(p.SampleType) > 0 {
		return p.SampleType[0].Type
	}
	return "unknown"
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// DefaultName is the file name a snapshot of program taken at the snapshot's
// time gets when the user names none: "PROGRAM-20060102-150405.lhsnap".
func DefaultName(s *snapshot.Snapshot) string {
	prog := s.Target.Program
	if prog == "" {
		prog = "snapshot"
	}
	prog = filepath.Base(prog)
	return fmt.Sprintf("%s-%s.lhsnap", prog, s.Capture.Time.Format("20060102-150405"))
}
