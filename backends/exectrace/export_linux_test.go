package exectrace

import "context"

// SlotOf returns the BPF core slot of s, for the tests of the exectrace_test
// package.
func SlotOf(s *Session) int { return s.core.Slot() }

// AwaitRingBytes waits until s's ring has grown to at least n bytes.
func AwaitRingBytes(ctx context.Context, s *Session, n int) error {
	return s.core.AwaitRingBytes(ctx, n)
}
