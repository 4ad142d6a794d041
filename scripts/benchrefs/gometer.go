//go:build linux

package main

import (
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// window is what a meter saw since its last reset; times in nanoseconds on
// the meter's monotonic clock.
type window struct {
	since, now int64 // the window's start; when it was read
	tick       int64
	ticks      int64
	maxGap     int64 // the longest gap between two wake-ups
	stalls     int64 // gaps of at least the threshold
	stalled    int64 // the sum over stalls of (gap - tick)
}

// meter is a stall meter: something that wakes every tick and remembers
// the gaps between its wake-ups.
type meter interface {
	read(reset bool) window
}

// goMeter is the fallback meter when there is no C thread: a goroutine
// locked to its own OS thread. Its gaps also show the Go scheduler's delays
// and stop-the-world pauses (the garbage collector is off once the heap is
// built, so there are none of those while the tools run).
type goMeter struct {
	tick, threshold int64
	base            time.Time
	mu              sync.Mutex
	w               window
}

func (m *goMeter) clock() int64 { return int64(time.Since(m.base)) }

// startGoMeter starts a goMeter; the error says why it runs at normal
// priority.
func startGoMeter(tick, threshold time.Duration) (*goMeter, error) {
	m := &goMeter{tick: int64(tick), threshold: int64(threshold), base: time.Now()}
	prio := make(chan error, 1)
	go m.run(prio)
	return m, <-prio
}

func (m *goMeter) run(prio chan<- error) {
	runtime.LockOSThread()
	prio <- setFIFO()
	req := syscall.Timespec{Sec: m.tick / 1e9, Nsec: m.tick % 1e9}
	prev := m.clock()
	for {
		syscall.Syscall6(syscall.SYS_CLOCK_NANOSLEEP, 1 /* CLOCK_MONOTONIC */, 0, uintptr(unsafe.Pointer(&req)), 0, 0, 0)
		now := m.clock()
		gap := now - prev
		prev = now
		m.mu.Lock()
		m.w.ticks++
		if gap > m.w.maxGap {
			m.w.maxGap = gap
		}
		if gap >= m.threshold {
			m.w.stalls++
			m.w.stalled += gap - m.tick
		}
		m.mu.Unlock()
	}
}

func (m *goMeter) read(reset bool) window {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.w
	w.now, w.tick = m.clock(), m.tick
	if reset {
		m.w = window{since: w.now}
	}
	return w
}

// setFIFO gives the calling thread real-time priority (SCHED_FIFO 10).
func setFIFO() error {
	param := struct{ priority int32 }{10}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, 0, 1 /* SCHED_FIFO */, uintptr(unsafe.Pointer(&param))); errno != 0 {
		return errno
	}
	return nil
}
