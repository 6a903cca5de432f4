package tracep

import (
	"net/netip"
	"time"
)

// SchemaVersion is the version of the JSON form of Event written on every line.
const SchemaVersion = 1

// Event is one observation. Exactly the payload named by Kind is non-nil.
type Event struct {
	// Schema is the JSON schema version; the encoder sets it.
	Schema int `json:"schema"`
	// Seq numbers the events of one trace from 1 in the order they are delivered.
	Seq uint64 `json:"seq"`
	// Kind says which payload is set.
	Kind Kind `json:"kind"`
	// KTime is the kernel's CLOCK_MONOTONIC timestamp in nanoseconds (0 when
	// the event did not come from the kernel). It orders events across tracers.
	KTime uint64 `json:"ktime_ns,omitempty"`
	// Time is the wall-clock time of the event.
	Time time.Time `json:"time"`
	// Proc is the process that caused the event; zero when unknown.
	Proc Proc `json:"proc"`

	Exec *Exec  `json:"exec,omitempty"`
	Net  *Net   `json:"net,omitempty"`
	DNS  *DNS   `json:"dns,omitempty"`
	TLS  *TLS   `json:"tls,omitempty"`
	CA   *Chain `json:"ca,omitempty"`
}

// Proc identifies a process. PID and PPID are thread-group ids as seen in the
// initial pid namespace; TID is the thread that acted.
type Proc struct {
	PID      int32  `json:"pid"`
	PPID     int32  `json:"ppid,omitempty"`
	TID      int32  `json:"tid,omitempty"`
	UID      uint32 `json:"uid"`
	Comm     string `json:"comm,omitempty"`
	CgroupID uint64 `json:"cgroup_id,omitempty"`
}

// Exec operations.
const (
	ExecOpExec = "exec" // a successful execve/execveat
	ExecOpFail = "fail" // an execve that returned an error (Errno says which)
	ExecOpExit = "exit" // the process (thread group) exited
)

// Exec is the payload of a KindExec event.
type Exec struct {
	Op string `json:"op"`
	// Filename is the path passed to execve (for a failed exec, the one that failed).
	Filename string `json:"filename,omitempty"`
	// Argv is read from the new process image, so it is what the program really got.
	Argv []string `json:"argv,omitempty"`
	// ArgvTruncated is set when argv did not fit the capture limit.
	ArgvTruncated bool `json:"argv_truncated,omitempty"`
	// Errno is the symbolic error of a failed exec, e.g. "ENOENT".
	Errno string `json:"errno,omitempty"`
	// ExitCode is the exit status of an exited process, or -1 when a signal ended it.
	ExitCode int `json:"exit_code,omitempty"`
	// Signal names the signal that ended the process, e.g. "SIGKILL".
	Signal string `json:"signal,omitempty"`
	// CoreDumped is set when the process dumped core.
	CoreDumped bool `json:"core_dumped,omitempty"`
	// Duration is how long the process ran (exit events only).
	Duration time.Duration `json:"duration_ns,omitempty"`
}

// Net operations.
const (
	NetOpConnect = "connect" // an outbound TCP connect or connected UDP socket
	NetOpAccept  = "accept"  // an inbound TCP connection accepted
	NetOpSend    = "send"    // the first UDP datagram of an unconnected flow
	NetOpState   = "state"   // a TCP state change
	NetOpClose   = "close"   // the flow ended
)

// Directions of a flow.
const (
	DirOut     = "out"
	DirIn      = "in"
	DirUnknown = "unknown"
)

// Net is the payload of a KindNet event.
type Net struct {
	Op    string         `json:"op"`
	Proto string         `json:"proto"` // "tcp" or "udp"
	Dir   string         `json:"dir"`
	Src   netip.AddrPort `json:"src"`
	Dst   netip.AddrPort `json:"dst"`
	// State is the TCP state after a state change, e.g. "ESTABLISHED".
	State string `json:"state,omitempty"`
	// Duration is the lifetime of a closed flow.
	Duration time.Duration `json:"duration_ns,omitempty"`
	// BytesSent and BytesReceived count payload bytes where the hooks allow.
	BytesSent     uint64 `json:"bytes_sent,omitempty"`
	BytesReceived uint64 `json:"bytes_received,omitempty"`
	// Errno is the symbolic error of a failed connect, e.g. "ECONNREFUSED".
	Errno string `json:"errno,omitempty"`
}

// DNS is the payload of a KindDNS event: one query, with its response when
// one arrived.
type DNS struct {
	ID        uint16         `json:"id"`
	Name      string         `json:"name"`
	Type      string         `json:"type"`                // "A", "AAAA", …, "TYPE65534"
	Transport string         `json:"transport,omitempty"` // "udp" or "tcp"
	Client    netip.AddrPort `json:"client"`
	Server    netip.AddrPort `json:"server"`
	// RCode is the response code name; empty when no response arrived.
	RCode     string        `json:"rcode,omitempty"`
	Answers   []DNSRecord   `json:"answers,omitempty"`
	Truncated bool          `json:"truncated,omitempty"` // the TC bit was set
	Answered  bool          `json:"answered"`
	Latency   time.Duration `json:"latency_ns,omitempty"`
}

// DNSRecord is one resource record of an answer section.
type DNSRecord struct {
	Name string `json:"name"`
	Type string `json:"type"`
	TTL  uint32 `json:"ttl"`
	// Data is the record's presentation form: an address, a name, quoted TXT strings…
	Data string `json:"data"`
}

// TLS operations.
const (
	TLSOpWrite     = "write"     // plaintext handed to the library (TX)
	TLSOpRead      = "read"      // plaintext returned by the library (RX)
	TLSOpHandshake = "handshake" // a handshake started, with the SNI when known
)

// TLS is the payload of a KindTLS event.
type TLS struct {
	Op       string `json:"op"`
	Library  string `json:"library,omitempty"` // "openssl", "gnutls", "go", "wire"
	Function string `json:"function,omitempty"`
	SNI      string `json:"sni,omitempty"`
	// Data is the captured plaintext (base64 in JSON); Len is the real length
	// of the call, which exceeds len(Data) when Truncated.
	Data      []byte         `json:"data,omitempty"`
	Len       int            `json:"len"`
	Truncated bool           `json:"truncated,omitempty"`
	Src       netip.AddrPort `json:"src,omitzero"`
	Dst       netip.AddrPort `json:"dst,omitzero"`
}

// Chain is the payload of a KindCA event: the certificate chain a server sent.
type Chain struct {
	Host  string `json:"host"`
	Port  int    `json:"port"`
	Addr  string `json:"addr,omitempty"` // the address connected to
	Certs []Cert `json:"certs"`
	// Verified reports whether the chain verified against the system roots
	// for Host; VerifyError says why not.
	Verified    bool   `json:"verified"`
	VerifyError string `json:"verify_error,omitempty"`
}

// Cert describes one certificate of a Chain.
type Cert struct {
	Role      string    `json:"role"` // "leaf", "intermediate CA", "root CA", "unknown"
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"` // hexadecimal
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	IsCA      bool      `json:"is_ca"`
	SHA256    string    `json:"sha256"` // hex fingerprint of the DER
	AIA       []string  `json:"aia,omitempty"`
	// Fetched is set for a certificate fetched over AIA rather than sent by the server.
	Fetched bool   `json:"fetched,omitempty"`
	PEM     string `json:"pem"`
}
