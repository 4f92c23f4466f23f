package narinfo

import (
	"strings"
	"testing"
)

func TestValidHash(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"fy9ws4wcsdx389rkcbqryhn5c5p9cs30", true},
		{"00000000000000000000000000000000", true},
		{"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", true},
		{"", false},
		{"fy9ws4wcsdx389rkcbqryhn5c5p9cs3", false},   // 31 chars
		{"fy9ws4wcsdx389rkcbqryhn5c5p9cs300", false}, // 33 chars
		{"Fy9ws4wcsdx389rkcbqryhn5c5p9cs30", false},  // uppercase
		{"ey9ws4wcsdx389rkcbqryhn5c5p9cs30", false},  // e is not in the alphabet
		{"oy9ws4wcsdx389rkcbqryhn5c5p9cs30", false},
		{"uy9ws4wcsdx389rkcbqryhn5c5p9cs30", false},
		{"ty9ws4wcsdx389rkcbqryhn5c5p9cs30", false},
		{"-y9ws4wcsdx389rkcbqryhn5c5p9cs30", false},
	}
	for _, tt := range tests {
		if got := ValidHash(tt.in); got != tt.want {
			t.Errorf("ValidHash(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name  string
		valid bool
	}{
		{"hello-2.12.1", true},
		{"c-1.0", true},
		{"a", true},
		{"A+Za-z0-9._?=", true},
		{".a", true},
		{"..a", true},
		{"...", true},
		{"a.drv", true},
		{strings.Repeat("x", 211), true},
		{"", false},
		{strings.Repeat("x", 212), false},
		{".", false},
		{"..", false},
		{".-a", false},
		{"..-a", false},
		{"a b", false},
		{"a/b", false},
		{"a:b", false},
		{"a%2e", false},
		{"é", false},
		{"a\x00", false},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if (err == nil) != tt.valid {
			t.Errorf("ValidateName(%q) = %v, want valid %v", tt.name, err, tt.valid)
		}
	}
}

func TestParseStorePath(t *testing.T) {
	tests := []struct {
		storeDir, path string
		hash, name     string // empty when an error is expected
	}{
		{NixStoreDir, "/nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b", "fy9ws4wcsdx389rkcbqryhn5c5p9cs30", "b"},
		{"/gnu/store", "/gnu/store/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-hello-2.12.1", "r8s84s5jn9y9k7l2c8chjgqj14mhrw0d", "hello-2.12.1"},
		{NixStoreDir, "/gnu/store/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-hello-2.12.1", "", ""},
		{NixStoreDir, "/nix/storefy9ws4wcsdx389rkcbqryhn5c5p9cs30-b", "", ""},
		{NixStoreDir, "/nix/store//fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b", "", ""},
		{NixStoreDir, "nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b", "", ""},
		{NixStoreDir, "/nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b/bin", "", ""},
		{NixStoreDir, "/nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-", "", ""},
		{NixStoreDir, "/nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30", "", ""},
		{NixStoreDir, "/nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30_b", "", ""},
		{NixStoreDir, "/nix/store/ey9ws4wcsdx389rkcbqryhn5c5p9cs30-b", "", ""},
		{NixStoreDir, "/nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-..", "", ""},
		{NixStoreDir, "/nix/store/../etc/passwd", "", ""},
	}
	for _, tt := range tests {
		hash, name, err := ParseStorePath(tt.storeDir, tt.path)
		if tt.hash == "" {
			if err == nil {
				t.Errorf("ParseStorePath(%q, %q) = %q, %q, want an error", tt.storeDir, tt.path, hash, name)
			}
			continue
		}
		if err != nil || hash != tt.hash || name != tt.name {
			t.Errorf("ParseStorePath(%q, %q) = %q, %q, %v, want %q, %q", tt.storeDir, tt.path, hash, name, err, tt.hash, tt.name)
		}
	}
}

func TestParseBaseName(t *testing.T) {
	tests := []struct {
		base       string
		hash, name string // empty when an error is expected
	}{
		{"2kff1lgzqsa2biz3y156d5gri2vdj7iq-b.drv", "2kff1lgzqsa2biz3y156d5gri2vdj7iq", "b.drv"},
		{"ym9vx160348szmpr1zdy3f18n5v69r8f-c-1.0", "ym9vx160348szmpr1zdy3f18n5v69r8f", "c-1.0"},
		{"/nix/store/ym9vx160348szmpr1zdy3f18n5v69r8f-c-1.0", "", ""},
		{"ym9vx160348szmpr1zdy3f18n5v69r8f", "", ""},
		{"ym9vx160348szmpr1zdy3f18n5v69r8-c", "", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		hash, name, err := ParseBaseName(tt.base)
		if tt.hash == "" {
			if err == nil {
				t.Errorf("ParseBaseName(%q) = %q, %q, want an error", tt.base, hash, name)
			}
			continue
		}
		if err != nil || hash != tt.hash || name != tt.name {
			t.Errorf("ParseBaseName(%q) = %q, %q, %v, want %q, %q", tt.base, hash, name, err, tt.hash, tt.name)
		}
	}
}

func TestCheckStoreDir(t *testing.T) {
	tests := []struct {
		dir string
		ok  bool
	}{
		{"/nix/store", true},
		{"/gnu/store", true},
		{"/x", true},
		{"", false},
		{"/", false},
		{"nix/store", false},
		{"/nix/store/", false},
		{"/nix//store", false},
		{"/nix/./store", false},
		{"/nix/../store", false},
		{"/nix/my store", false},
		{"/nix/store\nPriority: 1", false},
		{"/nix/store\t", false},
		{"/nix/\x7fstore", false},
	}
	for _, tt := range tests {
		if err := CheckStoreDir(tt.dir); (err == nil) != tt.ok {
			t.Errorf("CheckStoreDir(%q) = %v, want ok=%v", tt.dir, err, tt.ok)
		}
	}
}
