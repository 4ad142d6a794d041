package refs

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/leakhunt/leakhunt/profiler/atomicfile"
)

// FormatName marks a saved analysis (the "format" field).
const FormatName = "leakhunt-objects"

// FormatVersion is the analysis file format this package writes, and the
// newest it reads.
const FormatVersion = 1

// ErrNotAnalysis is returned by Decode for data that is not a saved analysis.
var ErrNotAnalysis = errors.New("not a leakhunt objects analysis")

// file is the saved form: the Analysis's exported fields under a header.
type file struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	*Analysis
}

// Encode writes a as gzipped JSON (see docs/objects.md).
func (a *Analysis) Encode(w io.Writer) error {
	zw := gzip.NewWriter(w)
	bw := bufio.NewWriter(zw)
	if err := json.NewEncoder(bw).Encode(file{Format: FormatName, Version: FormatVersion, Analysis: a}); err != nil {
		return fmt.Errorf("encode analysis: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("encode analysis: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("encode analysis: %w", err)
	}
	return nil
}

// Save writes a to path atomically with mode 0600 (a heap's type and
// variable names may be confidential). It refuses to replace an existing
// file unless overwrite is set.
func (a *Analysis) Save(path string, overwrite bool) error {
	return atomicfile.Write(path, overwrite, a.Encode)
}

// IsAnalysis reports whether data looks like a saved analysis: gzip data
// whose JSON names the format. It reads only the start.
func IsAnalysis(data []byte) bool {
	if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		return false
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return false
	}
	head := make([]byte, 64)
	n, _ := io.ReadFull(zr, head)
	return bytes.Contains(head[:n], []byte(`"format":"`+FormatName+`"`))
}

// Decode reads an analysis written by Encode. Queries that need the object
// graph (Why, Find, ObjectsOfType, Dot) return ErrNoGraph on it.
func Decode(r io.Reader) (*Analysis, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		return nil, ErrNotAnalysis
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotAnalysis, err)
	}
	f := file{Analysis: new(Analysis)}
	if err := json.NewDecoder(zr).Decode(&f); err != nil {
		if f.Format != FormatName {
			return nil, ErrNotAnalysis
		}
		return nil, fmt.Errorf("damaged analysis: %w", err)
	}
	if f.Format != FormatName {
		return nil, ErrNotAnalysis
	}
	if f.Version > FormatVersion {
		return nil, fmt.Errorf("analysis format version %d is newer than this leakhunt reads (%d): upgrade leakhunt", f.Version, FormatVersion)
	}
	if f.Version < 1 {
		return nil, fmt.Errorf("damaged analysis: format version %d", f.Version)
	}
	return f.Analysis, nil
}

// Load reads the analysis saved at path.
func Load(path string) (*Analysis, error) {
	fh, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such file", path)
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer fh.Close()
	if fi, err := fh.Stat(); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a saved analysis", path)
	}
	a, err := Decode(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}
