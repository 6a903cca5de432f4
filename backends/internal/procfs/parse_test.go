package procfs

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParsePPID(t *testing.T) {
	for _, tc := range []struct {
		name, stat string
		want       int // -1: malformed
	}{
		{"plain", "1234 (sleep) S 1200 1234 1200 0 -1 4194560", 1200},
		{"init", "1 (systemd) S 0 1 1 0 -1", 0},
		{"comm with spaces and parens", "77 (a) b (c)) R 42 77 77", 42},
		{"comm with newline", "77 (x\ny) S 9 1", 9},
		{"no comm", "77 sleep S 1", -1},
		{"no ppid", "77 (sleep) S", -1},
		{"bad ppid", "77 (sleep) S x1", -1},
		{"negative ppid", "77 (sleep) S -5", -1},
		{"empty", "", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePPID([]byte(tc.stat))
			if tc.want < 0 {
				require.ErrorIs(t, err, ErrMalformed)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func FuzzParsePPID(f *testing.F) {
	f.Add([]byte("1234 (sleep) S 1200 1234 1200 0 -1"))
	f.Add([]byte("77 (a) b (c)) R 42 77"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, stat []byte) {
		ppid, err := ParsePPID(stat)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		require.GreaterOrEqual(t, ppid, 0)
		// The ppid is the second field after the last ')'.
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
		require.Contains(t, rest, strconv.Itoa(ppid))
	})
}

func TestWalk(t *testing.T) {
	//  1 ─ 2 ─ 4
	//   └─ 3   5 ─ 6 (another tree)
	children := map[int][]int{1: {2, 3}, 2: {4}, 5: {6}}
	for _, tc := range []struct {
		roots, want []int
	}{
		{[]int{1}, []int{1, 2, 3, 4}},
		{[]int{2}, []int{2, 4}},
		{[]int{4, 2}, []int{4, 2}},
		{[]int{2, 5, 2}, []int{2, 5, 4, 6}},
		{[]int{99}, []int{99}},
		{[]int{}, nil},
	} {
		roots := append(make([]int, 0, 16), tc.roots...)
		require.Equal(t, tc.want, walk(roots, children), "roots %v", tc.roots)
		require.Equal(t, tc.roots, roots[:len(tc.roots)], "roots unchanged")
		require.Equal(t, make([]int, 16-len(tc.roots)), roots[len(tc.roots):16], "nothing written past the roots")
	}
}
