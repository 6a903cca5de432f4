package dnstrace

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTypeName(t *testing.T) {
	for typ, name := range map[uint16]string{
		TypeA: "A", TypeNS: "NS", TypeCNAME: "CNAME", TypeSOA: "SOA", TypePTR: "PTR",
		TypeMX: "MX", TypeTXT: "TXT", TypeAAAA: "AAAA", TypeSRV: "SRV", TypeNAPTR: "NAPTR",
		TypeDNAME: "DNAME", TypeOPT: "OPT", TypeDS: "DS", TypeRRSIG: "RRSIG", TypeNSEC: "NSEC",
		TypeDNSKEY: "DNSKEY", TypeSVCB: "SVCB", TypeHTTPS: "HTTPS", TypeANY: "ANY", TypeCAA: "CAA",
		23: "NSAP-PTR", 32768: "TA", 32769: "DLV",
		0: "TYPE0", 54: "TYPE54", 65534: "TYPE65534", 65535: "TYPE65535",
	} {
		require.Equal(t, name, TypeName(typ))
		got, ok := ParseTypeName(name)
		require.True(t, ok, name)
		require.Equal(t, typ, got, name)
	}
	for typ := range 1 << 16 {
		got, ok := ParseTypeName(TypeName(uint16(typ)))
		require.True(t, ok)
		require.Equal(t, uint16(typ), got)
	}
	for _, s := range []string{"aaaa", "Https", "type28"} {
		_, ok := ParseTypeName(s)
		require.True(t, ok, s)
	}
	for _, s := range []string{"", "TYPE", "TYPE65536", "TYPE-1", "TYPE+1", "TYPE01", "AAAAA", "type 1", "A "} {
		_, ok := ParseTypeName(s)
		require.False(t, ok, s)
	}
}

func TestRCodeName(t *testing.T) {
	for rc, name := range map[uint16]string{
		0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
		6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE", 16: "BADVERS",
		23: "BADCOOKIE", 12: "RCODE12", 4095: "RCODE4095",
	} {
		require.Equal(t, name, RCodeName(rc))
		got, ok := ParseRCodeName(name)
		require.True(t, ok)
		require.Equal(t, rc, got)
	}
	_, ok := ParseRCodeName("nxdomain")
	require.True(t, ok)
	_, ok = ParseRCodeName("NXDOMAINX")
	require.False(t, ok)
}

func TestClassAndOpcodeNames(t *testing.T) {
	require.Equal(t, "IN", ClassName(ClassIN))
	require.Equal(t, "CH", ClassName(ClassCH))
	require.Equal(t, "CLASS2", ClassName(2))
	require.Equal(t, "QUERY", OpcodeName(0))
	require.Equal(t, "NOTIFY", OpcodeName(4))
	require.Equal(t, "OPCODE3", OpcodeName(3))
}

func TestTypeNameDoesNotAllocate(t *testing.T) {
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = TypeName(TypeHTTPS) }))
}
