package cafetch

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// bundleFiles are the system trust bundles, in crypto/x509's order on Linux.
var bundleFiles = []string{
	"/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Gentoo, Arch
	"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora, RHEL 6
	"/etc/ssl/ca-bundle.pem",                            // OpenSUSE
	"/etc/pki/tls/cacert.pem",                           // OpenELEC
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS, RHEL 7
	"/etc/ssl/cert.pem",                                 // Alpine
}

var systemPool = sync.OnceValues(x509.SystemCertPool)

// systemRootsFor returns a pool holding the system roots that could sign
// one of certs: those whose subject is one of their issuers. Chain building
// can use no other root, so verifying against it gives the same answer as
// verifying against every system root, for a fraction of the cost: a Go
// process that loads all system roots parses some 150 certificates from the
// bundle and again from /etc/ssl/certs, 11-15 ms here, most of `tracep ca`.
//
// The bundle is the one SSL_CERT_FILE names or the first of bundleFiles,
// plus the directories SSL_CERT_DIR names other than the bundle's own;
// the default directory is not read (update-ca-certificates builds the
// bundle from it). When neither
// exists it falls back to crypto/x509's own system pool.
func systemRootsFor(certs []*x509.Certificate) (*x509.CertPool, error) {
	issuers := make([][]byte, 0, len(certs))
	for _, c := range certs {
		issuers = append(issuers, c.RawIssuer)
	}
	pool := x509.NewCertPool()
	files := bundleFiles
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		files = []string{f}
	}
	found, bundleDir := false, ""
	for _, f := range files {
		if data, err := os.ReadFile(f); err == nil {
			addMatching(pool, data, issuers)
			found, bundleDir = true, filepath.Dir(f)
			break
		}
	}
	// Like crypto/x509, read the directories SSL_CERT_DIR names too. A
	// directory that holds a system bundle (Debian's /etc/ssl/certs, where
	// update-ca-certificates builds ca-certificates.crt from the directory)
	// is read through that one file: its ~150 files cost 5-8 ms more.
	if d := os.Getenv("SSL_CERT_DIR"); d != "" {
		for _, dir := range filepath.SplitList(d) {
			dir = filepath.Clean(dir)
			if dir == bundleDir {
				continue
			}
			if data := dirBundle(dir); data != nil {
				addMatching(pool, data, issuers)
				found = true
				continue
			}
			ents, err := os.ReadDir(dir)
			if err != nil {
				continue
			}
			found = true
			for _, e := range ents {
				if skipDirEntry(dir, e) {
					continue
				}
				if data, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
					addMatching(pool, data, issuers)
				}
			}
		}
	}
	if !found {
		return systemPool()
	}
	return pool, nil
}

// dirBundle returns the contents of the system bundle kept in dir, if any.
func dirBundle(dir string) []byte {
	for _, f := range bundleFiles {
		if filepath.Dir(f) == dir {
			if data, err := os.ReadFile(f); err == nil {
				return data
			}
		}
	}
	return nil
}

// skipDirEntry skips what crypto/x509 skips in a certificate directory:
// symbolic links to files of the same directory (OpenSSL's hash links), so
// that each certificate is read once.
func skipDirEntry(dir string, e os.DirEntry) bool {
	if e.Type()&os.ModeSymlink == 0 {
		return e.IsDir()
	}
	target, err := os.Readlink(filepath.Join(dir, e.Name()))
	return err == nil && !filepath.IsAbs(target) && !strings.Contains(target, "/")
}

// addMatching adds the certificates of PEM data whose subject is one of
// issuers, without parsing the others.
func addMatching(pool *x509.CertPool, data []byte, issuers [][]byte) {
	for len(data) > 0 {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			return
		}
		if blk.Type != "CERTIFICATE" || len(blk.Headers) != 0 {
			continue
		}
		subj, err := rawSubject(blk.Bytes)
		if err != nil || !containsBytes(issuers, subj) {
			continue
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
			pool.AddCert(c)
		}
	}
}

func containsBytes(list [][]byte, b []byte) bool {
	for _, x := range list {
		if bytes.Equal(x, b) {
			return true
		}
	}
	return false
}

var errDER = errors.New("bad certificate DER")

// rawSubject returns the DER of a certificate's subject without parsing
// the rest: Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0]
// version OPTIONAL, serialNumber, signature, issuer, validity, subject, … } }.
func rawSubject(der []byte) ([]byte, error) {
	cert, _, err := derElement(der)
	if err != nil {
		return nil, err
	}
	tbs, _, err := derElement(derContent(cert))
	if err != nil {
		return nil, err
	}
	rest := derContent(tbs)
	if len(rest) > 0 && rest[0] == 0xa0 { // explicit [0] version
		if _, rest, err = derElement(rest); err != nil {
			return nil, err
		}
	}
	var el []byte
	for i := 0; i < 5; i++ { // serial, signature, issuer, validity, subject
		if el, rest, err = derElement(rest); err != nil {
			return nil, err
		}
	}
	return el, nil
}

// derElement splits b into its first TLV element (tag, length and
// content, as the raw bytes x509 keeps) and what follows.
func derElement(b []byte) (el, rest []byte, err error) {
	if len(b) < 2 || b[0]&0x1f == 0x1f {
		return nil, nil, errDER
	}
	n, hdr := int(b[1]), 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 3 || len(b) < 2+k {
			return nil, nil, errDER
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		hdr += k
	}
	if len(b)-hdr < n {
		return nil, nil, errDER
	}
	return b[:hdr+n], b[hdr+n:], nil
}

// derContent returns the content of an element derElement returned.
func derContent(el []byte) []byte {
	if el[1]&0x80 == 0 {
		return el[2:]
	}
	return el[2+int(el[1]&0x7f):]
}
