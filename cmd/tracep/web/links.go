package web

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"

	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
)

// linkIndex is the kept events as a harness capture, for its queries: in
// time order and numbered from 1, as Run returns them.
type linkIndex struct {
	first, next uint64 // the history it was built from
	c           harness.Capture
	ids         []uint64       // the page's id of each event of c
	pos         map[uint64]int // the index in c of each id
}

// index returns the link index of the current history, building it when
// events have come or gone since the last. s.linkMu must be held.
func (s *Server) index() *linkIndex {
	s.mu.Lock()
	entries := s.st.entries
	first, next := s.st.first, s.st.next
	s.mu.Unlock()
	if x := s.links; x != nil && x.first == first && x.next == next {
		return x
	}
	x := &linkIndex{first: first, next: next, pos: make(map[uint64]int, len(entries))}
	order := make([]int, len(entries))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return entries[order[i]].ev.KTime < entries[order[j]].ev.KTime })
	x.c.Events = make([]tracep.Event, len(entries))
	x.ids = make([]uint64, len(entries))
	for p, i := range order {
		x.c.Events[p] = entries[i].ev
		x.c.Events[p].Seq = uint64(p + 1)
		x.ids[p] = entries[i].id
		x.pos[entries[i].id] = p
	}
	s.links = x
	return x
}

// eventRef is a linked event or process as the page gets it: its id, the
// event as the CLI prints it (ev.String()), its process, and the id of its
// process's latest exec.
type eventRef struct {
	ID    uint64 `json:"id,omitempty"`
	Event string `json:"event,omitempty"`
	PID   int32  `json:"pid,omitempty"`
	Proc  string `json:"proc"`
	Exec  uint64 `json:"exec,omitempty"`
}

// links is what an event leads to, for the page's detail of it.
type links struct {
	ID uint64 `json:"id"`
	// Chain is the event's process and its ancestors, innermost first
	// (its parent is Chain[1]); ChainText says it as a violation does.
	Chain     []eventRef `json:"chain,omitempty"`
	ChainText string     `json:"chain_text,omitempty"`
	// Answer is the DNS event whose answer gave a connection's address.
	Answer *eventRef `json:"answer,omitempty"`
	// Connection is the connection a TLS event went over, and SNI the
	// server name it was for.
	Connection *eventRef `json:"connection,omitempty"`
	SNI        string    `json:"sni,omitempty"`
}

// maxSNIScan bounds how many earlier TLS events of the process are looked
// at for the server name of a TLS event that has none.
const maxSNIScan = 64

// linksOf returns what the event with the page's id leads to; false when
// it is not (or no longer) kept.
func (s *Server) linksOf(id uint64) (links, bool) {
	s.linkMu.Lock()
	defer s.linkMu.Unlock()
	s.buildTreeLocked()
	x := s.index()
	p, ok := x.pos[id]
	if !ok {
		return links{}, false
	}
	ev := x.c.Events[p]
	out := links{ID: id}
	s.mu.Lock()
	procs := s.st.procs
	s.mu.Unlock()
	ref := func(e tracep.Event) *eventRef {
		return &eventRef{ID: x.ids[e.Seq-1], Event: e.String(), PID: e.Proc.PID, Proc: e.Proc.String(), Exec: procs[e.Proc.PID].exec}
	}
	if ev.Proc.PID != 0 {
		// As a violation's chain: the process as it was at the event,
		// its ancestors by their latest exec.
		out.Chain = append(out.Chain, eventRef{PID: ev.Proc.PID, Proc: ev.Proc.String(), Exec: procs[ev.Proc.PID].exec})
		seen := map[int32]bool{ev.Proc.PID: true}
		for pid := procs[ev.Proc.PID].parent; pid != 0 && !seen[pid]; pid = procs[pid].parent {
			seen[pid] = true
			out.Chain = append(out.Chain, eventRef{PID: pid, Proc: procs[pid].proc, Exec: procs[pid].exec})
		}
		names := make([]string, len(out.Chain))
		for i, r := range out.Chain {
			names[i] = r.Proc
		}
		out.ChainText = joinChain(names)
	}
	if ev.Net != nil {
		if a, ok := x.c.AnswerFor(ev); ok {
			out.Answer = ref(a)
		}
	}
	if ev.TLS != nil {
		conn, ok := x.c.ConnectionFor(ev)
		if ok {
			out.Connection = ref(conn)
		}
		sni := ev.TLS.SNI
		for i, n := p-1, 0; sni == "" && ok && i >= 0 && n < maxSNIScan; i-- {
			e := x.c.Events[i]
			if e.TLS == nil || e.Proc.PID != ev.Proc.PID {
				continue
			}
			n++
			if c2, ok2 := x.c.ConnectionFor(e); ok2 && c2.Seq == conn.Seq && e.TLS.SNI != "" {
				sni = e.TLS.SNI
			}
		}
		if sni != "" {
			out.SNI = tracep.Escape(sni)
		}
	}
	return out, true
}

// serveLinks answers /links?id=N with what event N leads to.
func (s *Server) serveLinks(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.URL.Query().Get("id"), 10, 64)
	if err != nil {
		http.Error(w, "want ?id=N", http.StatusBadRequest)
		return
	}
	l, ok := s.linksOf(id)
	if !ok {
		http.Error(w, "no such event kept", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(l)
}
