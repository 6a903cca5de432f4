//go:build !linux

package backends

import "runtime"

func kernelRelease() string { return runtime.GOOS }

func tracefs() string { return "none (not Linux)" }

func namespaces() (cgroupNS, pidNS, userNS bool) { return false, false, false }
