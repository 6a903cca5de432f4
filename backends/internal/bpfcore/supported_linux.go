package bpfcore

import "fmt"

// Supported reports whether this process can run b: nil, an error matching
// os.ErrPermission (a *tracep.PermissionError naming the capabilities
// missing) or one matching tracep.ErrNotSupported when the kernel lacks
// a feature b's tracer needs (see Need), or DisableEnv disabled it.
func (b *Backend) Supported() error {
	if err := Have("btf"); err != nil {
		return fmt.Errorf("%s: %w", b.op(), err)
	}
	if err := b.Caps.Check(b.op()); err != nil {
		return err
	}
	if ino, err := PidNamespace(); err != nil {
		return err
	} else if ino != 0 {
		spec, err := b.Spec()
		if err != nil {
			return err
		}
		if err := setPidNamespace(b.op(), spec); err != nil {
			return err
		}
	}
	return Need(b.Kind)
}

// op names what b's capabilities are for, in errors.
func (b *Backend) op() string { return "trace " + string(b.Kind) }
