package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		existing  string // content already at path; "" for none
		overwrite bool
		write     func(io.Writer) error
		wantErr   string
		want      string // content after
	}{
		{name: "new file", write: text("hello"), want: "hello"},
		{name: "refuses overwrite", existing: "old", write: text("new"), wantErr: "file exists (use --force to overwrite)", want: "old"},
		{name: "overwrite", existing: "old", overwrite: true, write: text("new"), want: "new"},
		{name: "failed write leaves nothing", write: func(w io.Writer) error { io.WriteString(w, "partial"); return boom }, wantErr: "boom"},
		{name: "failed overwrite keeps the old file", existing: "old", overwrite: true, write: func(w io.Writer) error { return boom }, wantErr: "boom", want: "old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out")
			if tt.existing != "" {
				if err := os.WriteFile(path, []byte(tt.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := Write(path, tt.overwrite, tt.write)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			got, readErr := os.ReadFile(path)
			if tt.want == "" {
				if readErr == nil {
					t.Errorf("file exists with %q, want none", got)
				}
			} else if string(got) != tt.want {
				t.Errorf("content %q, want %q", got, tt.want)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if e.Name() != "out" {
					t.Errorf("left behind %s", e.Name())
				}
			}
			if tt.want != "" && tt.existing == "" || tt.overwrite && err == nil {
				fi, _ := os.Stat(path)
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("mode %o, want 600", fi.Mode().Perm())
				}
			}
		})
	}
}

func TestWriteDirectory(t *testing.T) {
	err := Write(t.TempDir(), true, text("x"))
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("err = %v, want 'is a directory'", err)
	}
}

func text(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}
