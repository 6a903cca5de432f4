// Package btfext trims the line info of a BPF object's .BTF.ext section.
//
// clang -g records a source line for nearly every instruction (2,671 in
// the net tracer's object). github.com/cilium/ebpf decodes each of them
// when it reads a spec and hands them to the kernel, which checks them, at
// every start: about 40 % of the time and memory of reading the spec, and
// 5–10 % of a tracer's start-up. Nothing reads them but a verifier log.
// The kernel needs a line at the first instruction of every function once
// a program carries any line info at all (cilium/ebpf adds lines for
// instructions it rewrites, as a failed CO-RE relocation), so [TrimLines]
// keeps those and drops the rest.
//
// `make generate` runs the trimlines command on each object bpf2go writes;
// to read a verifier log with every source line, regenerate without it.
//
// TrimLines is a pure function of its input, which it validates as it goes:
// a malformed section is an error (ErrMalformed), never a panic.
package btfext
