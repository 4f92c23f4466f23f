package stores

import (
	"errors"
	"testing"
)

func TestValidKey(t *testing.T) {
	tests := []struct {
		key string
		ok  bool
	}{
		{"nar/0mbp0hbwv1pz0wz4f3lbbgq6igbwjvghi8xkd0ql3ydyhnm5bdbb.nar.xz", true},
		{"nar/gzip/abc-hello", true},
		{"x", true},
		{"", false},
		{".", false},
		{"..", false},
		{"/nar/x", false},
		{"nar/x/", false},
		{"nar//x", false},
		{"nar/../x", false},
		{"../x", false},
		{"nar/./x", false},
		{"nar/.tmp-123", false},
		{".hidden", false},
		{`nar\x`, false},
		{"nar/\x00", false},
	}
	for _, tt := range tests {
		err := ValidKey(tt.key)
		if (err == nil) != tt.ok {
			t.Errorf("ValidKey(%q) = %v, want ok=%v", tt.key, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidKey(%q) = %v, want ErrInvalidKey", tt.key, err)
		}
	}
}
