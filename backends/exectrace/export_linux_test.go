package exectrace

// SlotOf returns the BPF core slot of s, for the tests of the exectrace_test
// package.
func SlotOf(s *Session) int { return s.core.Slot() }
