// Package atomicfile writes files so that a reader never sees a partial one:
// the content goes to a temporary file in the same directory, which is then
// renamed (or hard-linked, to refuse overwriting) into place. Files are
// created with mode 0600 because snapshots and core dumps may hold secrets.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrExists is returned by Write when the destination exists and overwrite is false.
var ErrExists = errors.New("file exists")

// Write creates path with the content write produces. Unless overwrite is set it
// refuses to replace an existing file (ErrExists). On any error no file is left
// behind, neither the destination nor the temporary file.
func Write(path string, overwrite bool, write func(io.Writer) error) (err error) {
	if fi, statErr := os.Stat(path); statErr == nil {
		if fi.IsDir() {
			return fmt.Errorf("%s is a directory: name a file to write", path)
		}
		if !overwrite {
			return fmt.Errorf("%s: %w (use --force to overwrite)", path, ErrExists)
		}
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", dir, unwrapPath(err))
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if err := write(tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if overwrite {
		if err := os.Rename(tmpName, path); err != nil {
			return fmt.Errorf("write %s: %w", path, unwrapPath(err))
		}
		return nil
	}
	// A hard link fails if path appeared meanwhile, so an existing file is never replaced.
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w (use --force to overwrite)", path, ErrExists)
		}
		// Some filesystems have no hard links: fall back to rename.
		if err := os.Rename(tmpName, path); err != nil {
			return fmt.Errorf("write %s: %w", path, unwrapPath(err))
		}
		return nil
	}
	os.Remove(tmpName)
	return nil
}

// unwrapPath drops the *PathError wrapper so the temporary file's name does not
// show up in messages meant for the user.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
