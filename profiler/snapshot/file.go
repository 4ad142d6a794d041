package snapshot

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/pprof/profile"
)

// FormatName is the value of the "format" field that marks a leakhunt snapshot.
const FormatName = "leakhunt-snapshot"

// FormatVersion is the snapshot format this package writes, and the newest it reads.
const FormatVersion = 1

// Member names inside a snapshot file (a zip archive; see docs/snapshot-format.md).
const (
	metaMember       = "snapshot.json"
	heapMember       = "heap.pb.gz"
	goroutinesMember = "goroutines.json"
)

// ErrNotSnapshot is returned by Decode for data that is not a leakhunt snapshot.
var ErrNotSnapshot = errors.New("not a leakhunt snapshot")

// NewerVersionError is returned by Decode for a snapshot written by a newer leakhunt.
type NewerVersionError struct{ Version int }

func (e *NewerVersionError) Error() string {
	return fmt.Sprintf("snapshot format version %d is newer than this leakhunt reads (%d): upgrade leakhunt", e.Version, FormatVersion)
}

// meta is the snapshot.json member.
type meta struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	*Snapshot
	Parts []string `json:"parts"`
}

// goroutineFile is the goroutines.json member: stacks are stored once and
// goroutines refer to them by index, so 100k goroutines in 50 distinct stacks
// stay small.
type goroutineFile struct {
	Stacks     [][]Frame         `json:"stacks"`
	Goroutines []goroutineRecord `json:"goroutines"`
}

