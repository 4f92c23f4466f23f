package pgcluster

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// netnsDir is where ip netns keeps the namespaces it names.
const netnsDir = "/run/netns"

// enterNetns moves the calling thread into the network namespace name. The
// caller has locked its goroutine to the thread and never unlocks it, so
// the thread ends with the goroutine instead of serving others from inside
// the namespace.
func enterNetns(name string) error {
	f, err := os.Open(filepath.Join(netnsDir, name))
	if err != nil {
		return fmt.Errorf("network namespace: %w", err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter network namespace %s: %w", name, err)
	}
	return nil
}
