package base

import (
	"fmt"
	"os/user"
	"strconv"
	"syscall"
)

// credential returns the credential of the user named (or numbered) name,
// with its groups, and the environment a login of it would have: what
// -as runs the command with, so that `sudo tracep ... -- CMD` need not run
// CMD as root.
func credential(name string) (*syscall.Credential, []string, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if _, numErr := strconv.ParseUint(name, 10, 32); numErr != nil {
			return nil, nil, err
		}
		if u, err = user.LookupId(name); err != nil {
			return nil, nil, err
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, nil, fmt.Errorf("uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, nil, fmt.Errorf("gid %q: %w", u.Gid, err)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(g))
			}
		}
	}
	env := []string{"USER=" + u.Username, "LOGNAME=" + u.Username}
	if u.HomeDir != "" {
		env = append(env, "HOME="+u.HomeDir)
	}
	return cred, env, nil
}