// goroutineRecord is a Goroutine with its frames replaced by a stack index.
type goroutineRecord struct {
	ID             int64             `json:"id"`
	State          string            `json:"state,omitempty"`
	Wait           int64             `json:"wait_ns,omitempty"`
	LockedToThread bool              `json:"locked,omitempty"`
	Leaked         bool              `json:"leaked,omitempty"`
	Stack          int               `json:"stack"`
	CreatedBy      *Frame            `json:"created_by,omitempty"`
	CreatorID      int64             `json:"creator_id,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
}

// IsSnapshot reports whether data starts like a snapshot file (a zip archive).
func IsSnapshot(data []byte) bool {
	return bytes.HasPrefix(data, []byte("PK\x03\x04"))
}

// Encode writes s in the snapshot file format.
func (s *Snapshot) Encode(w io.Writer) error {
	zw := zip.NewWriter(w)
	m := meta{Format: FormatName, Version: FormatVersion, Snapshot: s, Parts: []string{}}
	if s.HasHeap() {
		m.Parts = append(m.Parts, "heap")
	}
	if len(s.Goroutines) > 0 {
		m.Parts = append(m.Parts, "goroutines")
	}
	if err := writeJSON(zw, metaMember, m); err != nil {
		return err
	}
	if s.HasHeap() {
		// The profile is gzipped already: store it as is, so that
		// `unzip -p FILE heap.pb.gz` gives go tool pprof a valid profile.
		f, err := zw.CreateHeader(&zip.FileHeader{Name: heapMember, Method: zip.Store})
		if err != nil {
			return err
		}
		if err := s.writeHeap(f); err != nil {
			return fmt.Errorf("encode heap profile: %w", err)
		}
	}
	if len(s.Goroutines) > 0 {
		if err := writeJSON(zw, goroutinesMember, packGoroutines(s.Goroutines)); err != nil {
			return err
		}
	}
	return zw.Close()
}

// writeHeap writes the heap profile gzipped: Heap encoded, or HeapData as
// it is (gzipped when it is not yet).
func (s *Snapshot) writeHeap(w io.Writer) error {
	if s.Heap != nil {
		return s.Heap.Write(w)
	}
	if isGzip(s.HeapData) {
		_, err := w.Write(s.HeapData)
		return err
	}
	zw := gzip.NewWriter(w)
	if _, err := zw.Write(s.HeapData); err != nil {
		return err
	}
	return zw.Close()
}

func isGzip(data []byte) bool { return len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b }

func writeJSON(zw *zip.Writer, name string, v any) error {
	f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	enc.SetIndent("", " ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return nil
}

func packGoroutines(gs []Goroutine) goroutineFile {
	var gf goroutineFile
	index := make(map[string]int)
	var key bytes.Buffer
	for _, g := range gs {
		key.Reset()
		for _, f := range g.Frames {
			fmt.Fprintf(&key, "%s\x00%s\x00%d\x00%t\x00%s\x00", f.Function, f.File, f.Line, f.Inlined, f.Args)
			for _, v := range f.Vars {
				fmt.Fprintf(&key, "%s\x01%s\x01%s\x01%t\x00", v.Name, v.Type, v.Value, v.Arg)
			}
			key.WriteByte('\n')
		}
		i, ok := index[key.String()]
		if !ok {
			i = len(gf.Stacks)
			index[key.String()] = i
			frames := g.Frames
			if frames == nil {
				frames = []Frame{}
			}
			gf.Stacks = append(gf.Stacks, frames)
		}
		gf.Goroutines = append(gf.Goroutines, goroutineRecord{
			ID: g.ID, State: g.State, Wait: int64(g.Wait), LockedToThread: g.LockedToThread, Leaked: g.Leaked,
			Stack: i, CreatedBy: g.CreatedBy, CreatorID: g.CreatorID, Labels: g.Labels,
		})
	}
	return gf
}

// Decode reads a snapshot written by Encode.
func Decode(r io.Reader) (*Snapshot, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return DecodeBytes(data)
}

// DecodeBytes reads a snapshot from its encoded bytes.
func DecodeBytes(data []byte) (*Snapshot, error) { return decodeBytes(data, false) }

// DecodeLazy is DecodeBytes that leaves the heap profile encoded in
// Snapshot.HeapData, for callers that only aggregate it (see HeapData). The
// profile is checked when it is first used, not here.
func DecodeLazy(data []byte) (*Snapshot, error) { return decodeBytes(data, true) }

func decodeBytes(data []byte, lazy bool) (*Snapshot, error) {
	if !IsSnapshot(data) {
		return nil, ErrNotSnapshot
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%w: damaged archive: %v", ErrNotSnapshot, err)
	}
	members := make(map[string]*zip.File)
	for _, f := range zr.File {
		members[f.Name] = f
	}
	mf, ok := members[metaMember]
	if !ok {
		return nil, fmt.Errorf("%w: no %s inside", ErrNotSnapshot, metaMember)
	}
	s := new(Snapshot)
	m := meta{Snapshot: s}
	if err := readJSON(mf, &m); err != nil {
		return nil, err
	}
	if m.Format != FormatName {
		return nil, fmt.Errorf("%w: format is %q", ErrNotSnapshot, m.Format)
	}
	if m.Version > FormatVersion {
		return nil, &NewerVersionError{Version: m.Version}
	}
	if m.Version < 1 {
		return nil, fmt.Errorf("damaged snapshot: format version %d", m.Version)
	}
	for _, part := range m.Parts {
		switch part {
		case "heap":
			f, ok := members[heapMember]
			if !ok {
				return nil, fmt.Errorf("damaged snapshot: %s is missing", heapMember)
			}
			rc, err := f.Open()
			if err != nil {
				return nil, fmt.Errorf("damaged snapshot: %w", err)
			}
			if lazy {
				s.HeapData, err = io.ReadAll(rc)
				rc.Close()
				if err != nil {
					return nil, fmt.Errorf("damaged snapshot: heap profile: %w", err)
				}
				if len(s.HeapData) == 0 {
					return nil, fmt.Errorf("damaged snapshot: heap profile: empty")
				}
				continue
			}
			p, err := profile.Parse(rc)
			rc.Close()
			if err != nil {
				return nil, fmt.Errorf("damaged snapshot: heap profile: %w", err)
			}
			s.Heap = p
		case "goroutines":
			f, ok := members[goroutinesMember]
			if !ok {
				return nil, fmt.Errorf("damaged snapshot: %s is missing", goroutinesMember)
			}
			var gf goroutineFile
			if err := readJSON(f, &gf); err != nil {
				return nil, err
			}
			s.Goroutines = make([]Goroutine, len(gf.Goroutines))
			for i, rec := range gf.Goroutines {
				if rec.Stack < 0 || rec.Stack >= len(gf.Stacks) {
					return nil, fmt.Errorf("damaged snapshot: goroutine %d refers to stack %d of %d", rec.ID, rec.Stack, len(gf.Stacks))
				}
				s.Goroutines[i] = Goroutine{
					ID: rec.ID, State: rec.State, Wait: time.Duration(rec.Wait), LockedToThread: rec.LockedToThread, Leaked: rec.Leaked,
					Frames: gf.Stacks[rec.Stack], CreatedBy: rec.CreatedBy, CreatorID: rec.CreatorID, Labels: rec.Labels,
				}
			}
		}
	}
	return s, nil
}

func readJSON(f *zip.File, v any) error {
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("damaged snapshot: %s: %w", f.Name, err)
	}
	defer rc.Close()
	if err := json.NewDecoder(rc).Decode(v); err != nil {
		return fmt.Errorf("damaged snapshot: %s: %w", f.Name, err)
	}
	return nil
}
