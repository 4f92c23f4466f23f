package replication

import (
	"testing"
	"time"
)

// A report left unacknowledged for three status intervals ends the
// connection, however often reports go, unless ReceiveTimeout is shorter;
// an unset ReceiveTimeout is PostgreSQL's wal_receiver_timeout.
func TestConfig_UnackedTimeout(t *testing.T) {
	tests := []struct {
		name           string
		cfg            Config
		receive, unack time.Duration
	}{
		{"defaults", Config{}, 60 * time.Second, 15 * time.Second},
		{"status interval set", Config{StatusInterval: 10 * time.Second}, 60 * time.Second, 30 * time.Second},
		{"receive timeout shorter", Config{StatusInterval: 10 * time.Second, ReceiveTimeout: 5 * time.Second}, 5 * time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg.withDefaults()
			if c.ReceiveTimeout != tt.receive || c.unackedTimeout() != tt.unack {
				t.Errorf("ReceiveTimeout, unacknowledged timeout = %v, %v; want %v, %v", c.ReceiveTimeout, c.unackedTimeout(), tt.receive, tt.unack)
			}
		})
	}
}
