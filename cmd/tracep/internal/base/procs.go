package base

import (
	"os/user"
	"strconv"

	"github.com/tracep/tracep/tracep"
)

// depthTracker gives live output its indentation: a process is one level
// below its parent when the parent was seen, else at the top.
type depthTracker struct{ depth map[int32]int }

// of returns the depth of p, remembering it for p's children.
func (d *depthTracker) of(p tracep.Proc) int {
	if d.depth == nil {
		d.depth = map[int32]int{}
	}
	if n, ok := d.depth[p.PID]; ok {
		return n
	}
	n := 0
	if pd, ok := d.depth[p.PPID]; ok {
		n = pd + 1
	}
	d.depth[p.PID] = n
	return n
}

// forget drops an exited process (its pid may be reused).
func (d *depthTracker) forget(pid int32) { delete(d.depth, pid) }

// userNames names uids, cached (a lookup reads /etc/passwd or asks NSS).
type userNames struct{ names map[uint32]string }

func (u *userNames) name(uid uint32) string {
	if u.names == nil {
		u.names = map[uint32]string{}
	}
	name, ok := u.names[uid]
	if !ok {
		name = strconv.Itoa(int(uid))
		if usr, err := user.LookupId(name); err == nil {
			name = usr.Username
		}
		name = tracep.Escape(name)
		u.names[uid] = name
	}
	return name
}

// userColor is the colour of uid's name, the reference's: root bright
// red, others bright green.
func userColor(uid uint32) int {
	if uid == 0 {
		return cBrRed
	}
	return cBrGreen
}
