package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// flags is a flag set whose every flag defaults from an environment variable
// NARTHEX_<NAME>, named in the flag's help.
type flags struct {
	*flag.FlagSet
	logLevel *string
	envErrs  []string
}

// newFlags makes the flag set of "narthex <name>", whose -h prints summary
// above the flags.
func newFlags(name, summary string) *flags {
	fs := flag.NewFlagSet("narthex "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: narthex %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	f := &flags{FlagSet: fs}
	f.logLevel = f.String("log-level", "info", "log level: debug, info, warn or error")
	return f
}

func envName(flagName string) string {
	return "NARTHEX_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (f *flags) envDefault(name string) (string, bool) {
	v, ok := os.LookupEnv(envName(name))
	return v, ok
}

func (f *flags) String(name, def, help string) *string {
	if v, ok := f.envDefault(name); ok {
		def = v
	}
	return f.FlagSet.String(name, def, help+" ($"+envName(name)+")")
}

func (f *flags) Int(name string, def int, help string) *int {
	return envParsed(f, name, def, help, strconv.Atoi, f.FlagSet.Int)
}

func (f *flags) Int64(name string, def int64, help string) *int64 {
	return envParsed(f, name, def, help, func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }, f.FlagSet.Int64)
}

func (f *flags) Bool(name string, def bool, help string) *bool {
	return envParsed(f, name, def, help, strconv.ParseBool, f.FlagSet.Bool)
}

func (f *flags) Duration(name string, def time.Duration, help string) *time.Duration {
	return envParsed(f, name, def, help, time.ParseDuration, f.FlagSet.Duration)
}

// envParsed defines a flag whose default comes from its environment variable
// when that is set; a malformed value is reported by parse.
func envParsed[T any](f *flags, name string, def T, help string, parse func(string) (T, error), define func(string, T, string) *T) *T {
	if v, ok := f.envDefault(name); ok {
		p, err := parse(v)
		if err != nil {
			f.envErrs = append(f.envErrs, fmt.Sprintf("$%s=%q: %v", envName(name), v, err))
		} else {
			def = p
		}
	}
	return define(name, def, help+" ($"+envName(name)+")")
}

// parse parses args, after reporting any malformed environment default.
func (f *flags) parse(args []string) error {
	if len(f.envErrs) > 0 {
		return fmt.Errorf("bad environment: %s", strings.Join(f.envErrs, "; "))
	}
	return f.FlagSet.Parse(args)
}

func (f *flags) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(*f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), nil
}

// readSecret reads a secret from a file, trimming surrounding white space.
func readSecret(flagName, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flagName, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// databaseURL defines --database-url and --database-url-file (for a
// connection string with a password, kept off the command line), described
// by what; the returned function, called after parse, gives the string.
func (f *flags) databaseURL(what string) func() (string, error) {
	url := f.String("database-url", "", what)
	file := f.String("database-url-file", "", "file holding the connection string (instead of --database-url)")
	return func() (string, error) {
		if *file != "" {
			return readSecret("database-url-file", *file)
		}
		if *url == "" {
			return "", errors.New("--database-url or --database-url-file is required")
		}
		return *url, nil
	}
}
