package dlvscript

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/go-delve/delve/pkg/config"
	"github.com/go-delve/delve/pkg/terminal"
	"github.com/go-delve/delve/pkg/terminal/starbind"
	"github.com/go-delve/delve/service"
	"github.com/go-delve/delve/service/api"
	"github.com/go-delve/delve/service/rpc2"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Script is a Starlark source: a file name (for messages) and its text.
type Script struct {
	Name   string
	Source []byte
}

// ScriptOptions configure RunScript.
type ScriptOptions struct {
	// Preload are scripts executed first (leakhunt.star): their command_X
	// functions become commands that dlv_command("X") runs, and the main
	// script may call them by name (X(...)), as CommandNames lists them.
	Preload []Script
	// Args are passed to the main script as the list ARGS, and to its main
	// function when main takes exactly len(Args) parameters.
	Args []string
	// Out receives everything the scripts and delve's commands print.
	Out io.Writer
}

// RunScript runs a Starlark script against the session's target, non
// interactively: delve's documented Starlark builtins (eval, goroutines,
// stacktrace, dlv_command, read_file...) are available, as are the commands
// of the preloaded scripts. A script's main function, when it has one, is
// called after the file has run. Cancelling ctx stops the script at its
// next builtin call.
func (s *Session) RunScript(ctx context.Context, main Script, opts ScriptOptions) error {
	out := &echoWriter{w: opts.Out}
	if out.w == nil {
		out.w = io.Discard
	}
	sc := newScriptContext(s, out)
	defer sc.close()
	env := starbind.New(sc, out)
	stop := context.AfterFunc(ctx, env.Cancel)
	defer stop()
	for _, p := range opts.Preload {
		if _, err := env.Execute(p.Name, p.Source, "", nil); err != nil {
			return fmt.Errorf("load %s: %w", p.Name, err)
		}
	}
	// Line 0, before the script's first line: the preloaded commands under
	// their command names, and ARGS. A FilePortion keeps the script's own
	// line numbers in error messages.
	var pre strings.Builder
	for _, name := range sc.commandNames() {
		if exported := exportName(name); exported != "" {
			fmt.Fprintf(&pre, "%s = %s; ", name, exported)
		}
	}
	pre.WriteString("ARGS = [")
	for i, a := range opts.Args {
		if i > 0 {
			pre.WriteString(", ")
		}
		pre.WriteString(strconv.Quote(a))
	}
	pre.WriteString("]\n")
	src := append([]byte(pre.String()), main.Source...)
	var margs []any
	if n := mainParams(main.Source); n == len(opts.Args) {
		for _, a := range opts.Args {
			margs = append(margs, a)
		}
	}
	_, err := env.Execute(main.Name, syntax.FilePortion{Content: src, FirstLine: 0, FirstCol: 1}, "main", margs)
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: %w", main.Name, cerr)
	}
	if err != nil {
		return scriptError(main.Name, err)
	}
	return nil
}

// scriptError places a Starlark runtime error at its line: the frame in the
// user's script that led to it, and the innermost one when it is elsewhere
// (in leakhunt.star).
func scriptError(name string, err error) error {
	var ee *starlark.EvalError
	if !errors.As(err, &ee) || len(ee.CallStack) == 0 {
		return fmt.Errorf("%s: %w%s", name, err, hint(err.Error()))
	}
	inner := ee.CallStack[len(ee.CallStack)-1].Pos
	where := inner.String()
	for i := len(ee.CallStack) - 1; i >= 0; i-- {
		if p := ee.CallStack[i].Pos; p.Filename() == name {
			if p.Filename() != inner.Filename() {
				where = p.String() + " (" + inner.String() + ")"
			}
			break
		}
	}
	return fmt.Errorf("%s: %s%s", where, ee.Msg, hint(ee.Msg))
}

// hint explains delve errors whose cause is not in their words.
func hint(msg string) string {
	if strings.Contains(msg, "could not find goroutine array") || strings.Contains(msg, "no debug info") {
		return " (the program has no DWARF debug information: built with -ldflags=-w or stripped; goroutines and variables cannot be read, rebuild without -w)"
	}
	return ""
}

