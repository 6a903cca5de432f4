package web

import (
	"encoding/json"
	"strings"
	"unsafe"

	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
)

// entry is one event the server keeps: the event, its core text and the
// message the page gets (without its id, which the stream adds).
type entry struct {
	id   uint64
	ev   tracep.Event
	text string
	msg  []byte
}

// size is about what an entry holds in memory: its message, its text, and
// the entry with its copy of the event.
func (e *entry) size() int { return len(e.msg) + len(e.text) + int(unsafe.Sizeof(*e)) + 64 }

// wireEvent is an event as the page gets it: the JSON the CLI writes with
// -j (ev), its core text, and the time in milliseconds for the timeline.
type wireEvent struct {
	T          float64      `json:"t"`
	Proc       string       `json:"proc"`
	Text       string       `json:"text"`
	Incomplete string       `json:"inc,omitempty"`
	Action     bool         `json:"act,omitempty"`
	Ev         tracep.Event `json:"ev"`
}

// state is what the server knows of the trace; Server.mu guards it.
type state struct {
	entries []*entry
	first   uint64 // id of entries[0] (ids start at 1)
	next    uint64 // id of the next event
	bytes   int
	dropped uint64 // events dropped from the history

	lost       map[tracep.Kind]uint64 // from the "lost" notes
	lostOrder  []tracep.Kind
	notes      []string // the text of the other notes
	incomplete uint64   // events whose payload says a part is missing
	done       bool
	status     string
	statusVer  uint64

	tree    []byte // the process tree, as the page gets it
	treeVer uint64
	// procs is the process tree's nodes by pid, with the id of the
	// last exec of each, from the latest build.
	procs map[int32]treeProc
	// treeEvents are the events the process tree is built from: every
	// exec event and the first event of each process, parent and name.
	treeEvents []tracep.Event
	treeSeen   map[treeKey]bool
	treeDirty  bool

	verdict    []byte
	verdictVer uint64

	clients map[chan struct{}]struct{}
}

type treeKey struct {
	pid, ppid int32
	comm      string
}

func (st *state) init() {
	st.first, st.next = 1, 1
	st.lost = map[tracep.Kind]uint64{}
	st.treeSeen = map[treeKey]bool{}
	st.clients = map[chan struct{}]struct{}{}
	st.statusVer = 1
}

