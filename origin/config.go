package origin

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/narthex-cache/narthex/narinfo"
)

// Defaults for the zero values of Config fields.
const (
	DefaultPriority       = 40
	DefaultLocalStoreName = "local"
	DefaultMaxNarSize     = 4 << 30
	DefaultMaxNarinfoSize = 1 << 20
	// DefaultMaxSignatures bounds the Sig lines of a narinfo, each an
	// ed25519 verification: a cache signs with one or two keys, and a
	// path that passed through several caches carries a few more.
	DefaultMaxSignatures = 64
)

// Config configures an origin Server. Zero values take the documented
// defaults.
type Config struct {
	// StoreDir is the Nix store directory of the cache, served in
	// nix-cache-info and used to parse narinfos. Default "/nix/store".
	StoreDir string
	// Priority is the nix-cache-info Priority. Default 40 (so 0 cannot be
	// configured; Nix's own caches use 40 and above).
	Priority int
	// PublicURL is how clients reach this origin, e.g.
	// "http://127.0.0.1:8080"; it is the base URL of the local store's
	// downloads. Required.
	PublicURL string
	// LocalStoreName names the local store in the store table. Default
	// "local".
	LocalStoreName string
	// LocalStoreDir is the directory NAR bytes are written to. Required.
	LocalStoreDir string
	// SigningKeys sign every accepted narinfo.
	SigningKeys []narinfo.SecretKey
	// TrustedKeys, together with the public halves of SigningKeys, are the
	// keys uploaded signatures are checked against.
	TrustedKeys []narinfo.PublicKey
	// RequireTrustedSignature refuses narinfos that carry no valid signature
	// by one of TrustedKeys.
	RequireTrustedSignature bool
	// MaxNarSize is the largest NAR file accepted, in bytes. Default 4 GiB.
	MaxNarSize int64
	// MaxNarinfoSize is the largest narinfo accepted, in bytes. Default 1 MiB.
	MaxNarinfoSize int64
	// MaxSignatures is the most Sig lines a narinfo may carry (400
	// above). Default 64.
	MaxSignatures int
	// Logger receives the origin's logs. Default slog.Default().
	Logger *slog.Logger
}

// withDefaults returns c with its zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	if c.StoreDir == "" {
		c.StoreDir = narinfo.NixStoreDir
	}
	if c.Priority == 0 {
		c.Priority = DefaultPriority
	}
	if c.LocalStoreName == "" {
		c.LocalStoreName = DefaultLocalStoreName
	}
	if c.MaxNarSize == 0 {
		c.MaxNarSize = DefaultMaxNarSize
	}
	if c.MaxNarinfoSize == 0 {
		c.MaxNarinfoSize = DefaultMaxNarinfoSize
	}
	if c.MaxSignatures == 0 {
		c.MaxSignatures = DefaultMaxSignatures
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first field of c, defaults applied, that cannot
// work, naming it.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := narinfo.CheckStoreDir(c.StoreDir); err != nil {
		return fmt.Errorf("config: StoreDir %q: %w", c.StoreDir, err)
	}
	if c.Priority < 0 {
		return fmt.Errorf("config: Priority %d is negative", c.Priority)
	}
	if c.PublicURL == "" {
		return errors.New("config: PublicURL is required")
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("config: PublicURL %q is not an http or https base URL", c.PublicURL)
	}
	if c.LocalStoreDir == "" {
		return errors.New("config: LocalStoreDir is required")
	}
	for i, k := range c.SigningKeys {
		if k.Name() == "" {
			return fmt.Errorf("config: SigningKeys[%d] is not a parsed key", i)
		}
	}
	for i, k := range c.TrustedKeys {
		if k.Name() == "" {
			return fmt.Errorf("config: TrustedKeys[%d] is not a parsed key", i)
		}
	}
	if c.RequireTrustedSignature && len(c.TrustedKeys) == 0 {
		return errors.New("config: RequireTrustedSignature needs TrustedKeys")
	}
	if c.MaxNarSize < 0 {
		return fmt.Errorf("config: MaxNarSize %d is negative", c.MaxNarSize)
	}
	if c.MaxNarinfoSize < 0 {
		return fmt.Errorf("config: MaxNarinfoSize %d is negative", c.MaxNarinfoSize)
	}
	if c.MaxSignatures < 0 {
		return fmt.Errorf("config: MaxSignatures %d is negative", c.MaxSignatures)
	}
	return nil
}
