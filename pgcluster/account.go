package pgcluster

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// account is the system user that owns the cluster's files and runs initdb
// and postgres. PostgreSQL refuses to run as root, so a root process hands
// the cluster to the postgres system user; any other process keeps it.
type account struct {
	name     string
	uid, gid int
	// cred switches a child to the account; nil when the account is this
	// process's own user.
	cred *syscall.Credential
}

func lookupAccount() (account, error) {
	if os.Geteuid() != 0 {
		a := account{name: strconv.Itoa(os.Geteuid()), uid: os.Geteuid(), gid: os.Getegid()}
		if u, err := user.Current(); err == nil {
			a.name = u.Username
		}
		return a, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return account{}, fmt.Errorf("running as root needs the postgres system user: %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return account{}, fmt.Errorf("user postgres: uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return account{}, fmt.Errorf("user postgres: gid %q: %w", u.Gid, err)
	}
	return account{
		name: u.Username,
		uid:  uid,
		gid:  gid,
		// Groups is empty: the child drops root's supplementary groups.
		cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)},
	}, nil
}

// own hands path to the account when the account is not this process's user.
func (a account) own(path string) error {
	if a.cred == nil {
		return nil
	}
	return os.Chown(path, a.uid, a.gid)
}

// blockedAt names the nearest parent folder of dir that the account may not
// search, or returns "" when there is none (or the account is this process's
// user). It reads mode bits only, not ACLs or supplementary groups, so it
// explains a failure after the fact rather than predicting one.
func (a account) blockedAt(dir string) string {
	if a.cred == nil {
		return ""
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && !a.canSearch(fi.Mode(), st) {
				return fmt.Sprintf("user %s (uid %d) cannot enter %s (mode %v, owner uid %d)",
					a.name, a.uid, p, fi.Mode().Perm(), st.Uid)
			}
		}
		if p == filepath.Dir(p) {
			return ""
		}
	}
}

func (a account) canSearch(mode os.FileMode, st *syscall.Stat_t) bool {
	perm := mode.Perm()
	switch {
	case int(st.Uid) == a.uid:
		return perm&0o100 != 0
	case int(st.Gid) == a.gid:
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}
