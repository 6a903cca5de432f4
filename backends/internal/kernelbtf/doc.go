// Package kernelbtf cuts the kernel's BTF down to what tracep's programs
// load against.
//
// Loading a program that uses CO-RE relocations or attaches to a typed
// tracepoint needs the kernel's BTF, and github.com/cilium/ebpf decodes all
// of it (5 MB, 125,000 types here): ~15 ms of CPU at every start, and
// inflating one tracepoint's type pulls in the whole graph reachable from
// struct task_struct, ~13 ms more and 4 MB. The programs need a few
// structs' layouts and the IDs of a few typedefs. [Reduce] scans the raw
// BTF once without decoding it and writes a BTF blob holding exactly
// those, each typedef tagged with its kernel ID ([IDTag]): 26–76 KB for
// tracep's sets of tracers here, ~5 ms with cilium/ebpf's decoding of the
// result, against ~29 ms for the whole (BenchmarkKernel).
//
// Reduce is a pure function of its input, which it validates as it goes: a
// malformed or unknown BTF is an error (ErrMalformed), never a panic, and
// the caller then decodes the kernel's BTF whole.
package kernelbtf
