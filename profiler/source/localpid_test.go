package source

import (
	"net"
	"os"
	"runtime"
	"testing"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

func TestLocalPID(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	loop, err := Parse("http://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	remote, err := Parse("http://10.1.2.3:6060")
	if err != nil {
		t.Fatal(err)
	}
	if got := LocalPID(Target{Kind: snapshot.SourcePID, PID: 4242}); got != 4242 {
		t.Errorf("PID target: %d", got)
	}
	if got := LocalPID(remote); got != 0 {
		t.Errorf("remote URL: %d, want 0", got)
	}
	if runtime.GOOS == "linux" {
		if got := LocalPID(loop); got != os.Getpid() {
			t.Errorf("loopback URL served by this test: %d, want %d", got, os.Getpid())
		}
	}
}
