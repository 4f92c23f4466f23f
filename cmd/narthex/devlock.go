package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// devLockFile, in the state folder, is locked (flock) by the narthex dev
// that uses the folder and holds its pid. The kernel releases the lock when
// that process ends, however it ends, so a crash leaves nothing stale.
const devLockFile = "narthex-dev.pid"

// errFolderInUse means another narthex dev holds the state folder.
var errFolderInUse = errors.New("in use by another narthex dev")

// lockDevDir takes the state folder dir for this process, or fails at once
// naming the process that has it. The lock lasts until release is called or
// the process ends.
func lockDevDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, devLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock state folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b, _ := os.ReadFile(path)
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				return nil, fmt.Errorf("%s is %w (pid %d); stop it first, or pick another --dir", dir, errFolderInUse, pid)
			}
			return nil, fmt.Errorf("%s is %w; stop it first, or pick another --dir", dir, errFolderInUse)
		}
		return nil, fmt.Errorf("lock state folder: %w", err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock state folder: %w", err)
	}
	return func() { f.Close() }, nil
}
