package tlstrace

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// clientHello returns the first TLS record Go's crypto/tls client writes:
// its ClientHello, with serverName as SNI (none when empty).
func clientHello(t testing.TB, serverName string) []byte {
	t.Helper()
	c1, c2 := net.Pipe()
	defer c2.Close()
	go func() {
		cfg := &tls.Config{ServerName: serverName, InsecureSkipVerify: true}
		_ = tls.Client(c1, cfg).Handshake()
		c1.Close()
	}()
	hdr := make([]byte, 5)
	_, err := io.ReadFull(c2, hdr)
	require.NoError(t, err)
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	_, err = io.ReadFull(c2, body)
	require.NoError(t, err)
	return append(hdr, body...)
}

// minimalHello builds a ClientHello by hand with the given extensions.
func minimalHello(exts ...[]byte) []byte {
	var ext []byte
	for _, e := range exts {
		ext = append(ext, e...)
	}
	body := []byte{3, 3}
	body = append(body, make([]byte, 32)...) // random
	body = append(body, 0)                   // session id
	body = append(body, 0, 2, 0x13, 0x01)    // one cipher suite
	body = append(body, 1, 0)                // null compression
	body = append(body, byte(len(ext)>>8), byte(len(ext)))
	body = append(body, ext...)
	hs := append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{22, 3, 1, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}

func ext(typ int, body []byte) []byte {
	return append([]byte{byte(typ >> 8), byte(typ), byte(len(body) >> 8), byte(len(body))}, body...)
}

func sniExt(names ...[]byte) []byte {
	var list []byte
	for _, n := range names {
		list = append(list, n...)
	}
	return ext(0, append([]byte{byte(len(list) >> 8), byte(len(list))}, list...))
}

func hostName(typ byte, name string) []byte {
	return append([]byte{typ, byte(len(name) >> 8), byte(len(name))}, name...)
}

func TestParseClientHello(t *testing.T) {
	long := make([]byte, 256)
	for i := range long {
		long[i] = 'a'
	}
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr error
	}{
		{name: "go client", in: clientHello(t, "example.test"), want: "example.test"},
		{name: "go client, no name", in: clientHello(t, ""), want: ""},
		{name: "sni first", in: minimalHello(sniExt(hostName(0, "a.test")), ext(43, []byte{2, 3, 4})), want: "a.test"},
		{name: "sni last", in: minimalHello(ext(43, []byte{2, 3, 4}), ext(10, []byte{0, 2, 0, 29}), sniExt(hostName(0, "b.test"))), want: "b.test"},
		{name: "other name type first", in: minimalHello(sniExt(hostName(7, "x"), hostName(0, "c.test"))), want: "c.test"},
		{name: "no extensions", in: minimalHello(), want: ""},
		{name: "binary name kept as is", in: minimalHello(sniExt(hostName(0, "a\x1b[31m\x00b"))), want: "a\x1b[31m\x00b"},
		{name: "name too long", in: minimalHello(sniExt(hostName(0, string(long)))), wantErr: ErrNotClientHello},
		{name: "sni without host name", in: minimalHello(sniExt(hostName(7, "x"))), wantErr: ErrNotClientHello},
		{name: "empty", in: nil, wantErr: ErrNotClientHello},
		{name: "application data", in: []byte{23, 3, 3, 0, 5, 1, 2, 3, 4, 5}, wantErr: ErrNotClientHello},
		{name: "server hello", in: []byte{22, 3, 3, 0, 4, 2, 0, 0, 0}, wantErr: ErrNotClientHello},
		{name: "header only", in: []byte{22, 3, 1, 0, 200}, wantErr: ErrHelloTruncated},
		{name: "cut in the random", in: minimalHello(sniExt(hostName(0, "a.test")))[:20], wantErr: ErrHelloTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseClientHello(tt.in)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// A record cut anywhere yields the name when the cut comes after it, and
// an error, never a wrong name, when it comes before.
func TestParseClientHelloCut(t *testing.T) {
	full := clientHello(t, "cut.example.test")
	for n := 0; n <= len(full); n++ {
		got, err := ParseClientHello(full[:n])
		if err == nil {
			require.Equal(t, "cut.example.test", got, "cut at %d", n)
			continue
		}
		require.True(t, errors.Is(err, ErrHelloTruncated) || errors.Is(err, ErrNotClientHello), "cut at %d: %v", n, err)
	}
	got, err := ParseClientHello(append(full, 0xde, 0xad)) // bytes after the record are ignored
	require.NoError(t, err)
	require.Equal(t, "cut.example.test", got)
}

func FuzzParseClientHello(f *testing.F) {
	f.Add(clientHello(f, "example.test"))
	f.Add(minimalHello(sniExt(hostName(0, "a.test"))))
	f.Add(minimalHello())
	f.Add([]byte{22, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		name, err := ParseClientHello(b)
		if err != nil && name != "" {
			t.Fatalf("name %q with error %v", name, err)
		}
		if len(name) > maxServerName {
			t.Fatalf("name of %d bytes", len(name))
		}
	})
}
