package origin

import (
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/narinfo"
)

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	_, pub, err := narinfo.GenerateKey("k")
	if err != nil {
		t.Fatal(err)
	}
	valid := Config{PublicURL: "http://127.0.0.1:8080", LocalStoreDir: "/var/lib/narthex"}
	tests := []struct {
		name   string
		change func(c *Config)
		want   string // in the error; "" for none
	}{
		{"defaults", func(c *Config) {}, ""},
		{"guix store", func(c *Config) { c.StoreDir = "/gnu/store" }, ""},
		{"https with a path", func(c *Config) { c.PublicURL = "https://cache.example/narthex/" }, ""},
		{"trusted keys required", func(c *Config) { c.TrustedKeys = []narinfo.PublicKey{pub}; c.RequireTrustedSignature = true }, ""},
		{"relative store dir", func(c *Config) { c.StoreDir = "nix/store" }, "StoreDir"},
		{"store dir with a slash", func(c *Config) { c.StoreDir = "/nix/store/" }, "StoreDir"},
		{"root store dir", func(c *Config) { c.StoreDir = "/" }, "StoreDir"},
		{"store dir with a newline", func(c *Config) { c.StoreDir = "/nix/store\nPriority: 1" }, "StoreDir"},
		{"negative priority", func(c *Config) { c.Priority = -1 }, "Priority"},
		{"no public URL", func(c *Config) { c.PublicURL = "" }, "PublicURL"},
		{"public URL without scheme", func(c *Config) { c.PublicURL = "127.0.0.1:8080" }, "PublicURL"},
		{"public URL with a query", func(c *Config) { c.PublicURL = "http://x/?a=b" }, "PublicURL"},
		{"public URL ftp", func(c *Config) { c.PublicURL = "ftp://x/" }, "PublicURL"},
		{"no store directory", func(c *Config) { c.LocalStoreDir = "" }, "LocalStoreDir"},
		{"zero signing key", func(c *Config) { c.SigningKeys = []narinfo.SecretKey{{}} }, "SigningKeys [0] is not a parsed key"},
		{"zero trusted key", func(c *Config) { c.TrustedKeys = []narinfo.PublicKey{{}} }, "TrustedKeys [0] is not a parsed key"},
		{"required without keys", func(c *Config) { c.RequireTrustedSignature = true }, "RequireTrustedSignature"},
		{"negative NAR limit", func(c *Config) { c.MaxNarSize = -1 }, "MaxNarSize"},
		{"negative narinfo limit", func(c *Config) { c.MaxNarinfoSize = -1 }, "MaxNarinfoSize"},
		{"negative signature limit", func(c *Config) { c.MaxSignatures = -1 }, "MaxSignatures"},
		{"negative header timeout", func(c *Config) { c.ReadHeaderTimeout = -time.Second }, "ReadHeaderTimeout"},
		{"negative idle timeout", func(c *Config) { c.IdleTimeout = -time.Second }, "IdleTimeout"},
		{"negative upload rate", func(c *Config) { c.MinUploadRate = -1 }, "MinUploadRate"},
		{"negative upload window", func(c *Config) { c.UploadRateWindow = -time.Second }, "UploadRateWindow"},
		{"negative download stall timeout", func(c *Config) { c.DownloadStallTimeout = -time.Second }, "DownloadStallTimeout"},
		{"negative connection limit", func(c *Config) { c.MaxConnsPerClient = -1 }, "MaxConnsPerClient"},
		{"negative temp file age", func(c *Config) { c.TempFileMaxAge = -time.Second }, "TempFileMaxAge"},
		{"temp file age within the upload window", func(c *Config) { c.TempFileMaxAge = time.Minute; c.UploadRateWindow = 2 * time.Minute }, "TempFileMaxAge"},
		{"negative sweep interval", func(c *Config) { c.SweepInterval = -time.Second }, "SweepInterval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestConfig_Defaults(t *testing.T) {
	t.Parallel()
	c := Config{}.withDefaults()
	if c.StoreDir != "/nix/store" || c.Priority != 40 || c.LocalStoreName != "local" ||
		c.MaxNarSize != 4<<30 || c.MaxNarinfoSize != 1<<20 || c.MaxSignatures != 64 || c.Logger == nil ||
		c.ReadHeaderTimeout != 30*time.Second || c.IdleTimeout != 90*time.Second || c.MinUploadRate != 1024 ||
		c.UploadRateWindow != time.Minute || c.MaxConnsPerClient != 64 || c.DownloadStallTimeout != time.Minute || c.TempFileMaxAge != time.Hour ||
		c.SweepInterval != 15*time.Minute {
		t.Errorf("defaults = %+v", c)
	}
}
