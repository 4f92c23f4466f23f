package replication

import (
	"testing"
	"time"
)

// An unset ReceiveTimeout follows StatusInterval: a connection is given
// up after three reports without an answer, however often they go.
func TestConfig_ReceiveTimeoutDefault(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want time.Duration
	}{
		{"defaults", Config{}, 15 * time.Second},
		{"status interval set", Config{StatusInterval: 10 * time.Second}, 30 * time.Second},
		{"both set", Config{StatusInterval: 10 * time.Second, ReceiveTimeout: 5 * time.Second}, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.withDefaults().ReceiveTimeout; got != tt.want {
				t.Errorf("ReceiveTimeout = %v, want %v", got, tt.want)
			}
		})
	}
	if DefaultReceiveTimeout != (Config{}).withDefaults().ReceiveTimeout {
		t.Errorf("DefaultReceiveTimeout = %v, not the default", DefaultReceiveTimeout)
	}
}
