// Package handoff lets a process about to exit close kernel objects
// without waiting for what their release waits for.
//
// Closing the last descriptor of a uprobe's BPF link unregisters the
// uprobe, which waits for two of the kernel's grace periods (RCU Tasks
// Trace and the uretprobes' SRCU): 60-100 ms here, most of the time
// `tracep tls -- true` takes. A process that exits with the link still
// open waits just as long: the kernel releases its files before it
// reports the exit to its parent. So [Close] gives the descriptors to a
// child process first: the child inherits them, this process closes its
// own (no longer the last, so at once) and lets the child know, and the
// child exits, its exit releasing them, while nobody waits for it.
//
// The child is this process's own executable run again (/proc/self/exe),
// recognised by its argv[0] and environment in this package's init
// function, before main: any program linking this package can hand off
// without calling anything else. It shows as "tracep-handoff PID" in
// ps -f (PID being the process that handed off), runs in a session of its
// own, closes the descriptors it inherited by accident (a pipe's write end
// its parent's parent waits on) and keeps no standard stream open, so
// that a pipeline reading tracep's output ends when tracep does. Killed,
// it releases the objects as its exit would. Where no child can be
// started (a program built as a C library), Close reports it and the
// caller closes the objects itself.
package handoff
