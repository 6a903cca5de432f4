// Package backends names tracep's kernel tracers and starts them by kind,
// explicitly and without init-time registration. Each tracer is a package
// below this one: exectrace, nettrace, dnstrace and tlstrace, which share
// the BPF machinery of internal/bpfcore, and cafetch, the CA chain
// fetcher, which needs no kernel support.
//
// Beside them are what they and their tests need: cgroup finds cgroup v2
// directories and makes throwaway ones, testnet is a hermetic fake
// internet in a network namespace, internal/procfs walks the process tree
// and internal/integration tests what every tracer promises alike.
package backends
