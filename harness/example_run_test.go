package harness_test

import "testing"

// The test of ExampleTrace's file runs, so that the example is known to work.
func TestExampleTrace(t *testing.T) { testCurlFetchesOnePage(t) }
