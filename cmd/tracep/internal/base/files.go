package base

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// writeFile replaces the file at path with data, safely for a program
// that runs as root in directories others can write: the data goes to a
// new unnamed file in its directory (Linux; elsewhere a temporary file
// beside it), which is then named and renamed over path, so a symlink at
// path is replaced, never followed, a reader never sees half a file, and a
// tracep killed while writing leaves no temporary file. A character device or a pipe at path (/dev/null, /dev/stdout) is
// written to as it is; anything else that is not a regular file (a
// directory, a block device) is an error. The file's mode is 0644.
func WriteFile(path string, data []byte) error {
	if st, err := os.Stat(path); err == nil && st.Mode()&(fs.ModeCharDevice|fs.ModeNamedPipe) != 0 {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err == nil {
			_, err = f.Write(data)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", path, cause(err))
		}
		return nil
	}
	if st, err := os.Lstat(path); err == nil && !st.Mode().IsRegular() && st.Mode()&fs.ModeSymlink == 0 {
		return fmt.Errorf("write %s: not a regular file", path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if f, publish, ok := createUnnamed(filepath.Dir(path)); ok {
		_, err := f.Write(data)
		if err == nil {
			err = f.Chmod(0o644) // the umask may have narrowed it
		}
		if err == nil {
			err = publish(path)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", path, cause(err))
		}
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, cause(err))
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644) // CreateTemp makes 0600
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// cause drops the path an *fs.PathError repeats.
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
