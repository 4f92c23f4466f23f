package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/narthex-cache/narthex/config"
)

// flags is a flag set whose every flag defaults from an environment variable
// NARTHEX_<NAME>, named in the flag's help. Its commands take flags before,
// between and after their positional arguments.
type flags struct {
	*flag.FlagSet
	name, summary string
	logLevel      *string
	envErrs       []string
	// positional names the arguments the command takes, each filled by
	// parse into the matching values entry.
	positional []string
	values     []*string
	// rest, when restName is set, takes the arguments after the
	// positional ones: at least restMin, at most restMax (-1: any).
	restName         string
	restMin, restMax int
	rest             *[]string
}

// newFlags makes the flag set of "narthex <name>", whose -h prints summary
// above the flags.
func newFlags(name, summary string) *flags {
	fs := flag.NewFlagSet("narthex "+name, flag.ContinueOnError)
	// parse reports errors and prints the usage itself.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	f := &flags{FlagSet: fs, name: name, summary: summary}
	f.logLevel = f.String("log-level", "info", "log level: debug, info, warn or error")
	return f
}

// arg declares the next positional argument, shown as name in the usage;
// parse fills the returned string and refuses arguments missing or extra.
func (f *flags) arg(name string) *string {
	v := new(string)
	f.positional = append(f.positional, name)
	f.values = append(f.values, v)
	return v
}

// restArgs declares the arguments after the positional ones, shown as name
// in the usage ("PATH...", "[NAME]"); parse fills the returned slice and
// refuses fewer than atLeast or more than atMost (-1: no bound).
func (f *flags) restArgs(name string, atLeast, atMost int) *[]string {
	f.restName, f.restMin, f.restMax, f.rest = name, atLeast, atMost, new([]string)
	return f.rest
}

// printUsage writes the command's usage: synopsis, summary, flags.
func (f *flags) printUsage(w io.Writer) {
	synopsis := "narthex " + f.name
	args := f.positional
	if f.restName != "" {
		args = append(slices.Clip(args), f.restName)
	}
	if len(args) > 0 {
		synopsis += " " + strings.Join(args, " ")
	}
	fmt.Fprintf(w, "Usage: %s [flags]\n\n%s\n\n", synopsis, f.summary)
	if len(args) > 0 {
		fmt.Fprint(w, "Flags may come before or after the arguments; \"--\" ends the flags.\n\n")
	}
	fmt.Fprint(w, "Flags:\n")
	f.SetOutput(w)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
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

// parse parses args, flags and positional arguments in any order, after
// reporting any malformed environment default. -h or --help prints the
// usage on standard output and returns flag.ErrHelp.
func (f *flags) parse(args []string) error {
	pos, err := parseInterspersed(f.FlagSet, args)
	if errors.Is(err, flag.ErrHelp) {
		f.printUsage(os.Stdout)
		return err
	}
	if err != nil {
		return fmt.Errorf("%w (see narthex %s -h)", err, f.name)
	}
	if len(f.envErrs) > 0 {
		return fmt.Errorf("bad environment: %s", strings.Join(f.envErrs, "; "))
	}
	if len(pos) < len(f.positional) {
		return fmt.Errorf("missing %s (see narthex %s -h)", f.positional[len(pos)], f.name)
	}
	for i, v := range pos[:len(f.positional)] {
		*f.values[i] = v
	}
	rest, atMost := pos[len(f.positional):], f.restMax
	if f.restName == "" {
		atMost = 0
	}
	if atMost >= 0 && len(rest) > atMost {
		return fmt.Errorf("unexpected argument %q (see narthex %s -h)", rest[atMost], f.name)
	}
	if len(rest) < f.restMin {
		return fmt.Errorf("missing %s (see narthex %s -h)", f.restName, f.name)
	}
	if f.rest != nil {
		*f.rest = rest
	}
	return nil
}

// parseInterspersed parses args with fs, letting flags follow positional
// arguments, and returns the positional arguments in order. Everything
// after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
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

// flagError rewrites a configuration error to name the flags the user typed,
// by names (Config field to flag), instead of the Config fields; of several
// joined errors it reports the first. Other errors are returned as they are.
func flagError(err error, names map[string]string) error {
	var ce *config.Error
	if !errors.As(err, &ce) {
		return err
	}
	return errors.New(ce.Named(func(field string) string {
		if flag, ok := names[field]; ok {
			return flag
		}
		return field
	}))
}
