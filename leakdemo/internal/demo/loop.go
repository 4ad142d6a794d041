package demo

import (
	"context"
	"time"
)

// Every calls fn(i), i = 0, 1, 2, ..., rate times a second on average until
// ctx is done. Above a hundred a second it calls fn in batches every 10ms.
// It does not catch up on more than a second of calls missed while the
// process was stopped (by a debugger, say) or fn was slow.
func Every(ctx context.Context, rate float64, fn func(i int)) error {
	interval := max(time.Duration(float64(time.Second)/rate), 10*time.Millisecond)
	t := time.NewTicker(interval)
	defer t.Stop()
	start := time.Now()
	i, skipped := 0, 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-t.C:
			due := int(rate*now.Sub(start).Seconds()) - skipped
			if behind := due - i; float64(behind) > rate+1 {
				skipped += behind - int(rate+1)
				due = i + int(rate+1)
			}
			for ; i < due; i++ {
				fn(i)
			}
		}
	}
}
