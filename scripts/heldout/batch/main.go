// Command batch is a reporting service that every 15 s loads a ~20 MiB
// snapshot of orders, aggregates it and drops it. Not a leak: a sawtooth.
package main

import (
	"fmt"
	"log"
	"slices"
	"time"
)

type order struct {
	id       int
	customer string
	amount   float64
	lines    []byte
}

func loadOrders(n int) []order {
	orders := make([]order, 0, n)
	for i := range n {
		orders = append(orders, order{id: i, customer: fmt.Sprintf("cust-%06d", i%50000),
			amount: float64(i%997) * 1.25, lines: make([]byte, 96)})
	}
	return orders
}

func aggregate(orders []order) (map[string]float64, float64) {
	per := make(map[string]float64, 50000)
	for _, o := range orders {
		per[o.customer] += o.amount
	}
	amounts := make([]float64, 0, len(orders))
	for _, o := range orders {
		amounts = append(amounts, o.amount)
	}
	slices.Sort(amounts)
	return per, amounts[len(amounts)/2]
}

// exportRows writes the orders out in chunks, as a report writer streaming
// to a slow sink would (~4 s holding the whole batch).
func exportRows(orders []order) {
	var sum int
	for i := 0; i < len(orders); i += 10000 {
		for _, o := range orders[i:min(i+10000, len(orders))] {
			sum += len(o.lines) + len(o.customer)
		}
		time.Sleep(330 * time.Millisecond)
	}
	exportSink += sum
}

var exportSink int

func runBatch() {
	orders := loadOrders(120000) // ~120k * (64 B struct + 96 B lines + 16 B name) ≈ 20 MiB
	per, median := aggregate(orders)
	exportRows(orders)
	log.Printf("batch: %d orders, %d customers, median %.2f", len(orders), len(per), median)
}

func main() {
	servePprof()
	go renderResponses()
	for {
		runBatch()
		time.Sleep(11 * time.Second) // one batch every ~15 s
	}
}
