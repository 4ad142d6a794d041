//go:build linux && cgo

package main

/*
#cgo LDFLAGS: -lpthread
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>

// The meter thread alone writes these; a reader copies them between two equal
// even values of seq, so the meter never waits for a reader.
static int64_t m_since, m_ticks, m_max_gap, m_stalls, m_stalled;
static uint64_t m_seq;
static int m_reset;
static int64_t m_tick, m_threshold;

static int64_t mono_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *meter_main(void *arg) {
	// Block every signal: a thread Go does not know cannot run Go's handlers.
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	struct timespec req = {m_tick / 1000000000LL, m_tick % 1000000000LL};
	int64_t prev = mono_ns();
	for (;;) {
		clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL);
		int64_t now = mono_ns(), gap = now - prev;
		prev = now;
		__atomic_add_fetch(&m_seq, 1, __ATOMIC_ACQ_REL);
		if (__atomic_exchange_n(&m_reset, 0, __ATOMIC_ACQ_REL)) {
			// The gap that spans the reset belongs to the new window.
			m_since = now - gap;
			m_ticks = m_max_gap = m_stalls = m_stalled = 0;
		}
		m_ticks++;
		if (gap > m_max_gap) m_max_gap = gap;
		if (gap >= m_threshold) {
			m_stalls++;
			m_stalled += gap - m_tick;
		}
		__atomic_add_fetch(&m_seq, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

// meter_start returns 0, -errno if the thread did not start, or errno if it
// runs without real-time priority.
static int meter_start(int64_t tick, int64_t threshold) {
	m_tick = tick;
	m_threshold = threshold;
	m_since = mono_ns();
	pthread_t t;
	int rc = pthread_create(&t, NULL, meter_main, NULL);
	if (rc != 0) return -rc;
	struct sched_param sp = {.sched_priority = 10};
	return pthread_setschedparam(t, SCHED_FIFO, &sp);
}

static void meter_read(int64_t out[6], int reset) {
	for (;;) {
		uint64_t s = __atomic_load_n(&m_seq, __ATOMIC_ACQUIRE);
		if (s & 1) continue;
		out[0] = m_since; out[1] = m_ticks; out[2] = m_max_gap;
		out[3] = m_stalls; out[4] = m_stalled;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&m_seq, __ATOMIC_RELAXED) == s) break;
	}
	out[5] = mono_ns();
	if (reset) __atomic_store_n(&m_reset, 1, __ATOMIC_RELEASE);
}
*/
import "C"

import (
	"syscall"
	"time"
)

// threadMeter is a stall meter on a thread created by pthread_create, which
// never runs Go code: only the kernel decides when it runs, so neither the
// Go scheduler nor a stop-the-world of the garbage collector shows in its
// gaps. A ptrace stop of the whole process stops it too.
type threadMeter struct{ tick time.Duration }

// startMeter starts the thread meter. prio says why it runs at normal
// priority (nil when it got SCHED_FIFO).
func startMeter(tick, threshold time.Duration) (m meter, kind string, prio error) {
	rc := C.meter_start(C.int64_t(tick), C.int64_t(threshold))
	if rc < 0 {
		// No thread: fall back to a goroutine.
		gm, err := startGoMeter(tick, threshold)
		return gm, "go", err
	}
	if rc > 0 {
		prio = syscall.Errno(rc)
	}
	return threadMeter{tick}, "thread", prio
}

func (m threadMeter) read(reset bool) window {
	var v [6]C.int64_t
	r := C.int(0)
	if reset {
		r = 1
	}
	C.meter_read(&v[0], r)
	return window{
		since: int64(v[0]), ticks: int64(v[1]), maxGap: int64(v[2]),
		stalls: int64(v[3]), stalled: int64(v[4]), now: int64(v[5]), tick: int64(m.tick),
	}
}
