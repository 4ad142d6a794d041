package main

import "github.com/leakhunt/leakhunt/scripts/heldout/internal/svc"

func servePprof()      { svc.ServePprof() }
func renderResponses() { svc.RenderResponses() }
