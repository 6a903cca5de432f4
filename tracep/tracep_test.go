package tracep_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

func TestJSONRoundTrip(t *testing.T) {
	when := time.Date(2026, 11, 27, 10, 0, 0, 123, time.UTC)
	evs := []tracep.Event{
		{Seq: 1, Kind: tracep.KindExec, KTime: 42, Time: when, Proc: tracep.Proc{PID: 10, PPID: 1, TID: 10, UID: 0, Comm: "sh", CgroupID: 7},
			Exec: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/bin/sh", Argv: []string{"sh", "-c", "a\x00b\nc"}, ArgvTruncated: true}},
		{Seq: 2, Kind: tracep.KindNet, Time: when, Net: &tracep.Net{Op: tracep.NetOpConnect, Proto: "tcp", Dir: tracep.DirOut,
			Src: netip.MustParseAddrPort("[::1]:4000"), Dst: netip.MustParseAddrPort("127.0.0.1:443"), Errno: "ECONNREFUSED"}},
		{Seq: 3, Kind: tracep.KindDNS, Time: when, DNS: &tracep.DNS{ID: 7, Name: "example.test", Type: "A", RCode: "NOERROR", Answered: true,
			Answers: []tracep.DNSRecord{{Name: "example.test", Type: "A", TTL: 60, Data: "192.0.2.10"}}, Latency: time.Millisecond}},
		{Seq: 4, Kind: tracep.KindTLS, Time: when, TLS: &tracep.TLS{Op: tracep.TLSOpWrite, Library: "openssl", Data: []byte("GET /\x00\xff"), Len: 7}},
		{Seq: 5, Kind: tracep.KindCA, Time: when, CA: &tracep.Chain{Host: "example.test", Port: 443, Verified: true,
			Certs: []tracep.Cert{{Role: "leaf", Subject: "CN=example.test", NotAfter: when}}}},
	}
	var buf bytes.Buffer
	enc := tracep.NewEncoder(&buf)
	for _, ev := range evs {
		require.NoError(t, enc.Encode(ev))
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, len(evs), "one line per event")
	for _, l := range lines {
		require.True(t, strings.HasPrefix(l, `{"schema":1,`), l)
	}
	require.NotContains(t, buf.String(), `\u003c`, "no HTML escaping")

	got, err := tracep.ReadAll(&buf)
	require.NoError(t, err)
	for i := range evs {
		evs[i].Schema = tracep.SchemaVersion
	}
	require.Equal(t, evs, got)
}

func TestDecoderErrors(t *testing.T) {
	d := tracep.NewDecoder(strings.NewReader("\n\n{\"schema\":1,\"kind\":\"exec\"}\n{\"schema\":2}\nnot json\n"))
	ev, err := d.Decode()
	require.NoError(t, err)
	require.Equal(t, tracep.KindExec, ev.Kind)
	_, err = d.Decode()
	require.ErrorIs(t, err, tracep.ErrSchema)
	require.ErrorContains(t, err, "line 4")
	_, err = d.Decode()
	require.ErrorContains(t, err, "line 5")
	_, err = d.Decode()
	require.Equal(t, io.EOF, err)

	_, err = tracep.ReadAll(strings.NewReader(`{"kind":"exec"}`))
	require.ErrorIs(t, err, tracep.ErrSchema, "a line without schema")
}

func TestParseKind(t *testing.T) {
	for _, k := range tracep.Kinds() {
		got, err := tracep.ParseKind(string(k))
		require.NoError(t, err)
		require.Equal(t, k, got)
	}
	_, err := tracep.ParseKind("disk")
	require.ErrorIs(t, err, tracep.ErrInvalid)
}

func TestErrors(t *testing.T) {
	var err error = &tracep.LostError{Kind: tracep.KindExec, Count: 3}
	require.ErrorIs(t, err, tracep.ErrLost)
	require.EqualError(t, err, "exec: 3 events lost")

	err = &tracep.PermissionError{Op: "load bpf", Capability: "CAP_BPF", Err: os.ErrPermission}
	require.ErrorIs(t, err, os.ErrPermission)
	require.EqualError(t, err, "load bpf: needs CAP_BPF: permission denied")
	wrapped := errors.Join(errors.New("other"), err)
	var pe *tracep.PermissionError
	require.ErrorAs(t, wrapped, &pe)
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain text":       "plain text",
		"tab\there":        `tab\there`,
		"new\nline":        `new\nline`,
		"\x1b[2J":          `\x1b[2J`,
		"back\\slash":      `back\\slash`,
		"del\x7f":          `del\x7f`,
		"bad\xffutf8":      `bad\xffutf8`,
		"héllo":            "héllo",
		"rtl\u202eevil":    `rtl\u202eevil`,
		"nul\x00":          `nul\x00`,
		"\u00a0nbsp":       `\u00a0nbsp`,
		"emoji \U0001f600": "emoji \U0001f600",
	} {
		require.Equal(t, want, tracep.Escape(in), "Escape(%q)", in)
		require.Equal(t, "> "+want, string(tracep.AppendEscape([]byte("> "), in)), "AppendEscape(%q)", in)
	}
}

// escapeWithFmt is Escape as it was written with fmt, before AppendEscape:
// the two must agree on every input (FuzzEscape).
func escapeWithFmt(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case !unicode.IsPrint(r) && r != ' ':
			if r <= 0xffff {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				fmt.Fprintf(&b, `\U%08x`, r)
			}
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":            "''",
		"simple":      "simple",
		"/usr/bin/x":  "/usr/bin/x",
		"a b":         "'a b'",
		"it's":        `'it'\''s'`,
		"$HOME":       "'$HOME'",
		"a=b":         "'a=b'",
		"\x1b[31mred": `$'\x1b[31mred'`,
		"tab\t'q'":    `$'tab\t\'q\''`,
		"ünïcode":     "'ünïcode'",
	} {
		require.Equal(t, want, tracep.ShellQuote(in), "ShellQuote(%q)", in)
	}
	require.Equal(t, `sh -c 'echo hi'`, tracep.ShellJoin([]string{"sh", "-c", "echo hi"}))
}

func TestScope(t *testing.T) {
	require.True(t, tracep.Scope{}.IsSystem())
	require.False(t, tracep.Scope{CgroupID: 1}.IsSystem())
	require.False(t, tracep.Scope{PIDs: []int{1}}.IsSystem())
}

// FuzzEscape checks that nothing Escape or ShellQuote returns can drive a
// terminal: no control characters and valid UTF-8.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "a b", "\x1b]0;title\x07", "\xff\xfe", "it's \\ \n", "rtl\u202e \U000e0001 \u00a0 é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		require.Equal(t, escapeWithFmt(s), tracep.Escape(s))
		require.Equal(t, "pre "+escapeWithFmt(s), string(tracep.AppendEscape([]byte("pre "), s)))
		for _, out := range []string{tracep.Escape(s), tracep.ShellQuote(s)} {
			require.True(t, utf8.ValidString(out), "%q", out)
			for _, r := range out {
				require.False(t, r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0), "control character in %q", out)
			}
		}
	})
}
