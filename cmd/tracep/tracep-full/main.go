// Command tracep-full is tracep with every command: besides the tracers,
// tracep ca, script, view and demo, and the flags -web and -net, which
// link net/http, crypto/tls and testscript. tracep hands it the command
// lines that need them; it may also be run by itself, as tracep.
package main

import "github.com/tracep/tracep/cmd/tracep/cli"

func main() { cli.Main() }
