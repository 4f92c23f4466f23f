package edge

import (
	"time"
)

// Readiness is what /readyz says of the replica.
type Readiness struct {
	// Ready is true when /readyz answers 200: the replica is
	// bootstrapped, sound, and held everything the origin had sent no
	// longer than Config.MaxLag ago.
	Ready bool
	// Lag is how stale the replica may be: the time since it last held
	// everything the origin had sent. LagKnown is false until it has
	// caught up once since the edge started.
	Lag      time.Duration
	LagKnown bool
}

// Ready says what /readyz answers now, for the edge's heartbeat to
// report to the registry.
func (s *Server) Ready() Readiness {
	r, _ := s.readiness()
	return r
}

// readiness is what /readyz answers, and the body it answers with.
func (s *Server) readiness() (Readiness, []byte) {
	st := s.src.Status()
	rep := s.src.Replica()
	var r Readiness
	if !st.CaughtUpAt.IsZero() {
		r.Lag, r.LagKnown = time.Since(st.CaughtUpAt), true
	}
	switch {
	case !st.Bootstrapped || rep == nil:
		return r, bodyNoReplica
	case rep.Corrupt():
		return r, bodyCorrupt
	case !r.LagKnown:
		return r, []byte(notCaughtUp(st.LastCommit))
	case r.Lag > s.cfg.MaxLag:
		return r, []byte("not ready: replica last caught up " + r.Lag.Round(time.Second).String() + " ago\n")
	}
	r.Ready = true
	return r, bodyReady
}

// notCaughtUp says why an edge that has not reached the origin since it
// started is not ready, and how old its replica is, if known.
func notCaughtUp(lastCommit time.Time) string {
	msg := "not ready: the replica has not caught up with the origin since the edge started"
	if lastCommit.IsZero() {
		return msg + "; the time of its last applied commit is unknown\n"
	}
	return msg + "; its last applied commit is " + time.Since(lastCommit).Round(time.Second).String() + " old\n"
}
