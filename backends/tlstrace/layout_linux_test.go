package tlstrace

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// decode.go's offsets match struct tls_rec as clang laid it out (bpf2go
// generated tlsTlsRec from the object's BTF).
func TestRecordLayout(t *testing.T) {
	var r tlsTlsRec
	require.Equal(t, uintptr(recHeaderSize), unsafe.Sizeof(r))
	for name, c := range map[string][2]uintptr{
		"ktime":     {offKtime, unsafe.Offsetof(r.Ktime)},
		"cgroup_id": {offCgroupID, unsafe.Offsetof(r.CgroupId)},
		"conn":      {offConn, unsafe.Offsetof(r.Conn)},
		"len":       {offLen, unsafe.Offsetof(r.Len)},
		"type":      {offType, unsafe.Offsetof(r.Type)},
		"pid":       {offPID, unsafe.Offsetof(r.Pid)},
		"tid":       {offTID, unsafe.Offsetof(r.Tid)},
		"ppid":      {offPPID, unsafe.Offsetof(r.Ppid)},
		"uid":       {offUID, unsafe.Offsetof(r.Uid)},
		"lib":       {offLib, unsafe.Offsetof(r.Lib)},
		"fn":        {offFn, unsafe.Offsetof(r.Fn)},
		"flags":     {offFlags, unsafe.Offsetof(r.Flags)},
		"fd":        {offFD, unsafe.Offsetof(r.Fd)},
		"data_len":  {offDataLen, unsafe.Offsetof(r.DataLen)},
		"netns":     {offNetns, unsafe.Offsetof(r.Addr) + unsafe.Offsetof(r.Addr.Netns)},
		"family":    {offFamily, unsafe.Offsetof(r.Addr) + unsafe.Offsetof(r.Addr.Family)},
		"sport":     {offSport, unsafe.Offsetof(r.Addr) + unsafe.Offsetof(r.Addr.Sport)},
		"dport":     {offDport, unsafe.Offsetof(r.Addr) + unsafe.Offsetof(r.Addr.Dport)},
		"saddr":     {offSaddr, unsafe.Offsetof(r.Addr) + unsafe.Offsetof(r.Addr.Saddr)},
		"daddr":     {offDaddr, unsafe.Offsetof(r.Addr) + unsafe.Offsetof(r.Addr.Daddr)},
		"comm":      {offComm, unsafe.Offsetof(r.Comm)},
	} {
		require.Equal(t, c[1], c[0], name)
	}
	var k tlsTlsxFileKey
	require.Equal(t, uintptr(16), unsafe.Sizeof(k))
}
