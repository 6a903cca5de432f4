package tlstrace

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// ld.so.cache, the dynamic linker's index of libraries, in glibc's format
// (glibc 2.32 and later write only the new format; older ones write the
// old one followed by the new).
const (
	ldCacheOldMagic = "ld.so-1.7.0"
	ldCacheNewMagic = "glibc-ld.so.cache1.1"
	// Flags of an entry: the ELF class and machine it is for.
	ldFlagTypeMask = 0x00ff
	ldFlagELFLibc6 = 0x0003
	ldFlagArchMask = 0xff00
	ldFlagX8664    = 0x0300
)

var errLDCache = errors.New("malformed ld.so.cache")

// ldCacheEntry is one library of the cache: its soname and its path.
type ldCacheEntry struct {
	name, path string
}

// parseLDCache returns the x86-64 libraries listed in an ld.so.cache.
// Systems without one (musl) have the libraries found by other means.
func parseLDCache(b []byte) ([]ldCacheEntry, error) {
	base := 0
	if bytes.HasPrefix(b, []byte(ldCacheOldMagic)) {
		// Old header (magic, nlibs) and 12-byte entries, then the new
		// format, 8-byte aligned.
		if len(b) < 16 {
			return nil, errLDCache
		}
		n := int(binary.LittleEndian.Uint32(b[12:]))
		base = 16 + n*12
		base = (base + 7) &^ 7
		if n < 0 || base > len(b) {
			return nil, errLDCache
		}
	}
	b2 := b[base:]
	if !bytes.HasPrefix(b2, []byte(ldCacheNewMagic)) {
		return nil, fmt.Errorf("%w: no %s header", errLDCache, ldCacheNewMagic)
	}
	const headerSize = 48 // magic and version (20), nlibs, len_strings, flags, padding, extension offset, unused
	const entrySize = 24  // flags, key, value, osversion, hwcap
	if len(b2) < headerSize {
		return nil, errLDCache
	}
	n := int(binary.LittleEndian.Uint32(b2[20:]))
	if n < 0 || n > (len(b2)-headerSize)/entrySize {
		return nil, fmt.Errorf("%w: %d entries", errLDCache, n)
	}
	str := func(off uint32) (string, bool) {
		// Offsets count from the start of the new-format header.
		if int(off) >= len(b2) {
			return "", false
		}
		s := b2[off:]
		i := bytes.IndexByte(s, 0)
		if i < 0 {
			return "", false
		}
		return string(s[:i]), true
	}
	var out []ldCacheEntry
	for i := 0; i < n; i++ {
		e := b2[headerSize+i*entrySize:]
		flags := binary.LittleEndian.Uint32(e[0:])
		if flags&ldFlagTypeMask != ldFlagELFLibc6 || flags&ldFlagArchMask != ldFlagX8664 {
			continue
		}
		name, ok1 := str(binary.LittleEndian.Uint32(e[4:]))
		path, ok2 := str(binary.LittleEndian.Uint32(e[8:]))
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: entry %d points outside the file", errLDCache, i)
		}
		out = append(out, ldCacheEntry{name: name, path: path})
	}
	return out, nil
}
