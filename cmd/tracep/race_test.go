//go:build race

package main_test

// raceBuild: the tests run under the race detector, and so does the
// binary they run (every CLI mode that merges tracers included).
const raceBuild = true
