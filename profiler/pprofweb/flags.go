package pprofweb

import (
	"flag"
	"io"
	"strings"
)

// flagSet is the command line pprof's driver parses: the arguments Serve
// built, on a flag.FlagSet of its own (never the process's flags).
type flagSet struct {
	*flag.FlagSet
	args  []string
	extra []string
	// err is the parse error, if any: the driver only learns that there are
	// no arguments, so Serve reports this instead.
	err error
}

func newFlagSet(args []string, log io.Writer) *flagSet {
	fs := flag.NewFlagSet("pprof", flag.ContinueOnError)
	fs.SetOutput(log)
	return &flagSet{FlagSet: fs, args: args}
}

// StringList defines a flag that may be given once; that is all Serve needs.
func (f *flagSet) StringList(name, def, usage string) *[]*string {
	return &[]*string{f.String(name, def, usage)}
}

func (f *flagSet) ExtraUsage() string      { return strings.Join(f.extra, "\n") }
func (f *flagSet) AddExtraUsage(eu string) { f.extra = append(f.extra, eu) }

// Parse parses the arguments Serve built and returns the profile source.
func (f *flagSet) Parse(usage func()) []string {
	f.Usage = func() {}
	if err := f.FlagSet.Parse(f.args); err != nil {
		f.err = err
		return nil
	}
	return f.Args()
}
