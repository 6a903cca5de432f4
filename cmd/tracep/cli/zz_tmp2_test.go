package cli

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tracep/tracep/cmd/tracep/web/webtest"
)

func TestTmpStreamSpeed(t *testing.T) {
	file := writeTrace(t, webtest.Trace(viewEvents))
	url, _ := startView(t, file)
	t0 := time.Now()
	n, msgs, bytes := 0, 0, 0
	webtest.OpenStream(t, url).Until(t, func(ev string, data []byte) bool {
		msgs++
		bytes += len(data)
		if ev == "events" {
			var b []json.RawMessage
			json.Unmarshal(data, &b)
			n += len(b)
		}
		return n >= viewEvents
	})
	t.Logf("%d events, %d messages, %d bytes in %v", n, msgs, bytes, time.Since(t0))
}
