package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestWatchFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    func(*WatchOptions) bool
		wantErr string
	}{
		{args: []string{"http://127.0.0.1:6060"}, want: func(o *WatchOptions) bool {
			return o.Target == "http://127.0.0.1:6060" && o.Command == nil && o.Interval == 5*time.Second &&
				o.Duration == 2*time.Minute && o.N == 10 && o.GC && !o.JSON && o.Output == ""
		}},
		{args: []string{"6060", "--interval", "1s", "--duration", "1m", "-o", "dir", "--json", "-n", "3", "--gc=false"},
			want: func(o *WatchOptions) bool {
				return o.Target == "6060" && o.Interval == time.Second && o.Duration == time.Minute && o.Output == "dir" && o.JSON && o.N == 3 && !o.GC
			}},
		{args: []string{"--interval", "1s", "--", "./server", "-addr", "127.0.0.1:0"}, want: func(o *WatchOptions) bool {
			return o.Target == "" && strings.Join(o.Command, " ") == "./server -addr 127.0.0.1:0" && o.Interval == time.Second
		}},
		{args: []string{}, wantErr: "watch takes one TARGET"},
		{args: []string{"a", "b"}, wantErr: "watch takes one TARGET"},
		{args: []string{"a", "--", "b"}, wantErr: "either a TARGET or -- COMMAND"},
		{args: []string{"a", "--interval", "0s"}, wantErr: "--interval must be more than 0"},
		{args: []string{"a", "--interval", "10s", "--duration", "5s"}, wantErr: "must be at least one --interval"},
		{args: []string{"a", "-n", "-2"}, wantErr: "-n must be 0 or more"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			io, _, _ := testStreams()
			var got *WatchOptions
			cmd := NewCmdWatch(newFactory(io), func(_ context.Context, o *WatchOptions) error { got = o; return nil })
			err := execute(cmd, tt.args...)
			if tt.wantErr != "" {
				var ue *usageError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &ue) {
					t.Fatalf("err %v, want usage error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(got) {
				t.Errorf("options %+v", got)
			}
		})
	}
}
