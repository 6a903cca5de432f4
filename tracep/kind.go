package tracep

import "fmt"

// Kind names what an event observed. The values are the CLI verbs, the JSON
// "kind" field and the matcher keys: one vocabulary everywhere.
type Kind string

const (
	KindExec Kind = "exec" // a program was executed, failed to execute, or exited
	KindNet  Kind = "net"  // a TCP or UDP flow
	KindDNS  Kind = "dns"  // a DNS query and its answer
	KindTLS  Kind = "tls"  // TLS plaintext or handshake metadata
	KindCA   Kind = "ca"   // a certificate chain fetched from a server
	// KindTrace is a record about the trace itself, not about the traced
	// programs: events lost, processes left running, what the trace covers.
	KindTrace Kind = "trace"
)

// Kinds lists every kind in the order the CLI shows them.
func Kinds() []Kind { return []Kind{KindNet, KindTLS, KindDNS, KindExec, KindCA, KindTrace} }

// ParseKind returns the Kind named s, or an error wrapping [ErrInvalid].
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds() {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("kind %q: %w", s, ErrInvalid)
}
