package backends

import (
	"io"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// The spill file never has a name, not even for an instant: a tracer
// killed while making it leaves nothing in the temporary directory.
func TestSpillFileHasNoName(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	f, err := spillFile()
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt([]byte("event"), 0)
	require.NoError(t, err)
	b := make([]byte, 5)
	_, err = io.ReadFull(io.NewSectionReader(f, 0, 5), b)
	require.NoError(t, err)
	require.Equal(t, "event", string(b))
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, ents)
	target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	require.NoError(t, err)
	require.Contains(t, target, "(deleted)", "an O_TMPFILE file: %s", target)
}
