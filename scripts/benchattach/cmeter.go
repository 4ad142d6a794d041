//go:build linux && cgo

package main

/*
#cgo LDFLAGS: -lpthread
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define NHIST 12
#define NLOG 32

// window is one measuring window of the thread meter. Only the meter thread
// writes it; readers copy it under a sequence lock, so the meter thread never
// waits for a reader (a reader can be descheduled while holding a lock).
typedef struct {
	int64_t since, now, ticks, max_gap, max_at, stalls, stalled;
	int64_t hist[NHIST];
	int64_t nlog, log_end[NLOG], log_gap[NLOG];
} window;

static window cur;
static uint64_t seq;
static int reset_req;
static int64_t tick_ns, threshold_ns;
static const int64_t bounds[NHIST - 1] = {
	2000000, 5000000, 10000000, 20000000, 50000000, 100000000,
	200000000, 500000000, 1000000000, 2000000000, 5000000000LL,
};

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *meter_loop(void *arg) {
	// No signal is ever handled here: a Go signal handler on a thread that
	// is not Go's would need the Go runtime.
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	struct timespec req = {tick_ns / 1000000000LL, tick_ns % 1000000000LL};
	int64_t prev = now_ns();
	for (;;) {
		// An early wake-up (EINTR) only makes a short gap.
		clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL);
		int64_t now = now_ns(), gap = now - prev;
		prev = now;
		__atomic_add_fetch(&seq, 1, __ATOMIC_ACQ_REL);
		if (__atomic_exchange_n(&reset_req, 0, __ATOMIC_ACQ_REL)) {
			// The gap that spans a reset counts in the new window.
			memset(&cur, 0, sizeof cur);
			cur.since = now - gap;
		}
		cur.now = now;
		cur.ticks++;
		if (gap > cur.max_gap) {
			cur.max_gap = gap;
			cur.max_at = now;
		}
		if (gap >= threshold_ns) {
			cur.stalls++;
			cur.stalled += gap - tick_ns;
			if (cur.nlog < NLOG) {
				cur.log_end[cur.nlog] = now;
				cur.log_gap[cur.nlog] = gap;
				cur.nlog++;
			}
		}
		int i = 0;
		while (i < NHIST - 1 && gap > bounds[i]) i++;
		cur.hist[i]++;
		__atomic_add_fetch(&seq, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

// start_meter starts the meter thread. It returns 0, or -errno when the
// thread could not start, or errno when it runs without real-time priority.
static int start_meter(int64_t tick, int64_t threshold) {
	tick_ns = tick;
	threshold_ns = threshold;
	cur.since = cur.now = now_ns();
	pthread_t t;
	int rc = pthread_create(&t, NULL, meter_loop, NULL);
	if (rc != 0) return -rc;
	struct sched_param sp = {.sched_priority = 10};
	return pthread_setschedparam(t, SCHED_FIFO, &sp);
}

// read_meter copies the current window and, if reset, asks the meter thread
// to start a new one at its next tick.
static void read_meter(window *out, int reset) {
	for (;;) {
		uint64_t s1 = __atomic_load_n(&seq, __ATOMIC_ACQUIRE);
		if (s1 & 1) {
			struct timespec ts = {0, 100000};
			nanosleep(&ts, NULL);
			continue;
		}
		memcpy(out, &cur, sizeof cur);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&seq, __ATOMIC_RELAXED) == s1) break;
	}
	out->now = now_ns();
	if (reset) __atomic_store_n(&reset_req, 1, __ATOMIC_RELEASE);
}
*/
import "C"

import (
	"syscall"
	"time"
)

// startThreadMeter starts the thread meter: a thread of its own, outside the
// Go runtime (created by pthread_create, it never runs Go code), at
// real-time priority, that sleeps tick at a time with clock_nanosleep. Only
// the kernel decides when it runs, so its gaps show stops (ptrace) and
// nothing of the Go scheduler. The error says why it runs at normal priority
// (prioErr) or could not start at all (err).
func startThreadMeter(tick, threshold time.Duration) (ok bool, prioErr error) {
	rc := C.start_meter(C.int64_t(tick), C.int64_t(threshold))
	switch {
	case rc < 0:
		return false, syscall.Errno(-rc)
	case rc > 0:
		return true, syscall.Errno(rc)
	}
	return true, nil
}

// readThreadMeter returns the thread meter's window and, if reset, starts a
// new one.
func readThreadMeter(reset bool) window {
	var c C.window
	r := 0
	if reset {
		r = 1
	}
	C.read_meter(&c, C.int(r))
	w := window{
		since: int64(c.since), now: int64(c.now), ticks: int64(c.ticks),
		maxGap: int64(c.max_gap), maxAt: int64(c.max_at),
		stalls: int64(c.stalls), stalled: int64(c.stalled),
	}
	for i := range w.hist {
		w.hist[i] = int64(c.hist[i])
	}
	for i := 0; i < int(c.nlog); i++ {
		w.log = append(w.log, [2]int64{int64(c.log_end[i]), int64(c.log_gap[i])})
	}
	return w
}
