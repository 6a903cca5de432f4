package cli

import (
	"context"
	"io"

	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/cmd/tracep/internal/base"
	"github.com/tracep/tracep/cmd/tracep/web"
)

func init() {
	base.Extend(base.Extensions{
		Commands: map[string]func(context.Context, []string, io.Reader, io.Writer, io.Writer) int{
			"ca":     command(runCA),
			"script": command(runScript),
		},
		StartWeb: func(ctx context.Context, addr, title string) (base.LivePage, error) {
			return web.Start(ctx, web.Config{Addr: addr, Title: title})
		},
		NewNetwork: func() (base.Network, error) { return testnet.New(nil) },
	})
}

// Main runs the command line and exits with its status.
func Main() { base.Main() }

// Run runs tracep with args (without the program name) and returns the
// exit status.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return base.Run(ctx, args, stdin, stdout, stderr)
}

// env is what ca and script run with.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func command(run func(e *env, args []string) int) func(context.Context, []string, io.Reader, io.Writer, io.Writer) int {
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
		return run(&env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}, args)
	}
}
