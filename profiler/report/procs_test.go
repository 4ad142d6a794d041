package report

import (
	"bytes"
	"testing"

	"github.com/leakhunt/leakhunt/profiler/procfs"
)

func TestProcessesGolden(t *testing.T) {
	procs := []procfs.GoProcess{
		{PID: 812, Program: "api-server", GoVersion: "go1.26.8", RSS: 83 << 20, Listen: []string{"127.0.0.1:6060", "[::]:8080"}, Pprof: "http://127.0.0.1:6060/debug/pprof/"},
		{PID: 1290, Program: "worker", GoVersion: "go1.27.3", RSS: 12<<20 + 512<<10},
		{PID: 40211, Program: "gopls", GoVersion: "go1.26.8"},
	}
	for _, tt := range []struct {
		name  string
		width int
	}{{"ps.txt", 0}, {"ps-cut.txt", 40}} {
		var buf bytes.Buffer
		if err := Processes(&buf, procs, tt.width); err != nil {
			t.Fatal(err)
		}
		golden(t, tt.name, buf.Bytes())
	}
}
