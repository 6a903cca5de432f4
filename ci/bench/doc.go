// Command bench measures what each tracep tracer costs and loses on fixed
// workloads, the way the reference tool's benchmark does, and prints a
// Markdown table to paste into the README.
//
// For each tracer it starts `tracep <kind> -p PID` on a workload that waits
// on its standard input, waits for the tracer to say it is armed (the arm
// time), reads the tracer's memory and threads at rest, releases the
// workload, waits for it, stops the tracer with SIGINT (it drains and
// exits) and takes the tracer's CPU (utime+stime) and peak RSS from its
// rusage. Events captured are counted from the tracer's JSON output against
// what the workload is known to cause. Each figure is the median of -runs
// runs, printed with its range.
//
// Workloads run on loopback or inside a hermetic network namespace
// (backends/testnet); nothing leaves the machine. Needs root.
//
//	go run ./ci/bench -tracep bin/tracep [-runs 5] [-scale 1] [-only exec,ca]
package main
