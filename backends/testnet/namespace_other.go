//go:build !linux

package testnet

import (
	"context"
	"fmt"
	"net"

	"github.com/tracep/tracep/tracep"
)

// namespace stands in for the Linux namespace thread; New fails before
// using it.
type namespace struct{ caFile string }

func startNamespace(nsConfig) (*namespace, error) {
	return nil, fmt.Errorf("testnet: network namespaces: %w", tracep.ErrNotSupported)
}

func (*namespace) do(func() error) error {
	return fmt.Errorf("testnet: network namespaces: %w", tracep.ErrNotSupported)
}

func (*namespace) dial(context.Context, string, string) (net.Conn, error) {
	return nil, fmt.Errorf("testnet: network namespaces: %w", tracep.ErrNotSupported)
}

func (*namespace) close() error { return nil }

func (*namespace) nsArg(kind string) string { return nsArgFor(kind, 0) }
