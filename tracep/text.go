package tracep

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape makes s safe to print on a terminal: control characters, invalid
// UTF-8 and the backslash are written as Go-style escapes (\n, \x1b, \u202e),
// so a hostile name or argument can never drive the terminal.
func Escape(s string) string {
	if isPlain(s) {
		return s
	}
	return string(AppendEscape(make([]byte, 0, len(s)+8), s))
}

// AppendEscape appends Escape(s) to dst and returns the extended slice:
// for output built in a reused buffer, without a string per field.
func AppendEscape(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		if plain(s[i]) {
			j := i + 1
			for j < len(s) && plain(s[j]) {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = appendHex(append(dst, `\x`...), uint32(s[i]), 2)
		case r == '\\':
			dst = append(dst, `\\`...)
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case r < 0x20 || r == 0x7f:
			dst = appendHex(append(dst, `\x`...), uint32(r), 2)
		case !unicode.IsPrint(r) && r != ' ':
			if r <= 0xffff {
				dst = appendHex(append(dst, `\u`...), uint32(r), 4)
			} else {
				dst = appendHex(append(dst, `\U`...), uint32(r), 8)
			}
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}

// appendHex appends v as exactly digits lower-case hex digits (%0*x).
func appendHex(dst []byte, v uint32, digits int) []byte {
	for shift := 4 * (digits - 1); shift >= 0; shift -= 4 {
		dst = append(dst, "0123456789abcdef"[v>>shift&0xf])
	}
	return dst
}

// plain reports whether c prints as itself: printable ASCII but the
// backslash.
func plain(c byte) bool { return c >= 0x20 && c < 0x7f && c != '\\' }

func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if !plain(s[i]) {
			return false
		}
	}
	return true
}

// ShellQuote quotes one argument the way a POSIX shell would need it, and
// escapes control characters with $'…' so the result is both safe on a
// terminal and pasteable into bash.
func ShellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("`^#*[]=|\\?${}()'\"<>&;!~", c) >= 0 {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	if isPrintable(s) {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	// $'…' form: everything unprintable escaped, quotes and backslashes too.
	e := Escape(s)
	e = strings.ReplaceAll(e, "'", `\'`)
	return "$'" + e + "'"
}

// isPrintable reports whether s is valid UTF-8 with no control or
// non-printing characters.
func isPrintable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r != ' ' && !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// ShellJoin quotes each argument with ShellQuote and joins them with spaces.
func ShellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = ShellQuote(a)
	}
	return strings.Join(q, " ")
}
