package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/narthex-cache/narthex/pgcluster"
)

// TestFindPostgres checks when narthex dev installs PostgreSQL. apt-get is
// a script that records its arguments: the tests must not install packages
// on the machine that runs them.
func TestFindPostgres(t *testing.T) {
	t.Parallel()
	notFound := fmt.Errorf("%w: install it with `apt-get install %s`", pgcluster.ErrNotInstalled, pgcluster.ServerPackage())
	tests := []struct {
		name        string
		binDir      string
		root, apt   bool
		wantDir     string
		wantErr     string // "" for none
		wantInstall bool
	}{
		{"root with apt-get installs", "", true, true, "/installed", "", true},
		{"not root names the package", "", false, true, "", "apt-get install " + pgcluster.ServerPackage(), false},
		{"no apt-get names the package", "", true, false, "", "apt-get install " + pgcluster.ServerPackage(), false},
		{"--pg-bin is never installed into", "/empty", true, true, "", "--pg-bin", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log := filepath.Join(t.TempDir(), "apt-get.log")
			apt := ""
			if tt.apt {
				apt = filepath.Join(t.TempDir(), "apt-get")
				if err := os.WriteFile(apt, []byte("#!/bin/sh\necho \"$@\" >> "+log+"\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			installed := func() bool { _, err := os.Stat(log); return err == nil }
			var out bytes.Buffer
			pf := postgresFinder{
				find: func(dir string) (string, error) {
					if dir == "" && installed() {
						return "/installed", nil
					}
					return "", notFound
				},
				aptGet: apt, root: tt.root, out: &out,
			}
			got, err := pf.findPostgres(t.Context(), tt.binDir)
			switch {
			case tt.wantErr == "" && (err != nil || got != tt.wantDir):
				t.Fatalf("findPostgres = %q, %v; want %q", got, err, tt.wantDir)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("findPostgres = %q, %v; want an error naming %q", got, err, tt.wantErr)
			case tt.wantErr != "" && !errors.Is(err, pgcluster.ErrNotInstalled):
				t.Errorf("error %v does not wrap ErrNotInstalled", err)
			}
			if installed() != tt.wantInstall {
				t.Errorf("apt-get ran: %v, want %v", installed(), tt.wantInstall)
			}
			if tt.wantInstall {
				b, _ := os.ReadFile(log)
				if want := "install -y -qq " + pgcluster.ServerPackage(); !strings.Contains(string(b), want) {
					t.Errorf("apt-get ran with %q, want %q", b, want)
				}
				if !strings.Contains(out.String(), "installing "+pgcluster.ServerPackage()+" with apt-get") {
					t.Errorf("installing was not announced: %q", out.String())
				}
			}
		})
	}
}
