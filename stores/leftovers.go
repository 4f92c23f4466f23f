package stores

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TempFile is a temporary file a Put left behind, found by RemoveTemp.
type TempFile struct {
	Path    string // slash path relative to the store's root
	Size    int64
	ModTime time.Time
}

// RemoveTemp removes the temporary files of Puts that were last written
// before olderThan: an upload that is still running writes to its file all
// along, so such a file belongs to a Put that a crash interrupted. It
// returns the files it removed, and stops at the first error or when ctx
// is done.
func (l *Local) RemoveTemp(ctx context.Context, olderThan time.Time) ([]TempFile, error) {
	var removed []TempFile
	err := filepath.WalkDir(l.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // committed or removed by its Put meanwhile
		}
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() || !fi.ModTime().Before(olderThan) {
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		rel, _ := filepath.Rel(l.dir, p)
		removed = append(removed, TempFile{Path: filepath.ToSlash(rel), Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("remove temporary files: %w", err)
	}
	return removed, nil
}

// Walk calls fn with the key and size of each object under prefix (a
// directory key such as "nar", or "" for all), in lexical order, skipping
// temporary files. It stops at fn's first error or when ctx is done.
func (l *Local) Walk(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	root := l.dir
	if prefix != "" {
		if err := ValidKey(prefix); err != nil {
			return err
		}
		root = l.path(prefix)
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipDir // nothing stored under prefix yet
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != root {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil // a temporary file, or not ours
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(l.dir, p)
		return fn(filepath.ToSlash(rel), fi.Size())
	})
	if err != nil {
		return fmt.Errorf("walk %s: %w", l.dir, err)
	}
	return nil
}
