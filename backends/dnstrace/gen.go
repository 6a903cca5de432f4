package dnstrace

// The generated dns_x86_bpfel.{go,o} are committed, so building needs no
// clang; `make generate` (go generate ./backends/...) rebuilds them and needs
// clang, llvm-strip and the libbpf headers (libbpf-dev). -mcpu=v3 for the
// compare-and-swap that claims a record buffer. trimlines then keeps only
// the source lines at functions' starts (package btfext).

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go@v0.22.0 -target amd64 -tags linux -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3" -type dns_rec dns bpf/dns.bpf.c -- -I../internal/bpfcore/bpf -I./bpf
//go:generate go run ../internal/btfext/trimlines dns_x86_bpfel.o
