// Package cli is the tracep command line: the dispatcher and one file per
// command. It keeps no global state, so tests and testscript can run it
// in-process through [Run].
//
// # Exit codes
//
//	0  success (for a traced command: the command's own status is passed on)
//	1  a runtime error, printed as one line on stderr
//	2  a usage error: an unknown command or flag, printed with the usage
//	3  a policy violation (tracep run --policy)
package cli
