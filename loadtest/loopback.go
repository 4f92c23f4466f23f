package loadtest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotLoopback is returned for a target outside this machine.
var ErrNotLoopback = errors.New("loadtest only targets loopback (127.0.0.0/8, ::1 or localhost)")

// loopbackHost reports whether host (no port, IPv6 without brackets) is
// localhost or a loopback address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// CheckURL parses an http:// URL and refuses it unless its host is on
// loopback. The URL's path, if any, is the prefix requests go under.
func CheckURL(raw string) (*url.URL, error) {
	return checkURL(raw, "http")
}

// CheckLookupURL is CheckURL for lookups, which may go over https:// too.
func CheckLookupURL(raw string) (*url.URL, error) { return checkURL(raw, "http", "https") }

func checkURL(raw string, schemes ...string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("URL %q: %w", raw, err)
	}
	if !slices.Contains(schemes, u.Scheme) {
		return nil, fmt.Errorf("URL %q: only %s:// is supported", raw, strings.Join(schemes, ":// and "))
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("URL %q has no host", raw)
	}
	if !loopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("URL %q: host %s: %w", raw, u.Hostname(), ErrNotLoopback)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("URL %q: give scheme, host, port and path only", raw)
	}
	return u, nil
}

// hostPort returns u's host:port, with port 80 (443 for https) when it
// names none.
func hostPort(u *url.URL) string {
	if u.Port() == "" && u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "80")
	}
	return u.Host
}

// CheckListen refuses a listen address whose host is not on loopback
// (an empty host means every interface).
func CheckListen(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if !loopbackHost(host) {
		return fmt.Errorf("listen address %q: %w", addr, ErrNotLoopback)
	}
	return nil
}

// CheckDatabaseURL refuses a PostgreSQL connection string naming a host
// that is neither on loopback nor a unix socket directory.
func CheckDatabaseURL(connString string) error {
	cfg, err := pgconn.ParseConfig(connString)
	if err != nil {
		// pgconn redacts the password from its message.
		return fmt.Errorf("database URL: %w", err)
	}
	hosts := []string{cfg.Host}
	for _, fb := range cfg.Fallbacks {
		hosts = append(hosts, fb.Host)
	}
	for _, h := range hosts {
		if !strings.HasPrefix(h, "/") && !loopbackHost(h) {
			return fmt.Errorf("database host %s: %w", h, ErrNotLoopback)
		}
	}
	return nil
}
