// Package base is the tracep command line without its extensions: the
// dispatcher, the tracing commands (net, tls, dns, exec, run), doctor,
// view and demo, one file per command, as the tracep binary links it. What
// needs net/http, crypto/tls or testscript (ca, script, the live page of
// -web and view, the hermetic network of -net and demo) is installed by
// package cli through [Extend]; without it, [Main] hands such a command
// line over to tracep-full. Apart from what Extend installs, it keeps no
// global state, so tests and testscript can run it in-process through
// [Run].
//
// # Exit codes
//
//	0  success (for a traced command: the command's own status is passed on)
//	1  a runtime error, printed as one line on stderr
//	2  a usage error: an unknown command or flag, printed with the usage
//	3  a policy violation (tracep run --policy)
//	4  a verdict that could not be given: the trace lost events
package base
