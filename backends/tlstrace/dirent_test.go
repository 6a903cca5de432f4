package tlstrace

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
)

// dirent lays out one struct linux_dirent64 for name, padded to 8 bytes.
func dirent(name string) []byte {
	reclen := (direntHeader + len(name) + 1 + 7) &^ 7
	b := make([]byte, reclen)
	binary.NativeEndian.PutUint64(b, 42)
	binary.NativeEndian.PutUint16(b[16:], uint16(reclen))
	b[18] = 8 // DT_REG
	copy(b[direntHeader:], name)
	return b
}

func TestParseDirents(t *testing.T) {
	all := append(append(append([]byte(nil), dirent(".")...), dirent("libssl.so.3")...), dirent("a-name-longer-than-the-padding")...)
	for _, tc := range []struct {
		name string
		buf  []byte
		want []string
	}{
		{"entries", all, []string{".", "libssl.so.3", "a-name-longer-than-the-padding"}},
		{"empty", nil, nil},
		{"truncated record", all[:len(all)-3], []string{".", "libssl.so.3"}},
		{"short header", all[:10], nil},
		{"record length too small", func() []byte {
			b := dirent("x")
			binary.NativeEndian.PutUint16(b[16:], 3)
			return b
		}(), nil},
		{"name without its NUL", func() []byte {
			b := make([]byte, 24)
			binary.NativeEndian.PutUint16(b[16:], 24)
			copy(b[direntHeader:], "abcde")
			return b
		}(), []string{"abcde"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			parseDirents(tc.buf, func(name []byte) { got = append(got, string(name)) })
			assert.Equal(t, tc.want, got)
		})
	}
}

func FuzzParseDirents(f *testing.F) {
	f.Add(append(dirent("libgnutls.so.30"), dirent("x")...))
	f.Fuzz(func(t *testing.T, buf []byte) {
		n := 0
		parseDirents(buf, func(name []byte) {
			if len(name) > len(buf) {
				t.Fatalf("name of %d bytes from %d", len(name), len(buf))
			}
			n++
		})
		if n > len(buf)/direntHeader {
			t.Fatalf("%d entries from %d bytes", n, len(buf))
		}
	})
}
