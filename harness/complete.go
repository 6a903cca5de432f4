package harness

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tracep/tracep/tracep"
)

// A "no" — no exec of curl, only these names, a clean policy — is only
// worth something when the trace is complete. These helpers tell whether a
// trace can prove an absence: every verdict that depends on something not
// having happened asks them first, and fails with an error matching
// tracep.ErrIncomplete when it cannot be sure, never passes.

// Gaps returns what the trace misses of kinds (every kind when none is
// given): the events lost, one line per kind ("842 exec events lost"), and
// the processes killed when the command exited, since what they would have
// done next is in no trace. It reads the notes of the trace (KindTrace
// events), so it works on a saved trace too.
func Gaps(evs []tracep.Event, kinds ...tracep.Kind) []string {
	var g gapCount
	for _, ev := range evs {
		g.add(ev)
	}
	return g.lines(kinds...)
}

// gapCount adds up the notes of a trace as its events come.
type gapCount struct {
	lost   map[tracep.Kind]uint64
	order  []tracep.Kind
	killed []string
}

func (g *gapCount) add(ev tracep.Event) {
	n := ev.Trace
	switch {
	case n == nil:
	case n.Op == tracep.NoteLeftover && n.Action == tracep.LeftoverKilled:
		for _, p := range n.Procs {
			g.killed = append(g.killed, p.String())
		}
	case n.Op == tracep.NoteLost:
		if g.lost == nil {
			g.lost = map[tracep.Kind]uint64{}
		}
		if _, ok := g.lost[n.Of]; !ok {
			g.order = append(g.order, n.Of)
		}
		g.lost[n.Of] += n.Count
	}
}

func (g *gapCount) lines(kinds ...tracep.Kind) []string {
	var out []string
	for _, k := range g.order {
		if len(kinds) == 0 || slices.Contains(kinds, k) {
			out = append(out, fmt.Sprintf("%d %s events lost", g.lost[k], k))
		}
	}
	if len(g.killed) > 0 {
		out = append(out, fmt.Sprintf("processes left running were killed when the command exited (%s): wait for them (WaitAll, -wait) to trace what they do",
			strings.Join(g.killed, ", ")))
	}
	return out
}

// incomplete returns an error matching tracep.ErrIncomplete that lists
// gaps and the events that could hide a match, or nil when there are none.
func incomplete(gaps []string, hiding []tracep.Event) error {
	for _, ev := range hiding {
		gaps = append(gaps, fmt.Sprintf("%s: %s", ev.Payload().Incomplete(), ev))
	}
	if len(gaps) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", tracep.ErrIncomplete, strings.Join(gaps, "; "))
}

// Absent checks that no event of evs matches m. It returns the events that
// match; when there are none, an error matching tracep.ErrIncomplete says
// that the trace could still hide one: events of m's kind were lost, or an
// event cut short would match if its missing part did.
func Absent(evs []tracep.Event, m Matcher) ([]tracep.Event, error) {
	var found, hiding []tracep.Event
	for _, ev := range evs {
		switch {
		case m.Match(ev):
			found = append(found, ev)
		case m.MayMatch(ev):
			hiding = append(hiding, ev)
		}
	}
	if len(found) > 0 {
		return found, nil
	}
	var kinds []tracep.Kind
	if m.Kind != "" {
		kinds = []tracep.Kind{m.Kind}
	}
	return nil, incomplete(Gaps(evs, kinds...), hiding)
}

// requireComplete fails t, saying what could not be verified, when the
// capture lost events of kinds or hiding may hide a match.
func (c *Capture) requireComplete(t testing.TB, what string, hiding []tracep.Event, kinds ...tracep.Kind) {
	t.Helper()
	if err := incomplete(Gaps(c.Events, kinds...), hiding); err != nil {
		fail(t, "%s: cannot be verified: %v", what, err)
	}
}

// Incomplete returns an error matching tracep.ErrIncomplete when the
// capture lost events of kinds (any kind when none is given), else nil.
func (c *Capture) Incomplete(kinds ...tracep.Kind) error {
	return incomplete(Gaps(c.Events, kinds...), nil)
}
