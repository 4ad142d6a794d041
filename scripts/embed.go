// Package scripts embeds leakhunt's Starlark scripts for delve, so that
// `leakhunt dlv` and `leakhunt script` load them without a checkout. The
// same files work in a stock dlv session: `source scripts/leakhunt.star`.
package scripts

import _ "embed"

// LeakhuntStar is scripts/leakhunt.star: the gbt, gbt_full, gleaks, heaptop,
// gsource and retainers commands.
//
//go:embed leakhunt.star
var LeakhuntStar []byte

// LeakhuntStarName is the name LeakhuntStar is loaded under, in messages.
const LeakhuntStarName = "leakhunt.star"
