package tlstrace

import (
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// ldCache builds an ld.so.cache in glibc's new format, optionally after an
// old-format part, with x86-64 entries and one i386 entry.
func ldCache(old bool, entries ...ldCacheEntry) []byte {
	le := binary.LittleEndian
	var strs []byte
	type e struct{ flags, key, val uint32 }
	n := len(entries) + 1
	hdr := 48
	strBase := hdr + n*24
	var es []e
	add := func(s string) uint32 {
		off := uint32(strBase + len(strs))
		strs = append(strs, s...)
		strs = append(strs, 0)
		return off
	}
	for _, en := range entries {
		es = append(es, e{ldFlagELFLibc6 | ldFlagX8664, add(en.name), add(en.path)})
	}
	es = append(es, e{ldFlagELFLibc6 | 0x0800, add("libssl.so.3"), add("/usr/lib/i386-linux-gnu/libssl.so.3")})
	b := []byte(ldCacheNewMagic)
	b = le.AppendUint32(b, uint32(n))
	b = le.AppendUint32(b, uint32(len(strs)))
	b = append(b, make([]byte, hdr-len(b))...)
	for _, x := range es {
		b = le.AppendUint32(b, x.flags)
		b = le.AppendUint32(b, x.key)
		b = le.AppendUint32(b, x.val)
		b = le.AppendUint32(b, 0)
		b = le.AppendUint64(b, 0)
	}
	b = append(b, strs...)
	if old {
		prefix := []byte(ldCacheOldMagic + "\x00")
		prefix = le.AppendUint32(prefix, 1)
		prefix = append(prefix, make([]byte, 12)...) // one old entry
		for len(prefix)%8 != 0 {
			prefix = append(prefix, 0)
		}
		b = append(prefix, b...)
	}
	return b
}

func TestParseLDCache(t *testing.T) {
	want := []ldCacheEntry{
		{"libssl.so.3", "/lib/x86_64-linux-gnu/libssl.so.3"},
		{"libgnutls.so.30", "/lib/x86_64-linux-gnu/libgnutls.so.30"},
	}
	for _, old := range []bool{false, true} {
		got, err := parseLDCache(ldCache(old, want...))
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	for name, b := range map[string][]byte{
		"empty":       nil,
		"other magic": []byte("something else entirely, long enough to be a header......"),
		"cut":         ldCache(false, want...)[:60],
		"string past the end": func() []byte {
			b := ldCache(false, want...)
			binary.LittleEndian.PutUint32(b[48+4:], 1<<30)
			return b
		}(),
	} {
		_, err := parseLDCache(b)
		require.ErrorIs(t, err, errLDCache, name)
	}
}

// The machine's own cache, when it has one, lists libc.
func TestParseSystemLDCache(t *testing.T) {
	b, err := os.ReadFile("/etc/ld.so.cache")
	if err != nil {
		t.Skip("no /etc/ld.so.cache")
	}
	entries, err := parseLDCache(b)
	require.NoError(t, err)
	found := false
	for _, e := range entries {
		found = found || strings.HasPrefix(e.name, "libc.so.")
	}
	require.True(t, found, "libc not in %d entries", len(entries))
}

func FuzzParseLDCache(f *testing.F) {
	f.Add(ldCache(false, ldCacheEntry{"libssl.so.3", "/x"}))
	f.Add(ldCache(true, ldCacheEntry{"libgnutls.so.30", "/y"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := parseLDCache(b)
		if err != nil && entries != nil {
			t.Fatal("entries with an error")
		}
	})
}
