// Package cli is the whole tracep command line, as the tracep-full binary
// links it: package base's commands with every extension installed
// (tracep ca and script, the live page of -web and view, the hermetic
// network of -net and demo). The tracep binary links base alone and hands
// a command line that needs an extension over to tracep-full.
//
// In a testscript of another project, [Main] is tracep with every
// command:
//
//	testscript.Main(m, map[string]func(){"tracep": cli.Main})
//
// # Exit codes
//
//	0  success (for a traced command: the command's own status is passed on)
//	1  a runtime error, printed as one line on stderr
//	2  a usage error: an unknown command or flag, printed with the usage
//	3  a policy violation (tracep run --policy)
//	4  a verdict that could not be given: the trace lost events
package cli
