module github.com/tracep/tracep/examples

go 1.26.8

require (
	github.com/rogpeppe/go-internal v1.16.0
	github.com/tracep/tracep v0.0.0
)

require (
	github.com/cilium/ebpf v0.22.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/tools v0.40.1-0.20260108161641-ca281cf95054 // indirect
)

replace github.com/tracep/tracep => ../
