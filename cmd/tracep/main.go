// Command tracep traces what a program really does: the programs it runs,
// the names it resolves, where it connects and what it says over TLS.
// See the README for the commands and their flags.
//
// This binary holds the tracers alone. A command line that needs the
// rest (tracep ca, script, view, demo, -web, -net) is handed over to
// tracep-full (./tracep-full), found beside it or on PATH.
package main

import "github.com/tracep/tracep/cmd/tracep/internal/base"

func main() { base.Main() }
