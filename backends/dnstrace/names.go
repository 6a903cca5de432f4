package dnstrace

import (
	"strconv"
	"strings"
)

// DNS resource record types this package renders or names often.
const (
	TypeA      uint16 = 1
	TypeNS     uint16 = 2
	TypeCNAME  uint16 = 5
	TypeSOA    uint16 = 6
	TypePTR    uint16 = 12
	TypeMX     uint16 = 15
	TypeTXT    uint16 = 16
	TypeAAAA   uint16 = 28
	TypeSRV    uint16 = 33
	TypeNAPTR  uint16 = 35
	TypeDNAME  uint16 = 39
	TypeOPT    uint16 = 41
	TypeDS     uint16 = 43
	TypeRRSIG  uint16 = 46
	TypeNSEC   uint16 = 47
	TypeDNSKEY uint16 = 48
	TypeSVCB   uint16 = 64
	TypeHTTPS  uint16 = 65
	TypeANY    uint16 = 255
	TypeCAA    uint16 = 257
)

// DNS classes.
const (
	ClassIN   uint16 = 1
	ClassCH   uint16 = 3
	ClassHS   uint16 = 4
	ClassNONE uint16 = 254
	ClassANY  uint16 = 255
)

// Response codes, including the extended ones carried by EDNS.
const (
	RCodeNoError  uint16 = 0
	RCodeFormErr  uint16 = 1
	RCodeServFail uint16 = 2
	RCodeNXDomain uint16 = 3
	RCodeNotImp   uint16 = 4
	RCodeRefused  uint16 = 5
	RCodeBadVers  uint16 = 16
)

// typeNames holds the IANA mnemonics of the types up to 269; TypeName adds
// the few above.
var typeNames = [...]string{
	1: "A", 2: "NS", 3: "MD", 4: "MF", 5: "CNAME", 6: "SOA", 7: "MB", 8: "MG",
	9: "MR", 10: "NULL", 11: "WKS", 12: "PTR", 13: "HINFO", 14: "MINFO",
	15: "MX", 16: "TXT", 17: "RP", 18: "AFSDB", 19: "X25", 20: "ISDN",
	21: "RT", 22: "NSAP", 23: "NSAP-PTR", 24: "SIG", 25: "KEY", 26: "PX",
	27: "GPOS", 28: "AAAA", 29: "LOC", 30: "NXT", 31: "EID", 32: "NIMLOC",
	33: "SRV", 34: "ATMA", 35: "NAPTR", 36: "KX", 37: "CERT", 38: "A6",
	39: "DNAME", 40: "SINK", 41: "OPT", 42: "APL", 43: "DS", 44: "SSHFP",
	45: "IPSECKEY", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 49: "DHCID",
	50: "NSEC3", 51: "NSEC3PARAM", 52: "TLSA", 53: "SMIMEA", 55: "HIP",
	56: "NINFO", 57: "RKEY", 58: "TALINK", 59: "CDS", 60: "CDNSKEY",
	61: "OPENPGPKEY", 62: "CSYNC", 63: "ZONEMD", 64: "SVCB", 65: "HTTPS",
	66: "DSYNC", 99: "SPF", 100: "UINFO", 101: "UID", 102: "GID",
	103: "UNSPEC", 104: "NID", 105: "L32", 106: "L64", 107: "LP",
	108: "EUI48", 109: "EUI64", 249: "TKEY", 250: "TSIG", 251: "IXFR",
	252: "AXFR", 253: "MAILB", 254: "MAILA", 255: "ANY", 256: "URI",
	257: "CAA", 258: "AVC", 259: "DOA", 260: "AMTRELAY", 261: "RESINFO",
	262: "WALLET", 263: "CLA", 264: "IPN",
}

// TypeName returns the mnemonic of record type t, e.g. "AAAA", or "TYPE%d"
// (RFC 3597) for a type without one. It does not allocate for named types.
func TypeName(t uint16) string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	switch t {
	case 32768:
		return "TA"
	case 32769:
		return "DLV"
	}
	return "TYPE" + strconv.Itoa(int(t))
}

// ParseTypeName is the inverse of TypeName, for filters: it accepts a
// mnemonic in any case ("aaaa", "HTTPS") or the generic form "TYPE65534".
func ParseTypeName(s string) (uint16, bool) {
	for t, n := range typeNames {
		if n != "" && strings.EqualFold(n, s) {
			return uint16(t), true
		}
	}
	switch {
	case strings.EqualFold(s, "TA"):
		return 32768, true
	case strings.EqualFold(s, "DLV"):
		return 32769, true
	}
	return parseGeneric(s, "TYPE")
}

// parseGeneric parses prefix followed by a decimal uint16, the prefix in any
// case, without signs or leading zeros beyond a single "0".
func parseGeneric(s, prefix string) (uint16, bool) {
	if len(s) <= len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return 0, false
	}
	digits := s[len(prefix):]
	if digits[0] < '0' || digits[0] > '9' || (len(digits) > 1 && digits[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 16)
	if err != nil {
		return 0, false
	}
	return uint16(n), true
}

var rcodeNames = [...]string{
	0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
	5: "REFUSED", 6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH",
	10: "NOTZONE", 11: "DSOTYPENI", 16: "BADVERS", 17: "BADKEY",
	18: "BADTIME", 19: "BADMODE", 20: "BADNAME", 21: "BADALG",
	22: "BADTRUNC", 23: "BADCOOKIE",
}

// RCodeName returns the mnemonic of response code rc, e.g. "NXDOMAIN", or
// "RCODE%d". rc is the 12-bit code combined with the EDNS extension, so 16
// is BADVERS (the TSIG meaning BADSIG does not arise in a message header).
func RCodeName(rc uint16) string {
	if int(rc) < len(rcodeNames) && rcodeNames[rc] != "" {
		return rcodeNames[rc]
	}
	return "RCODE" + strconv.Itoa(int(rc))
}

// ParseRCodeName is the inverse of RCodeName, in any case.
func ParseRCodeName(s string) (uint16, bool) {
	for rc, n := range rcodeNames {
		if n != "" && strings.EqualFold(n, s) {
			return uint16(rc), true
		}
	}
	return parseGeneric(s, "RCODE")
}

var classNames = [...]string{1: "IN", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}

// ClassName returns the mnemonic of class c, e.g. "IN", or "CLASS%d".
func ClassName(c uint16) string {
	if int(c) < len(classNames) && classNames[c] != "" {
		return classNames[c]
	}
	return "CLASS" + strconv.Itoa(int(c))
}

var opcodeNames = [...]string{0: "QUERY", 1: "IQUERY", 2: "STATUS", 4: "NOTIFY", 5: "UPDATE", 6: "DSO"}

// OpcodeName returns the mnemonic of opcode op, e.g. "QUERY", or "OPCODE%d".
func OpcodeName(op uint8) string {
	if int(op) < len(opcodeNames) && opcodeNames[op] != "" {
		return opcodeNames[op]
	}
	return "OPCODE" + strconv.Itoa(int(op))
}
