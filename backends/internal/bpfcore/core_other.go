//go:build !linux

package bpfcore

// ReleaseCache does nothing off Linux.
func ReleaseCache() {}
