package tlstrace

import "encoding/binary"

// direntHeader is the fixed part of a struct linux_dirent64 (d_ino, d_off,
// d_reclen, d_type), before the NUL-terminated name.
const direntHeader = 19

// parseDirents calls fn with the name of every entry in buf, what
// getdents64 returned, in place: a name is valid only during the call. It
// stops at a record that does not fit, whatever buf holds.
func parseDirents(buf []byte, fn func(name []byte)) {
	for len(buf) >= direntHeader {
		reclen := int(binary.NativeEndian.Uint16(buf[16:]))
		if reclen < direntHeader || reclen > len(buf) {
			return
		}
		name := buf[direntHeader:reclen]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		fn(name)
		buf = buf[reclen:]
	}
}
