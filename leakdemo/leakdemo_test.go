package leakdemo

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestListMatchesDirectories keeps the list and the demo directories in step.
func TestListMatchesDirectories(t *testing.T) {
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range ents {
		if e.IsDir() && e.Name() != "internal" {
			dirs = append(dirs, e.Name())
		}
	}
	var names []string
	for _, d := range List() {
		names = append(names, d.Name)
		if d.Summary == "" || (d.Kind != Leaky && d.Kind != Control && d.Kind != Race) {
			t.Errorf("demo %s: summary %q, kind %q", d.Name, d.Summary, d.Kind)
		}
	}
	slices.Sort(names)
	if !slices.Equal(dirs, names) {
		t.Errorf("directories %v, listed demos %v", dirs, names)
	}
}

func TestFiles(t *testing.T) {
	for _, d := range List() {
		files, err := Files(d.Name)
		if err != nil {
			t.Fatalf("%s: %v", d.Name, err)
		}
		if !slices.Contains(files, d.Name+"/main.go") || !slices.Contains(files, "internal/demo/demo.go") {
			t.Errorf("%s: files %v lack main.go or internal/demo", d.Name, files)
		}
		// Every source file on disk must be embedded: the pattern in
		// leakdemo.go names the files a demo may have.
		ents, err := os.ReadDir(d.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if f := d.Name + "/" + e.Name(); strings.HasSuffix(f, ".go") && !isTest(f) && !slices.Contains(files, f) {
				t.Errorf("%s is not embedded: add it to the go:embed pattern in leakdemo.go", f)
			}
		}
		for _, f := range files {
			if isTest(f) {
				t.Errorf("%s: test file %s among the build files", d.Name, f)
			}
			if _, err := fs.Stat(Sources, f); err != nil {
				t.Error(err)
			}
		}
	}
	if _, err := Files("nope"); err == nil {
		t.Error("Files(nope) did not fail")
	}
}

// TestDocLines keeps each demo's package doc pointing at the right lines:
// every line of main.go marked "// the leak", "// the fix" or "// the race"
// must be cited as main.go:N in doc.go.
func TestDocLines(t *testing.T) {
	marker := regexp.MustCompile(`// the (leak|fix|race)\b`)
	for _, d := range List() {
		src, err := os.ReadFile(filepath.Join(d.Name, "main.go"))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := os.ReadFile(filepath.Join(d.Name, "doc.go"))
		if err != nil {
			t.Fatalf("%s: %v (every demo needs a package doc)", d.Name, err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			if marker.MatchString(line) && !strings.Contains(string(doc), fmt.Sprintf("main.go:%d)", i+1)) {
				t.Errorf("%s/doc.go does not cite main.go:%d: %s", d.Name, i+1, strings.TrimSpace(line))
			}
		}
	}
}
