package pgcluster

import (
	"strings"
	"testing"
)

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // a substring of the error; "" for none
	}{
		{"minimal", Config{Dir: "x"}, ""},
		{"all fields", Config{Dir: "/tmp/x", Port: 5432, BinDir: "/usr/bin", Settings: map[string]string{"fsync": "off", "auto_explain.log_min_duration": "0"}}, ""},
		{"netns", Config{Dir: "x", Netns: "host-a"}, ""},
		{"no dir", Config{}, "Dir"},
		{"netns path", Config{Dir: "x", Netns: "/run/netns/host-a"}, "Netns"},
		{"netns parent", Config{Dir: "x", Netns: ".."}, "Netns"},
		{"negative port", Config{Dir: "x", Port: -1}, "Port"},
		{"port too big", Config{Dir: "x", Port: 65536}, "Port"},
		{"empty setting name", Config{Dir: "x", Settings: map[string]string{"": "1"}}, "Settings"},
		{"bad setting name", Config{Dir: "x", Settings: map[string]string{"work mem": "1MB"}}, "Settings"},
		{"listen addresses", Config{Dir: "x", Settings: map[string]string{"listen_addresses": "*"}}, "listen_addresses"},
		{"port setting", Config{Dir: "x", Settings: map[string]string{"Port": "5432"}}, "Port"},
		{"socket dir", Config{Dir: "x", Settings: map[string]string{"unix_socket_directories": "/tmp"}}, "unix_socket_directories"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Validate() = nil, want an error naming %s", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}
