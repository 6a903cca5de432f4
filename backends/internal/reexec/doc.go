// Package reexec holds what the helper processes tracep starts from its own
// executable share (the TLS hold watchdog, the hand-off child that detaches
// uprobes after an exit): whether the process has an executable to run
// again, and the helper's first chore, closing what it inherited by
// accident. Each helper recognises itself in its own package's init
// function, before main.
package reexec