// exportName is the capitalised global under which leakhunt.star exports
// the implementation of command name (gbt_full → GbtFull), or "" when the
// preloaded scripts export none.
func exportName(cmd string) string {
	var b strings.Builder
	for _, part := range strings.Split(cmd, "_") {
		if part == "" {
			return ""
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// mainParams counts the parameters of `def main(...)` in src, or -1.
func mainParams(src []byte) int {
	f, err := syntax.Parse("main.star", src, 0)
	if err != nil {
		return -1
	}
	for _, st := range f.Stmts {
		if d, ok := st.(*syntax.DefStmt); ok && d.Name.Name == "main" {
			return len(d.Params)
		}
	}
	return -1
}

// scriptContext is the starbind.Context of RunScript: commands defined by
// scripts are kept here; any other command goes to delve's own command
// table, run by a Term that writes to the script's output.
type scriptContext struct {
	sess   *Session
	client service.Client
	term   *terminal.Term
	cmds   *terminal.Commands

	mu     sync.Mutex
	custom map[string]func(args string) error
}

func newScriptContext(s *Session, out io.Writer) *scriptContext {
	client := &noKillClient{RPCClient: s.rpc(), sess: s}
	term := terminal.New(client, &config.Config{}, s.target.Live())
	term.RedirectTo(out)
	return &scriptContext{sess: s, client: client, term: term, cmds: terminal.DebugCommands(client), custom: map[string]func(string) error{}}
}

func (c *scriptContext) close() { c.term.Close() }

func (c *scriptContext) Client() service.Client { return c.client }

func (c *scriptContext) RegisterCommand(name, helpMsg string, fn func(args string) error, allowedPrefixes int) {
	c.mu.Lock()
	c.custom[name] = fn
	c.mu.Unlock()
}

func (c *scriptContext) CallCommand(cmdstr string) error {
	name, args, _ := strings.Cut(strings.TrimSpace(cmdstr), " ")
	c.mu.Lock()
	fn := c.custom[name]
	c.mu.Unlock()
	if fn != nil {
		return fn(strings.TrimSpace(args))
	}
	return c.cmds.Call(cmdstr, c.term)
}

func (c *scriptContext) Scope() api.EvalScope { return api.EvalScope{GoroutineID: -1} }

func (c *scriptContext) LoadConfig() api.LoadConfig {
	return api.LoadConfig{FollowPointers: true, MaxVariableRecurse: 1, MaxStringLen: 64, MaxArrayValues: 64, MaxStructFields: -1}
}

func (c *scriptContext) commandNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.custom))
	for n := range c.custom {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// noKillClient is the RPC client the terminal and scripts get: detaching
// never kills the target, whatever the caller asks, and the terminal is told
// the process was not attached to so it does not ask "kill the process?".
type noKillClient struct {
	*rpc2.RPCClient
	sess *Session
}

func (c *noKillClient) Detach(kill bool) error {
	c.sess.drainTrap()
	err := c.RPCClient.Detach(false)
	if err == nil || isExited(err) {
		c.sess.markDetached()
	}
	return err
}

func (c *noKillClient) AttachedToExistingProcess() bool { return false }

func (c *noKillClient) CallAPI(method string, args, reply any) error {
	if method == "Detach" {
		if in, ok := args.(*rpc2.DetachIn); ok {
			in.Kill = false
		}
		c.sess.drainTrap()
		err := c.RPCClient.CallAPI(method, args, reply)
		if err == nil {
			c.sess.markDetached()
		}
		return err
	}
	return c.RPCClient.CallAPI(method, args, reply)
}

// echoWriter is the starbind.EchoWriter over a plain writer.
type echoWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (e *echoWriter) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.w.Write(p)
}

func (e *echoWriter) Echo(string) {}

func (e *echoWriter) Flush() {
	if f, ok := e.w.(interface{ Flush() error }); ok {
		_ = f.Flush()
	}
}
