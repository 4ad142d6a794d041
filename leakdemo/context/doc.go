// Command context derives a context.WithCancel child for every request from
// the server's long-lived context, and never calls its cancel function.
//
// What leaks: per request, the child context, the WithValue context under it
// and the 2 KiB request body that carries: about 1.3 MiB a minute at the
// default -rate 10.
//
// Where: newRequest allocates the body (main.go:53) and makes the child
// (main.go:56); the parent, a cancellable context that lives as long as the
// server, keeps every child in its children map until the child is
// cancelled, so nothing the child references is ever freed.
//
// Why: context.WithCancel and WithTimeout register the child with its
// nearest cancellable ancestor. go vet's lostcancel check catches the plain
// case; storing the cancel func in a struct that is never closed, as here,
// slips past it. WithTimeout leaks the same way until its deadline.
//
// The fix (-fixed): cancel when the request ends, defer r.cancel()
// (main.go:45).
//
// Python twin: callbacks registered on a long-lived object (an event
// emitter, a signal) and never removed.
package main
