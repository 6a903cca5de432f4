// Command bench measures what each tracep tracer costs and loses on fixed
// workloads, the way the reference tool's benchmark does, and prints
// Markdown tables to paste into the README.
//
// Each workload runs in one of two scopes. Scoped (-p): the tracer traces
// the workload's pid tree, bursts of events. System: the tracer traces the
// whole system, as the reference does, while the workload makes events
// spread out as real programs do (getent lookups one after another, with
// or without a helper process and unrelated datagrams; paced connects;
// execs). Other activity on the machine is then traced too: its CPU is
// charged to the tracer, only the workload's events are counted.
//
// For each workload it starts `tracep <kind> [-p PID]` on a workload that
// waits on its standard input, waits for the tracer to say it is armed
// (the arm time), reads the tracer's memory and threads at rest, releases
// the workload, waits for it and for every expected event to be in the
// tracer's output (the CPU during the workload, from the threads'
// schedstat), stops the tracer with SIGINT (it drains and exits) and takes
// the tracer's CPU (utime+stime) from its rusage, and its peak RSS from
// the tracer itself (TRACEP_STARTUP's exit line: the rusage of a process
// started by a larger one counts the starter's peak). CPU per event is
// the CPU during the workload over the workload's events, then over every
// event the tracer reported. Events captured are counted from the
// tracer's output against what the workload is known to cause. tracep ca
// is measured as run through tracep (handed over to tracep-full, beside
// it) and as tracep-full. Then the start-up table: wall time, CPU and peak RSS
// of `tracep <kind> -- true`. Each figure is the median of -runs runs,
// printed with its range.
//
// Workloads run on loopback or inside a hermetic network namespace
// (backends/testnet) whose resolver is on its own loopback; nothing leaves
// the machine. Needs root.
//
//	go run ./ci/bench -tracep bin/tracep [-runs 5] [-scale 1] [-only exec,dns,startup] [-mode scoped|system]
package main
