// Package integration tests, once for every kernel tracer alike, what
// each promises: a pid scope covers the processes already running below
// the pids, a process without privileges is told exactly which
// capabilities it lacks, and closing the last session leaves nothing
// attached or running. It holds only tests.
package integration
