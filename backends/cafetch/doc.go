// Package cafetch fetches the certificate chain a TLS server presents, the
// way `tracep ca` shows and saves it.
//
// It is pure Go and portable: it dials, completes a TLS handshake bounded by
// the same deadline as the dial, records the chain in the order the server
// sent it, says whether that chain verifies for the host against the system
// roots (or a pool the caller gives), and can fetch the issuer of the topmost
// certificate from its AIA caIssuers URL.
package cafetch
