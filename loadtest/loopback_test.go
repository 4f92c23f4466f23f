package loadtest_test

import (
	"errors"
	"testing"

	"github.com/narthex-cache/narthex/loadtest"
)

func TestCheckURL(t *testing.T) {
	for _, tc := range []struct {
		url      string
		loopback bool // refused only if not
		ok       bool
	}{
		{"http://127.0.0.1:8081", true, true},
		{"http://127.8.9.10/cache", true, true},
		{"http://localhost:80", true, true},
		{"http://[::1]:8081", true, true},
		{"http://[::ffff:127.0.0.1]:8081", true, true},
		{"http://192.0.2.1:8081", false, false},
		{"http://0.0.0.0:8081", false, false},
		{"http://localhost.example.com", false, false},
		{"http://[2001:db8::1]:80", false, false},
		{"https://127.0.0.1", true, false},
		{"http://127.0.0.1:8081/?q=1", true, false},
	} {
		_, err := loadtest.CheckURL(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q) = %v, want ok %v", tc.url, err, tc.ok)
		}
		if !tc.loopback && !errors.Is(err, loadtest.ErrNotLoopback) {
			t.Errorf("CheckURL(%q) = %v, want ErrNotLoopback", tc.url, err)
		}
	}
}

func TestCheckDatabaseURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"postgres://postgres@127.0.0.1:5432/narthex?sslmode=disable", true},
		{"postgres://postgres@localhost/narthex", true},
		{"host=/var/run/postgresql dbname=narthex", true},
		{"postgres://postgres@db.example.com/narthex", false},
		{"postgres://postgres@127.0.0.1,192.0.2.1/narthex", false},
	} {
		if err := loadtest.CheckDatabaseURL(tc.url); (err == nil) != tc.ok {
			t.Errorf("CheckDatabaseURL(%q) = %v, want ok %v", tc.url, err, tc.ok)
		}
	}
}

func TestCheckListen(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:0": true, "[::1]:9000": true, "localhost:1": true, ":8080": false, "0.0.0.0:80": false} {
		if err := loadtest.CheckListen(addr); (err == nil) != ok {
			t.Errorf("CheckListen(%q) = %v, want ok %v", addr, err, ok)
		}
	}
}
