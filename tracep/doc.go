// Package tracep holds the vocabulary shared by every part of tracep: the
// [Event] a tracer reports, its [Kind], the process that caused it, the
// JSON-lines encoding used by the CLI, the harness and golden files, and the
// sentinel errors callers match with [errors.Is].
//
// # Stability
//
// The JSON form of [Event] is a public interface. Every line carries a
// "schema" number ([SchemaVersion]); fields are only ever added within one
// schema version. A decoder refuses lines from a newer schema with
// [ErrSchema].
//
// This package imports only the standard library and builds on every GOOS.
package tracep
