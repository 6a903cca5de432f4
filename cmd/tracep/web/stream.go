package web

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Batches of the stream: the first small, so that a page shows its first
// screen at once, the next ones larger.
const (
	firstBatch = 200
	batchMax   = 1000
	batchBytes = 256 << 10
	// writeTimeout drops a page that stops reading.
	writeTimeout = 30 * time.Second
)

// serveStream streams the trace to one page as Server-Sent Events:
//
//	event: status   the totals, loss, notes and end (JSON object)
//	event: events   a batch of events, each {"id":N, ...wireEvent} (JSON array); the SSE id is the last one's
//	event: tree     the process tree
//	event: verdict  the policy's verdict
//
// A page that reconnects sends Last-Event-ID and gets what follows it.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	next := uint64(1)
	if last, err := strconv.ParseUint(r.Header.Get("Last-Event-ID"), 10, 64); err == nil {
		next = last + 1
	}
	wake := make(chan struct{}, 1)
	s.mu.Lock()
	s.st.clients[wake] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.st.clients, wake)
		s.mu.Unlock()
	}()

	bw := bufio.NewWriterSize(w, 64<<10)
	var sentStatus, sentTree, sentVerdict uint64
	limit := firstBatch
	if _, err := io.WriteString(w, ": tracep\n\n"); err != nil || rc.Flush() != nil {
		return
	}
	for {
		s.mu.Lock()
		st := &s.st
		var status, tree, verdict []byte
		if st.statusVer != sentStatus {
			status, sentStatus = s.statusJSON(), st.statusVer
		}
		if st.treeVer != sentTree {
			tree, sentTree = st.tree, st.treeVer
		}
		if st.verdictVer != sentVerdict {
			verdict, sentVerdict = st.verdict, st.verdictVer
		}
		if next < st.first {
			next = st.first // dropped before this page read them; the status says how many
		}
		var batch []*entry
		if i := int(next - st.first); i < len(st.entries) {
			n, size := 0, 0
			for n < limit && i+n < len(st.entries) && size < batchBytes {
				size += len(st.entries[i+n].msg)
				n++
			}
			batch = st.entries[i : i+n : i+n] // entries are never changed in place
		}
		s.mu.Unlock()

		if status == nil && tree == nil && verdict == nil && batch == nil {
			select {
			case <-wake:
				continue
			case <-r.Context().Done():
				return
			case <-s.closing:
				return
			}
		}
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if status != nil {
			sse(bw, "status", status)
		}
		if batch != nil {
			next = batch[len(batch)-1].id + 1
			writeBatch(bw, batch)
			limit = batchMax
		}
		if tree != nil {
			sse(bw, "tree", tree)
		}
		if verdict != nil {
			sse(bw, "verdict", verdict)
		}
		if bw.Flush() != nil || rc.Flush() != nil {
			return
		}
		select {
		case <-s.closing:
			return
		default:
		}
	}
}

// sse writes one event of the stream; data is one line of JSON.
func sse(bw *bufio.Writer, event string, data []byte) {
	bw.WriteString("event: " + event + "\ndata: ")
	bw.Write(data)
	bw.WriteString("\n\n")
}

// writeBatch writes events as one "events" message: a JSON array of the
// messages, each with its id.
func writeBatch(bw *bufio.Writer, batch []*entry) {
	bw.WriteString("event: events\nid: " + strconv.FormatUint(batch[len(batch)-1].id, 10) + "\ndata: [")
	for i, e := range batch {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString(`{"id":`)
		bw.WriteString(strconv.FormatUint(e.id, 10))
		bw.WriteByte(',')
		bw.Write(e.msg[1:]) // the message without its opening brace
	}
	bw.WriteString("]\n\n")
}
