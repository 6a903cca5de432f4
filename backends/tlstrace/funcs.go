package tlstrace

// Libraries, as tracep.TLS.Library names them.
const (
	LibOpenSSL = "openssl" // libssl 1.1 and 3.x, or OpenSSL linked into a program
	LibGnuTLS  = "gnutls"  // libgnutls 3.x
	LibGo      = "go"      // Go's crypto/tls
	// LibWire marks a handshake seen on the wire: a ClientHello written to
	// a TCP socket, whatever library wrote it.
	LibWire = "wire"
)

// fnID identifies a probed function; it is the low byte of a probe's cookie
// and the fn field of a record (TLSX_FN_* in bpf/tls.bpf.c).
type fnID uint8

const (
	fnSSLWrite        fnID = 1
	fnSSLWriteEx      fnID = 2
	fnSSLRead         fnID = 3
	fnSSLReadEx       fnID = 4
	fnSSLHandshake    fnID = 5
	fnSSLCtrl         fnID = 6
	fnSSLFree         fnID = 7
	fnGnuTLSSend      fnID = 16
	fnGnuTLSRecv      fnID = 17
	fnGnuTLSHandshake fnID = 18
	fnGnuTLSSNI       fnID = 19
	fnGnuTLSDeinit    fnID = 20
	fnGoWrite         fnID = 32
	fnGoRead          fnID = 33
	fnGoWriteRet      fnID = 34
	fnGoReadRet       fnID = 35
	// The fn of a ClientHello record: the system call that wrote it.
	fnWireWrite   fnID = 48
	fnWireSendto  fnID = 49
	fnWireWritev  fnID = 50
	fnWireSendmsg fnID = 51
)

// Names of the Go functions probed.
const (
	goWriteSym = "crypto/tls.(*Conn).Write"
	goReadSym  = "crypto/tls.(*Conn).Read"
)

// funcNames are the names of the library functions, as events report them.
var funcNames = map[fnID]string{
	fnSSLWrite:        "SSL_write",
	fnSSLWriteEx:      "SSL_write_ex",
	fnSSLRead:         "SSL_read",
	fnSSLReadEx:       "SSL_read_ex",
	fnSSLHandshake:    "SSL_do_handshake",
	fnSSLCtrl:         "SSL_ctrl",
	fnSSLFree:         "SSL_free",
	fnGnuTLSSend:      "gnutls_record_send",
	fnGnuTLSRecv:      "gnutls_record_recv",
	fnGnuTLSHandshake: "gnutls_handshake",
	fnGnuTLSSNI:       "gnutls_server_name_set",
	fnGnuTLSDeinit:    "gnutls_deinit",
	fnGoWrite:         goWriteSym,
	fnGoRead:          goReadSym,
	fnGoWriteRet:      goWriteSym,
	fnGoReadRet:       goReadSym,
}

// libName names the library of a record (TLSX_LIB_*).
func libName(code uint32) string {
	switch code {
	case 1:
		return LibOpenSSL
	case 2:
		return LibGnuTLS
	case 3:
		return LibGo
	case 4:
		return LibWire
	}
	return ""
}

// probeSpec is a function of a C library to probe: at entry always, and at
// return when ret is set.
type probeSpec struct {
	sym      string
	fn       fnID
	ret      bool
	required bool // without it the library is not probed at all
}

var opensslProbes = []probeSpec{
	{sym: "SSL_write", fn: fnSSLWrite, ret: true, required: true},
	{sym: "SSL_read", fn: fnSSLRead, ret: true, required: true},
	{sym: "SSL_write_ex", fn: fnSSLWriteEx, ret: true}, // 1.1.1 and later
	{sym: "SSL_read_ex", fn: fnSSLReadEx, ret: true},
	{sym: "SSL_do_handshake", fn: fnSSLHandshake, ret: true},
	{sym: "SSL_ctrl", fn: fnSSLCtrl},
	{sym: "SSL_free", fn: fnSSLFree},
}

var gnutlsProbes = []probeSpec{
	{sym: "gnutls_record_send", fn: fnGnuTLSSend, ret: true, required: true},
	{sym: "gnutls_record_recv", fn: fnGnuTLSRecv, ret: true, required: true},
	{sym: "gnutls_handshake", fn: fnGnuTLSHandshake, ret: true},
	{sym: "gnutls_server_name_set", fn: fnGnuTLSSNI},
	{sym: "gnutls_deinit", fn: fnGnuTLSDeinit},
}
