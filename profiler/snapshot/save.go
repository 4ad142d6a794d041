package snapshot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/leakhunt/leakhunt/profiler/atomicfile"
)

// Save writes s to path atomically with mode 0600. It refuses to replace an
// existing file unless overwrite is set.
func (s *Snapshot) Save(path string, overwrite bool) error {
	return atomicfile.Write(path, overwrite, func(w io.Writer) error { return s.Encode(w) })
}

// Load reads the snapshot file at path.
func Load(path string) (*Snapshot, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	s, err := DecodeBytes(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func readFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such file", path)
		}
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a snapshot or profile", path)
	}
	return os.ReadFile(path)
}
