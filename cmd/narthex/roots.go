package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/narthex-cache/narthex/origin"
)

const rootsUsage = `usage: narthex roots <action> [flags]

Manages the origin's garbage-collection roots: a root is a name that keeps
its paths and their closures from collection until it is removed or expires.
Talks to the origin's roots API (--origin) with an upload token (--token-file).

Actions:
  add NAME PATH...   create the root NAME, or replace its paths and expiry
  list [NAME]        the roots (or the root NAME): paths, expiry, last change
  remove NAME        remove the root; its paths can be collected unless something else keeps them

Run "narthex roots <action> -h" for an action's flags.
`

var rootsActions = map[string]command{
	"add":    runRootsAdd,
	"list":   runRootsList,
	"remove": runRootsRemove,
}

func runRoots(ctx context.Context, args []string) error {
	return dispatch(ctx, args, "action", rootsUsage, rootsActions, ": want add, list or remove (see narthex roots -h)")
}

// rootsRequestTimeout bounds one call of the roots API: the origin answers
// from a few queries, so a longer wait means it is not answering.
const rootsRequestTimeout = time.Minute

// rootsClient calls an origin's roots API with an upload token.
type rootsClient struct {
	base  string // without a trailing "/"
	token string
	http  *http.Client
}

// rootsClientFlags defines --origin and --token-file; the returned function,
// called after parse, gives the client they describe.
func rootsClientFlags(f *flags) func() (*rootsClient, error) {
	originURL := f.String("origin", "http://127.0.0.1:8080", "base URL of the origin")
	tokenFile := f.String("token-file", "", "file holding an upload token of the origin (narthex token create)")
	return func() (*rootsClient, error) {
		if *tokenFile == "" {
			return nil, errors.New("--token-file is required (make a token with narthex token create)")
		}
		token, err := readSecret("token-file", *tokenFile)
		if err != nil {
			return nil, err
		}
		return &rootsClient{
			base:  strings.TrimRight(*originURL, "/"),
			token: token,
			http:  &http.Client{Timeout: rootsRequestTimeout},
		}, nil
	}
}

// do calls the API at path ("/api/roots..."), sending in as JSON unless it
// is nil and decoding a 200's body into out unless it is nil. An error
// answer becomes an error with the origin's one-line reason.
func (c *rootsClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("--origin: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("origin: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		reason, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		if resp.StatusCode >= 500 || reason == "" {
			return fmt.Errorf("origin: %s %s answered %s: %s", method, path, resp.Status, reason)
		}
		return errors.New(reason)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("origin: %s %s: answer is not JSON: %w", method, path, err)
	}
	return nil
}

// rootCall returns the API path of the root name, checked first so that a
// bad name is refused without a request, and the client of the command's
// --origin and --token-file.
func rootCall(name string, client func() (*rootsClient, error)) (string, *rootsClient, error) {
	if !origin.ValidRootName(name) {
		return "", nil, fmt.Errorf("root name %q: %w", name, origin.ErrBadRootName)
	}
	c, err := client()
	return "/api/roots/" + name, c, err
}

func runRootsAdd(ctx context.Context, args []string) error {
	f := newFlags("roots add", "Creates the root NAME pinning the PATHs and their closures, or replaces the\n"+
		"paths and the expiry of the existing root NAME with these (a replaced root keeps\n"+
		"none of its old paths). A PATH is a store path, its base name <hash>-<name> or its\n"+
		"hash, and must be in the cache; otherwise nothing changes. Without --expires-in or\n"+
		"--expires the root never expires.\n"+
		"NAME is 1 to 200 characters of A-Z, a-z, 0-9, '.', '_', ':', '@', '+' and '-',\n"+
		"starting with a letter or digit.")
	name := f.arg("NAME")
	paths := f.restArgs("PATH...", 1, -1)
	expiresIn := f.Duration("expires-in", 0, "time after which the root expires (90m, 720h)")
	expires := f.String("expires", "", "time at which the root expires, RFC 3339 (2030-01-02T15:04:05Z)")
	client := rootsClientFlags(f)
	if err := f.parse(args); err != nil {
		return err
	}
	path, c, err := rootCall(*name, client)
	if err != nil {
		return err
	}
	req := origin.RootRequest{Paths: *paths, ExpiresAt: *expires}
	switch {
	case *expiresIn != 0 && *expires != "":
		return errors.New("give --expires-in or --expires, not both")
	case *expiresIn < 0:
		return fmt.Errorf("--expires-in %s is negative", *expiresIn)
	case *expiresIn > 0:
		req.TTL = expiresIn.String()
	case *expires != "":
		if _, err := time.Parse(time.RFC3339, *expires); err != nil {
			return fmt.Errorf("--expires %q is not an RFC 3339 time (2030-01-02T15:04:05Z)", *expires)
		}
	}
	var root origin.Root
	if err := c.do(ctx, http.MethodPut, path, req, &root); err != nil {
		return err
	}
	return writeRoots(os.Stdout, []origin.Root{root})
}

func runRootsList(ctx context.Context, args []string) error {
	f := newFlags("roots list", "Lists the roots by name, or the root NAME: its paths, when it expires (or\n"+
		"expired: it keeps nothing, and the next collection removes it) and when it was\n"+
		"last set.")
	names := f.restArgs("[NAME]", 0, 1)
	asJSON := f.Bool("json", false, "print the API's JSON instead of a table")
	client := rootsClientFlags(f)
	if err := f.parse(args); err != nil {
		return err
	}
	if len(*names) == 0 {
		c, err := client()
		if err != nil {
			return err
		}
		var list origin.RootList
		if err := c.do(ctx, http.MethodGet, "/api/roots", nil, &list); err != nil {
			return err
		}
		return report(*asJSON, list, func(w io.Writer) error { return writeRoots(w, list.Roots) })
	}
	path, c, err := rootCall((*names)[0], client)
	if err != nil {
		return err
	}
	var root origin.Root
	if err := c.do(ctx, http.MethodGet, path, nil, &root); err != nil {
		return err
	}
	return report(*asJSON, root, func(w io.Writer) error { return writeRoots(w, []origin.Root{root}) })
}

func runRootsRemove(ctx context.Context, args []string) error {
	f := newFlags("roots remove", "Removes the root NAME. Its paths can be collected from then on, unless another\n"+
		"root, a reference or the collection's grace periods keep them.")
	name := f.arg("NAME")
	client := rootsClientFlags(f)
	if err := f.parse(args); err != nil {
		return err
	}
	path, c, err := rootCall(*name, client)
	if err != nil {
		return err
	}
	if err := c.do(ctx, http.MethodDelete, path, nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "removed root %s\n", *name)
	return nil
}

// writeRoots writes roots as a table, a root's paths one a line below its
// first.
func writeRoots(w io.Writer, roots []origin.Root) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tEXPIRES\tUPDATED\tPATHS")
	for _, r := range roots {
		expires := "never"
		if r.ExpiresAt != nil {
			expires = r.ExpiresAt.UTC().Format(time.RFC3339)
			if r.Expired {
				expires += " (expired)"
			}
		}
		first := "-"
		if len(r.Paths) > 0 {
			first = r.Paths[0]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, expires, r.UpdatedAt.UTC().Format(time.RFC3339), first)
		for _, p := range r.Paths[min(1, len(r.Paths)):] {
			fmt.Fprintf(tw, "\t\t\t%s\n", p)
		}
	}
	return tw.Flush()
}
