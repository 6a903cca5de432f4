package exectrace

// The generated exec_x86_bpfel.{go,o} are committed, so building needs no
// clang; `make generate` (go generate ./backends/...) rebuilds them and needs
// clang, llvm-strip and the libbpf headers (libbpf-dev). trimlines then
// keeps only the source lines at functions' starts (package btfext).

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go@v0.22.0 -target amd64 -tags linux -cc clang -cflags "-O2 -g -Wall -Werror" -type exec_rec exec bpf/exec.bpf.c -- -I../internal/bpfcore/bpf
//go:generate go run ../internal/btfext/trimlines exec_x86_bpfel.o
