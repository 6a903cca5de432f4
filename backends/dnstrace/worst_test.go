package dnstrace

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// worstCase is a 64 KiB message built to make Parse work and expand as
// much as it can: the question is a 255-octet name of fill octets (1003
// characters once escaped if fill is NUL), a NULL record holds a chain of
// 127 pointers to it, and every further answer's owner points into that
// chain at a different place. With prefix, each owner is a one-octet label
// before the pointer, so that its text cannot be shared and is copied
// (about 1 KiB of text for 14 octets of message with NULs, the most a name
// can expand); the name then has 254 octets, so the chain is one pointer
// shorter.
func worstCase(prefix bool, fill string) []byte {
	nul := func(n int) string { return strings.Repeat(fill, n) }
	last := 61
	if prefix {
		last = 59
	}
	b := newMsg(1, fQR, 1, 0, 0, 0).labels(nul(63), nul(63), nul(63), nul(last)).u8(0).q(10)
	chain := maxPointers - 1
	if prefix {
		chain--
	}
	var start int
	b.u8(0).rr(10, ClassIN, 0, func(b *builder) {
		start = b.off()
		b.ptr(12)
		for i := 1; i < chain; i++ {
			b.ptr(start + 2*(i-1))
		}
	})
	n := 1
	for i := 0; b.off()+14 <= MaxMessageSize; i++ {
		if prefix {
			b.labels("a")
		}
		b.ptr(start+2*(i%chain)).rr(10, ClassIN, 0, nil)
		n++
	}
	b.b[6], b.b[7] = byte(n>>8), byte(n)
	return b.bytes()
}

func TestParseWorstCase(t *testing.T) {
	for _, tt := range []struct {
		name   string
		prefix bool
		fill   string
		reject bool
	}{
		{"shared", false, "\x00", false},
		{"copied", true, "\x00", true},     // 72-fold: beyond the limit
		{"copied plain", true, "x", false}, // 18-fold
	} {
		msg := worstCase(tt.prefix, tt.fill)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m, err := Parse(msg)
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %d octets, %d answers, %d bytes allocated (%.0fx)",
			tt.name, len(msg), len(m.Answers), alloc, float64(alloc)/float64(len(msg)))
		if tt.reject {
			require.ErrorContains(t, err, "names expand beyond 32 times the message size", tt.name)
		} else {
			require.NoError(t, err, tt.name)
			require.Greater(t, len(m.Answers), 4000, tt.name)
			require.LessOrEqual(t, wireLen(t, m.Answers[len(m.Answers)-1].Name), 255)
		}
		// At most 32 times the message in text, allocated at most five
		// times over (doubling buffer growth, whose last step may allocate
		// twice what is used, and the final string), plus the answer slice
		// and the per-offset memo.
		require.Less(t, alloc, uint64(5*(textFloor+textRatio*len(msg))+32*len(msg)), tt.name)
	}
}

func BenchmarkParseWorstCase(b *testing.B) {
	for _, bm := range []struct {
		name   string
		prefix bool
		fill   string
	}{
		{"shared", false, "\x00"},
		{"copied", true, "\x00"},
		{"copied_plain", true, "x"},
	} {
		msg := worstCase(bm.prefix, bm.fill)
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			var p Parser
			for b.Loop() {
				_, _ = p.Parse(msg)
			}
		})
	}
}
