package heapgraph

import "testing"

func TestZZRefuse(t *testing.T) {
	bin := buildProg(t, "finq", "local")
	cmd, _ := startProg(t, bin)
	core := dumpCore(t, cmd.Process.Pid)
	typedGraph(t, core, bin)
}
