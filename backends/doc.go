// Package backends lists tracep's kernel-facing tracers and starts them by
// kind. Each tracer is a package of its own below this one (exectrace,
// and the CA fetcher cafetch, which needs no kernel support); this package
// only names them, explicitly and without init-time registration.
package backends
