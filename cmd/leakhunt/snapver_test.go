package main

import (
	"archive/zip"
	"bytes"
	"fmt"

	"github.com/rogpeppe/go-internal/testscript"
)

// snapshotOfVersion builds a snapshot file that claims format version v.
func snapshotOfVersion(ts *testscript.TestScript, v string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("snapshot.json")
	ts.Check(err)
	fmt.Fprintf(w, `{"format":"leakhunt-snapshot","version":%s,"target":{},"capture":{"source":"http","time":"2026-01-01T00:00:00Z"},"parts":[]}`, v)
	ts.Check(zw.Close())
	return buf.Bytes()
}
