package nettrace

// The generated net_x86_bpfel.{go,o} are committed, so building needs no
// clang; `make generate` (go generate ./backends/...) rebuilds them and needs
// clang, llvm-strip and the libbpf headers (libbpf-dev). trimlines then
// keeps only the source lines at functions' starts (package btfext).

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go@v0.22.0 -target amd64 -tags linux -cc clang -cflags "-O2 -g -Wall -Werror" -type net_rec -type tpn_ctl net bpf/net.bpf.c -- -I../internal/bpfcore/bpf -I./bpf
//go:generate go run ../internal/btfext/trimlines net_x86_bpfel.o
