//go:build !linux

package s3test

import "os/exec"

// dieWithParent does nothing where the kernel cannot tie a child's life to
// its parent's; t.Cleanup still stops the server.
func dieWithParent(cmd *exec.Cmd) {}
