package tracep

import (
	"fmt"
	"time"
)

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

// Kind is KindCA.
func (c *Chain) Kind() Kind { return KindCA }

// Text: "ca example.test:443 3 certs, verified" or "..., not verified: why".
func (c *Chain) Text() string {
	s := c.Stable()
	if !c.Verified && c.VerifyError != "" {
		s += ": " + Escape(c.VerifyError)
	}
	return s
}

// Stable is Text without the verification error's wording.
func (c *Chain) Stable() string {
	verified := "verified"
	if !c.Verified {
		verified = "not verified"
	}
	return fmt.Sprintf("ca %s:%d %d certs, %s", Escape(c.Host), c.Port, len(c.Certs), verified)
}

// IsAction: a fetched chain is tracep's own doing, not the program's.
func (c *Chain) IsAction() bool { return false }

// DerivedKeys: none.
func (c *Chain) DerivedKeys(func(key, value string)) {}

// Incomplete: a chain is whole or not reported.
func (c *Chain) Incomplete() string { return "" }

// AuditKeys: none.
func (c *Chain) AuditKeys() []string { return nil }

// CutKeys: none.
func (c *Chain) CutKeys() []string { return nil }

// Place keeps the time order.
func (c *Chain) Place() (Place, string) { return PlaceInOrder, "" }
