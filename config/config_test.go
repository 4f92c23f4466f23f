package config

import (
	"testing"
	"time"
)

func TestError_Named(t *testing.T) {
	flags := map[string]string{"TempFileMaxAge": "--temp-file-max-age", "UploadRateWindow": "--upload-rate-window"}
	byFlag := func(f string) string {
		if fl, ok := flags[f]; ok {
			return fl
		}
		return f
	}
	for _, tt := range []struct {
		err        Error
		plain, cli string
	}{
		{Error{Field: "Priority", Value: -1, Problem: "must not be negative"},
			"Priority -1 must not be negative", "Priority -1 must not be negative"},
		{Error{Field: "TempFileMaxAge", Value: "30s", Problem: "must be longer than", Other: "UploadRateWindow", OtherValue: "1m0s", Why: "live uploads' files would be removed"},
			"TempFileMaxAge 30s must be longer than UploadRateWindow 1m0s: live uploads' files would be removed",
			"--temp-file-max-age 30s must be longer than --upload-rate-window 1m0s: live uploads' files would be removed"},
	} {
		if got := tt.err.Error(); got != tt.plain {
			t.Errorf("Error() = %q, want %q", got, tt.plain)
		}
		if got := tt.err.Named(byFlag); got != tt.cli {
			t.Errorf("Named() = %q, want %q", got, tt.cli)
		}
	}
}

func TestNotNegative(t *testing.T) {
	if err := NotNegative(Duration{"A", 0}, Duration{"B", time.Second}); err != nil {
		t.Errorf("zero and positive: %v", err)
	}
	err := NotNegative(Duration{"A", time.Second}, Duration{"B", -time.Second}, Duration{"C", -time.Minute})
	if err == nil || err.Error() != "B -1s must not be negative" {
		t.Errorf("NotNegative = %v, want B's error", err)
	}
}
