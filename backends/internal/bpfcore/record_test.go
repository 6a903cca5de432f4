package bpfcore

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

func TestCString(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "",
		"curl\x00\x00\x00": "curl",
		"\x00junk":         "",
		"no-nul":           "no-nul",
		"a\x00b\x00":       "a",
	} {
		require.Equal(t, want, CString([]byte(in)), "%q", in)
	}
}

func TestProcFields(t *testing.T) {
	p := tracep.Proc{PID: 100, TID: 101, PPID: 7, UID: 1000, CgroupID: 1 << 40, Comm: "curl"}
	for _, tc := range []struct {
		name string
		f    ProcFields
		end  int
	}{
		{"exec", ProcFields{PID: 12, TID: 16, PPID: 20, UID: 24, CgroupID: 32, Comm: 40}, 56},
		{"owner", OwnerAt(40), 80},
		{"tls", ProcFields{CgroupID: 8, PID: 36, TID: 40, PPID: 44, UID: 48, Comm: 116}, 132},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.end, tc.f.End())
			rec := make([]byte, tc.f.End())
			tc.f.Put(rec, p)
			require.Equal(t, p, tc.f.Proc(rec))
		})
	}
	// A comm of the full 16 bytes has no NUL; a negative pid stays one.
	rec := make([]byte, OwnerAt(0).End())
	long := tracep.Proc{PID: -1, Comm: strings.Repeat("c", CommLen)}
	OwnerAt(0).Put(rec, long)
	require.Equal(t, long, OwnerAt(0).Proc(rec))
}

func FuzzProcFields(f *testing.F) {
	f.Add(make([]byte, 64), uint8(0))
	f.Add([]byte("0123456789abcdef0123456789abcdefcurl\x00"), uint8(4))
	f.Fuzz(func(t *testing.T, rec []byte, off uint8) {
		fields := OwnerAt(int(off))
		if len(rec) < fields.End() {
			return
		}
		p := fields.Proc(rec)
		require.LessOrEqual(t, len(p.Comm), CommLen)
		require.NotContains(t, p.Comm, "\x00")
		require.True(t, strings.HasPrefix(string(rec[fields.Comm:]), p.Comm))
	})
}

func TestFieldOffsets(t *testing.T) {
	type inner struct {
		_   struct{}
		A   uint16
		Pad uint16
		B   [3]uint8
	}
	type rec struct {
		_     struct{}
		X     uint64
		In    inner
		Comm  [CommLen]int8
		Pad2  uint32
		Final uint32
	}
	offsets := map[string]int{"X": 0, "In.A": 8, "In.B": 12, "Comm": 16, "Final": 36}
	require.Equal(t, offsets, FieldOffsets(rec{}))
	require.NoError(t, CheckLayout(rec{}, 40, offsets))
	require.Error(t, CheckLayout(rec{}, 36, offsets))
	offsets["Final"] = 32
	require.ErrorContains(t, CheckLayout(rec{}, 40, offsets), "Final:32")
}