// Publish adds one event to the trace the pages show. It never waits for
// a page: it encodes the event and wakes the streams. Events are shown in
// the order they are published; ev.Seq is kept as given (the CLI's
// numbering), the page numbers events itself. Publish every event the
// trace delivers, the notes (KindTrace) included: lost events are read
// from them.
func (s *Server) Publish(ev tracep.Event) {
	ev.Schema = tracep.SchemaVersion
	w := wireEvent{Proc: ev.Proc.String(), Text: ev.Text(), Action: ev.IsAction(), Ev: ev}
	if !ev.Time.IsZero() {
		w.T = float64(ev.Time.UnixNano()) / 1e6
	}
	if p := ev.Payload(); p != nil {
		w.Incomplete = p.Incomplete()
	}
	msg, err := json.Marshal(w)
	if err != nil {
		// Only an event that cannot be JSON can fail; show that it was.
		msg, _ = json.Marshal(wireEvent{Proc: w.Proc, Text: w.Text, Incomplete: "not encodable: " + err.Error(), Ev: tracep.Event{Schema: ev.Schema, Kind: ev.Kind}})
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.st
	st.entries = append(st.entries, &entry{id: st.next, ev: ev, text: w.Text, msg: msg})
	st.next++
	st.bytes += st.entries[len(st.entries)-1].size()
	if st.bytes > s.cfg.MaxHistory {
		st.evict(s.cfg.MaxHistory - s.cfg.MaxHistory/10)
	}
	if w.Incomplete != "" {
		st.incomplete++
	}
	if n := ev.Trace; n != nil {
		if n.Op == tracep.NoteLost {
			if _, ok := st.lost[n.Of]; !ok {
				st.lostOrder = append(st.lostOrder, n.Of)
			}
			st.lost[n.Of] += n.Count
		} else {
			st.notes = append(st.notes, w.Text)
		}
	}
	st.statusVer++
	if st.shapeTree(ev, st.next-1) || st.treeDirty {
		select {
		case s.treeWake <- struct{}{}:
		default:
		}
	}
	st.wake()
}

// shapeTree keeps the event with the page's id if it shapes the process
// tree: an exec event, or the first of a process with its parent and name.
// It reports whether it did.
func (st *state) shapeTree(ev tracep.Event, id uint64) bool {
	if ev.Proc.PID == 0 {
		return false
	}
	k := treeKey{ev.Proc.PID, ev.Proc.PPID, ev.Proc.Comm}
	if ev.Exec == nil && st.treeSeen[k] {
		return false
	}
	st.treeSeen[k] = true
	ev.Seq = id // for the links to execs
	st.treeEvents = append(st.treeEvents, ev)
	st.treeDirty = true
	return true
}

// evict drops the oldest events until the history is within max bytes.
func (st *state) evict(max int) {
	n := 0
	for n < len(st.entries) && st.bytes > max {
		st.bytes -= st.entries[n].size()
		n++
	}
	// A copy, so that the dropped ones can be freed: entries are never
	// changed in place, since streams and the link index read them
	// outside the lock.
	st.entries = append(make([]*entry, 0, 2*(len(st.entries)-n)), st.entries[n:]...)
	st.first += uint64(n)
	st.dropped += uint64(n)
	// The tree is of the events kept, so that its memory is bounded too.
	st.treeEvents, st.treeSeen = nil, map[treeKey]bool{}
	for _, e := range st.entries {
		st.shapeTree(e.ev, e.id)
	}
	st.treeDirty = true
}

// wake tells every stream that something changed.
func (st *state) wake() {
	for c := range st.clients {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// SetVerdict shows a policy's verdict (harness.Verdict's Violations and
// Incomplete): the violations, highlighted on their events with the reason,
// the rule and the process chain, and, when incomplete is not nil, why the
// trace cannot prove that the policy holds. It replaces the verdict set
// before, so a running trace may show its verdict so far. A violation's
// event is found among the published ones by what it is (kind, times,
// process, text), whatever its Seq.
func (s *Server) SetVerdict(violations []harness.Violation, incomplete error) {
	type wireViolation struct {
		ID     uint64 `json:"id,omitempty"` // 0 when the event is not on the page
		Event  string `json:"event"`
		Reason string `json:"reason"`
		Rule   string `json:"rule,omitempty"`
		Chain  string `json:"chain,omitempty"`
	}
	v := struct {
		Violations []wireViolation `json:"violations"`
		Incomplete string          `json:"incomplete,omitempty"`
	}{Violations: []wireViolation{}}
	if incomplete != nil {
		v.Incomplete = incomplete.Error()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := map[eventKey]uint64{}
	for _, e := range s.st.entries {
		k := keyOf(e.ev, e.text)
		if _, dup := ids[k]; !dup {
			ids[k] = e.id
		}
	}
	for _, vi := range violations {
		w := wireViolation{ID: ids[keyOf(vi.Event, vi.Event.Text())], Event: vi.Event.String(), Reason: vi.Reason}
		if vi.Rule != nil {
			w.Rule = vi.Rule.Text
		}
		w.Chain = chainText(vi.Chain)
		v.Violations = append(v.Violations, w)
	}
	s.st.verdict, _ = json.Marshal(v)
	s.st.verdictVer++
	s.st.wake()
}

// eventKey identifies an event across copies that number it differently
// (the CLI's sequence, a capture's).
type eventKey struct {
	kind     tracep.Kind
	ktime    uint64
	wall     int64
	pid, tid int32
	text     string
}

func keyOf(ev tracep.Event, text string) eventKey {
	return eventKey{ev.Kind, ev.KTime, ev.Time.UnixNano(), ev.Proc.PID, ev.Proc.TID, text}
}

// chainText renders a process chain as a violation does: innermost first.
func chainText(chain []tracep.Proc) string {
	names := make([]string, len(chain))
	for i, p := range chain {
		names[i] = p.String()
	}
	return joinChain(names)
}

// joinChain joins the names of a process chain, innermost first, as a
// violation does: "curl[12] ← sh[10]".
func joinChain(names []string) string { return strings.Join(names, " ← ") }

// Done says the trace has ended: status is shown instead of "live", in
// the CLI's words ("exit status 1", "saved trace"); "" shows "done". The
// page stays until Close.
func (s *Server) Done(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.done, s.st.status = true, status
	s.st.statusVer++
	s.st.wake()
}

// statusJSON is the status message: totals, loss, notes, and whether the
// trace has ended.
func (s *Server) statusJSON() []byte {
	st := &s.st
	lost := make([]string, 0, len(st.lostOrder))
	for _, k := range st.lostOrder {
		// The core's words for a loss: "842 exec events lost".
		lost = append(lost, (&tracep.Note{Op: tracep.NoteLost, Of: k, Count: st.lost[k]}).Incomplete())
	}
	kinds := tracep.Kinds()
	b, _ := json.Marshal(struct {
		Title      string        `json:"title"`
		Kinds      []tracep.Kind `json:"kinds"`
		Total      uint64        `json:"total"`
		Dropped    uint64        `json:"dropped"`
		Lost       []string      `json:"lost"`
		Notes      []string      `json:"notes"`
		Incomplete uint64        `json:"incomplete"`
		Done       bool          `json:"done"`
		Status     string        `json:"status"`
	}{s.cfg.Title, kinds, st.next - 1, st.dropped, lost, append([]string{}, st.notes...), st.incomplete, st.done, st.status})
	return b
}
