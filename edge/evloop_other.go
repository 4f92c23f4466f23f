//go:build !linux

package edge

import (
	"context"
	"errors"
	"net"
)

const defaultEngine = EngineFastHTTP

const eventLoopSupported = false

func (s *Server) serveLoops(context.Context, net.Listener) error {
	return errors.New("event loop: needs Linux")
}
