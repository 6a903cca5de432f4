package cafetch

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
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

var (
	pemBegin = []byte("-----BEGIN CERTIFICATE-----")
	pemEnd   = []byte("-----END CERTIFICATE-----")
)

// subjectPrefix is how much of a certificate's base64 is decoded first:
// its subject usually lies within the first few hundred bytes.
const subjectPrefix = 1024

// addMatching adds the certificates of PEM data whose subject is one of
// issuers. A bundle holds ~150 certificates and a chain names one or two
// issuers: each block is only found, and the start of its base64 decoded
// for the subject (pem.Decode would decode every block whole, about
// 1 ms per bundle here); a block with headers (encrypted) is skipped.
func addMatching(pool *x509.CertPool, data []byte, issuers [][]byte) {
	var b64, der []byte
	for {
		i := bytes.Index(data, pemBegin)
		if i < 0 {
			return
		}
		body := data[i+len(pemBegin):]
		j := bytes.Index(body, pemEnd)
		if j < 0 {
			return
		}
		body, data = body[:j], body[j+len(pemEnd):]
		if bytes.IndexByte(body, ':') >= 0 {
			continue
		}
		b64 = appendBase64(b64[:0], body, subjectPrefix)
		subj, err := decodeSubject(&der, b64, true)
		if errors.Is(err, errShort) {
			b64 = appendBase64(b64[:0], body, len(body))
			subj, err = decodeSubject(&der, b64, false)
		}
		if err != nil || !containsBytes(issuers, subj) {
			continue
		}
		b64 = appendBase64(b64[:0], body, len(body))
		full := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
		n, err := base64.StdEncoding.Decode(full, b64)
		if err != nil {
			continue
		}
		if c, err := x509.ParseCertificate(full[:n]); err == nil {
			pool.AddCert(c)
		}
	}
}

// appendBase64 appends to dst the base64 characters of body, without its
// white space, at most limit of them, a multiple of 4 when cut.
func appendBase64(dst, body []byte, limit int) []byte {
	for _, c := range body {
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			continue
		}
		if len(dst) == limit {
			return dst[:len(dst)&^3]
		}
		dst = append(dst, c)
	}
	return dst
}

// decodeSubject decodes b64 into *der and returns the raw subject; with
// partial, b64 may be the start of the certificate's encoding only, and
// errShort says when the subject lies beyond it.
func decodeSubject(der *[]byte, b64 []byte, partial bool) ([]byte, error) {
	n := base64.StdEncoding.DecodedLen(len(b64))
	if cap(*der) < n {
		*der = make([]byte, n)
	}
	m, err := base64.StdEncoding.Decode((*der)[:n], b64)
	if err != nil {
		return nil, err
	}
	return rawSubject((*der)[:m], partial)
}

func containsBytes(list [][]byte, b []byte) bool {
	for _, x := range list {
		if bytes.Equal(x, b) {
			return true
		}
	}
	return false
}

var (
	errDER   = errors.New("bad certificate DER")
	errShort = fmt.Errorf("%w: cut short", errDER)
)

// rawSubject returns the DER of a certificate's subject without parsing
// the rest: Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0]
// version OPTIONAL, serialNumber, signature, issuer, validity, subject, … } }.
// With partial, der may be the certificate's start only (the lengths of
// the two outer elements are not checked), and errShort says that the
// subject lies beyond it.
func rawSubject(der []byte, partial bool) ([]byte, error) {
	rest := der
	for range 2 { // certificate, tbsCertificate
		el, _, err := derElement(rest)
		switch {
		case err == nil:
			rest = derContent(el)
		case partial && errors.Is(err, errShort):
			if rest, err = derInside(rest); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
	}
	var err error
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

// derInside returns what follows the header of b's first element, however
// much of its content b holds.
func derInside(b []byte) ([]byte, error) {
	hdr, _, err := derHeader(b)
	if err != nil {
		return nil, err
	}
	return b[hdr:], nil
}

// derElement splits b into its first TLV element (tag, length and
// content, as the raw bytes x509 keeps) and what follows; errShort when b
// ends within it.
func derElement(b []byte) (el, rest []byte, err error) {
	hdr, n, err := derHeader(b)
	if err != nil {
		return nil, nil, err
	}
	if len(b)-hdr < n {
		return nil, nil, errShort
	}
	return b[:hdr+n], b[hdr+n:], nil
}

// derHeader returns the length of the header of b's first element (tag
// and length) and of its content.
func derHeader(b []byte) (hdr, n int, err error) {
	if len(b) < 2 {
		return 0, 0, errShort
	}
	if b[0]&0x1f == 0x1f {
		return 0, 0, errDER
	}
	n, hdr = int(b[1]), 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 3 {
			return 0, 0, errDER
		}
		if len(b) < 2+k {
			return 0, 0, errShort
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		hdr += k
	}
	return hdr, n, nil
}

// derContent returns the content of an element derElement returned.
func derContent(el []byte) []byte {
	if el[1]&0x80 == 0 {
		return el[2:]
	}
	return el[2+int(el[1]&0x7f):]
}
