package tracetest

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestListenTCP(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) {
			if _, err := net.ResolveTCPAddr("tcp", addr); err != nil {
				t.Skip(err)
			}
			closing := ListenTCP(t, addr, nil)
			c, err := net.Dial("tcp", closing.String())
			require.NoError(t, err)
			_, err = c.Read(make([]byte, 1))
			require.ErrorIs(t, err, io.EOF, "closed at once")
			c.Close()

			echo := ListenTCP(t, addr, Echo)
			c, err = net.Dial("tcp", echo.String())
			require.NoError(t, err)
			_, err = c.Write([]byte("ping"))
			require.NoError(t, err)
			buf := make([]byte, 4)
			_, err = io.ReadFull(c, buf)
			require.NoError(t, err)
			require.Equal(t, "ping", string(buf))
			// Left open: the cleanup closes it.
		})
	}
}

func TestListenUDP(t *testing.T) {
	echo := ListenUDP(t, "127.0.0.1:0", true)
	c, err := net.Dial("udp", echo.String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf[:n]))

	sink := ListenUDP(t, "127.0.0.1:0", false)
	require.True(t, sink.Addr().IsLoopback())
}

func TestClosedPort(t *testing.T) {
	_, err := net.Dial("tcp", ClosedPort(t).String())
	require.True(t, errors.Is(err, syscall.ECONNREFUSED), "%v", err)
}
