// Command tracep traces what a program really does: the programs it runs,
// the names it resolves, where it connects and what it says over TLS.
// See the README for the commands and their flags.
package main

import "github.com/tracep/tracep/cmd/tracep/cli"

func main() { cli.Main() }
