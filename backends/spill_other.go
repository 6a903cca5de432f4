//go:build !linux

package backends

import "os"

// spillFile returns a temporary file, unlinked at once.
func spillFile() (*os.File, error) { return namedSpillFile() }
