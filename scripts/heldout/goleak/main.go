// Command goleak is a price service that asks a quote backend for a fresh
// price in the background. The bug: the reply channel is only written when
// the backend knows the symbol, and the context given to the waiting
// goroutine is never cancelled, so for unknown symbols (~2/s) the waiter
// blocks forever in its select.
package main

import (
	"context"
	"sync"
	"time"
)

type quote struct {
	symbol string
	price  float64
}

type backend struct {
	known map[string]float64
}

// ask answers on reply only when it knows the symbol.
func (b *backend) ask(symbol string, reply chan<- quote) {
	if p, ok := b.known[symbol]; ok {
		go func() { reply <- quote{symbol, p} }()
	}
}

type priceService struct {
	mu      sync.Mutex
	prices  map[string]float64
	cancels []context.CancelFunc
	be      *backend
}

func (s *priceService) refresh(symbol string) {
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.cancels = append(s.cancels[:0], cancel) // kept "for shutdown", never called
	s.mu.Unlock()
	reply := make(chan quote)
	go s.awaitQuote(ctx, reply)
	s.be.ask(symbol, reply)
}

func (s *priceService) awaitQuote(ctx context.Context, reply <-chan quote) {
	select {
	case q := <-reply:
		s.mu.Lock()
		s.prices[q.symbol] = q.price
		s.mu.Unlock()
	case <-ctx.Done():
	}
}

func main() {
	servePprof()
	go renderResponses()
	be := &backend{known: map[string]float64{"ACME": 12.5, "GLOBX": 99.1, "INIT": 3.3}}
	s := &priceService{prices: map[string]float64{}, be: be}
	symbols := []string{"ACME", "ZZZ", "GLOBX", "QQQ"} // ZZZ and QQQ are unknown to the backend
	tick := time.NewTicker(250 * time.Millisecond)
	for n := 0; ; n++ {
		<-tick.C
		s.refresh(symbols[n%len(symbols)])
	}
}
