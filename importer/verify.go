package importer

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"

	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/narinfo"
)

// narFile is a NAR file of a path, as its narinfo describes it.
type narFile struct {
	narinfo.File
	nameHash    string // the hash its name carries, "sha256:<nixbase32>"
	compression string // from its name: "none" for the NAR itself
}

// narFiles checks the names of the files e lists: the origin takes only
// files named by their hash.
func narFiles(e *entry) ([]narFile, error) {
	files := make([]narFile, len(e.ni.Files))
	for i, f := range e.ni.Files {
		h, comp, err := narinfo.ParseNarFileName(f.URL)
		if err != nil {
			return nil, refuse("URL %s: %v; the origin takes NAR files named nar/<sha256 of the file>.nar[.xz|.bz2|.zst|.lzip|.lz4|.br|.gz]", f.URL, err)
		}
		if f.FileHash != "" && f.FileHash != h {
			return nil, refuse("FileHash %s of %s is not the hash its name carries", f.FileHash, f.URL)
		}
		files[i] = narFile{File: f, nameHash: h, compression: comp}
	}
	return files, nil
}

// checkBytes compares the size and SHA-256 of a file's bytes with what
// the narinfo says of them: the hash its name carries (and FileHash,
// which equals it), FileSize when given, and NarHash and NarSize when the
// file is the NAR itself.
func checkBytes(ni *narinfo.NarInfo, f narFile, size int64, sum []byte) error {
	got := "sha256:" + nixbase32.EncodeToString(sum)
	switch {
	case got != f.nameHash:
		return refuse("NAR file %s: its bytes hash to %s, not to the hash its name carries", f.URL, got)
	case f.FileSize != 0 && uint64(size) != f.FileSize:
		return refuse("NAR file %s has %d bytes, FileSize says %d", f.URL, size, f.FileSize)
	case f.compression == "none" && got != ni.NarHash:
		return refuse("NAR file %s is uncompressed and hashes to %s, but NarHash says %s", f.URL, got, ni.NarHash)
	case f.compression == "none" && uint64(size) != ni.NarSize:
		return refuse("NAR file %s is uncompressed and has %d bytes, but NarSize says %d", f.URL, size, ni.NarSize)
	}
	return nil
}

// hashed is a NAR file read and checked, ready to upload or record.
type hashed struct {
	narFile
	size int64
	sum  []byte
	// body reads the bytes again for the upload; nil with NoPayload.
	body    io.ReadCloser
	cleanup func()
}

// hashFile reads a file of e from the source, hashes it and checks it.
// For an upload it keeps the bytes to send: a file of a directory is
// opened again; a download goes to a temporary file as it is hashed, so
// that the source is read once and memory holds no NAR.
func (im *importer) hashFile(ctx context.Context, e *entry, f narFile, keep bool) (*hashed, error) {
	r, _, err := im.src.get(ctx, f.URL)
	if err != nil {
		if isNotInSource(err) {
			return nil, refuse("NAR file %s is not in the source", f.URL)
		}
		return nil, fmt.Errorf("source: %w", err)
	}
	defer r.Close()
	h := &hashed{narFile: f, cleanup: func() {}}
	sha := sha256.New()
	var w io.Writer = sha
	var tmp *os.File
	if keep && !im.src.seekable() {
		tmp, err = os.CreateTemp(im.cfg.TempDir, "narthex-import-*")
		if err != nil {
			return nil, fmt.Errorf("temporary file: %w", err)
		}
		h.cleanup = func() {
			tmp.Close()
			os.Remove(tmp.Name())
		}
		w = io.MultiWriter(sha, tmp)
	}
	h.size, err = io.Copy(w, contextReader{ctx, r})
	if err != nil {
		h.cleanup()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("read %s from the source: %w", f.URL, err)
	}
	h.sum = sha.Sum(nil)
	if err := checkBytes(e.ni, f, h.size, h.sum); err != nil {
		h.cleanup()
		return nil, err
	}
	switch {
	case !keep:
	case tmp != nil:
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			h.cleanup()
			return nil, err
		}
		h.body = io.NopCloser(tmp)
	default:
		// Read again for the upload; the origin checks its hash again.
		body, size, err := im.src.get(ctx, f.URL)
		if err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
		if size != h.size {
			body.Close()
			return nil, refuse("NAR file %s changed while it was imported", f.URL)
		}
		h.body = body
		h.cleanup = func() { body.Close() }
	}
	return h, nil
}

// contextReader stops a long read when ctx ends, between two reads.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
