// Package cmdnet finds the network namespace a command was made to start
// in, without importing what made it.
//
// testnet's Net.Command makes a command that enters the namespace by
// itself (through nsenter); harness.Run starts such a command from inside
// the namespace instead, so that the step entering it is not in the trace.
// harness asks here rather than importing testnet, so that a program
// linking harness (the tracep binary) does not link testnet's servers and
// with them net/http and crypto/tls.
package cmdnet
