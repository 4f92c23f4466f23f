package stores

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenKind(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()

	st, err := OpenKind(ctx, KindLocal, []byte(`{"dir": "`+dir+`"}`), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := st.(*Local); !ok || l.Dir() != dir {
		t.Errorf("local store = %#v, want a Local in %s", st, dir)
	}
	other := filepath.Join(dir, "other")
	st, err = OpenKind(ctx, KindLocal, []byte(`{"dir": "/nonexistent/x"}`), "", other)
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := st.(*Local); !ok || l.Dir() != other {
		t.Errorf("local store with a directory given = %#v, want a Local in %s", st, other)
	}
	if _, _, err := st.Put(ctx, "nar/x", bytes.NewReader([]byte("x")), nil); err != nil {
		t.Error(err)
	}

	st, err = OpenKind(ctx, KindS3, []byte(`{"endpoint": "http://127.0.0.1:1", "region": "r", "bucket": "nars", "prefix": "c/"}`), "https://nars.example/c", "")
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := st.(*S3); !ok || s.prefix != "c/" || s.bucket != "nars" {
		t.Errorf("s3 store = %#v", st)
	} else if u, _ := s.URL("nar/x"); u != "https://nars.example/c/nar/x" {
		t.Errorf("s3 store's URL = %s", u)
	}

	st, err = OpenKind(ctx, KindHTTP, nil, "https://cache.example", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.(*Mirror); !ok {
		t.Errorf("http store = %#v, want a Mirror", st)
	}
}

func TestOpenKind_BadInput(t *testing.T) {
	tests := []struct {
		kind, settings, baseURL string
		want                    string
	}{
		{"ftp", "", "", `unknown store kind "ftp"`},
		{"", "", "", `unknown store kind ""`},
		{KindLocal, ``, "", `settings need "dir"`},
		{KindLocal, `{"dir": "relative/x"}`, "", `dir "relative/x" is not an absolute path`},
		{KindLocal, `{"directory": "/x"}`, "", `unknown field "directory"`},
		{KindLocal, `{"dir": `, "", "local store settings"},
		{KindS3, ``, "", "s3 settings"},
		{KindS3, `{"region": "r", "bucket": "nars"}`, "", "endpoint is required"},
		{KindS3, `{"endpoint": "http://x", "region": "r", "bucket": "Nars"}`, "", `bucket "Nars"`},
		{KindS3, `{"endpoint": "http://x", "region": "r", "bucket": "nars", "presign_expiry": "9d"}`, "", `presign expiry "9d"`},
		{KindS3, `{"endpoint": "http://x", "region": "r", "bucket": "nars"}`, "ftp://x", `base URL "ftp://x"`},
		{KindHTTP, ``, "", "base URL is required"},
		{KindHTTP, ``, "ftp://cache.example", `base URL "ftp://cache.example"`},
	}
	for _, tt := range tests {
		_, err := OpenKind(t.Context(), tt.kind, []byte(tt.settings), tt.baseURL, "")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("OpenKind(%q, %q, %q) = %v, want an error with %s", tt.kind, tt.settings, tt.baseURL, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("OpenKind(%q, %q, %q) error has several lines: %q", tt.kind, tt.settings, tt.baseURL, err)
		}
	}
}
