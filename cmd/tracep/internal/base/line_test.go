package base

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// line writes what fmt and clr wrote before it: the same padding (in runes
// for text, with the colour around it) and the same colour rule.
func TestLineMatchesFmt(t *testing.T) {
	for _, color := range []bool{false, true} {
		out := &sink{color: color}
		var l line
		for _, s := range []string{"", "curl", "exactly-12ch", "longer than twelve", "ünïcödé", "a\\x1b"} {
			for _, w := range []int{0, 4, 12} {
				l.start(out)
				l.padded(cBrCyan, s, w)
				require.Equal(t, out.clr(cBrCyan, fmt.Sprintf("%-*s", w, s)), string(l.b), "%q width %d colour %v", s, w, color)
				l.start(out)
				l.text(cRed, s)
				require.Equal(t, out.clr(cRed, s), string(l.b))
			}
		}
		for _, n := range []int64{0, 7, 930, 12345, 4194304, -1} {
			l.start(out)
			l.number(cYellow, n, 5)
			require.Equal(t, out.clr(cYellow, fmt.Sprintf("%5d", n)), string(l.b), "%d colour %v", n, color)
		}
	}
}
