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
	name narinfo.NarURL // what its URL says of it
}

// narFiles checks the names of the files e lists: the origin takes the
// files Nix names by their hash and the ones Guix names by their path.
func narFiles(e *entry) ([]narFile, error) {
	files := make([]narFile, len(e.ni.Files))
	for i, f := range e.ni.Files {
		u, err := narinfo.ParseNarURL(f.URL)
		if err != nil {
			return nil, refuse("URL %s: %v; the origin takes NAR files named nar/<sha256 of the file>.nar[.xz|.bz2|.zst|.lzip|.lz4|.br|.gz] "+
				"or nar/[gzip/|lzip/|zstd/]<store path base name>", f.URL, err)
		}
		if f.FileHash != "" && u.FileHash != "" && f.FileHash != u.FileHash {
			return nil, refuse("FileHash %s of %s is not the hash its name carries", f.FileHash, f.URL)
		}
		files[i] = narFile{File: f, name: u}
	}
	return files, nil
}

// checkBytes compares the size and SHA-256 of a file's bytes, and of the
// NAR it holds when its name carries no hash (narHash and narSize from a
// NarHasher), with what the narinfo says of them: the hash its name
// carries, FileHash, FileSize, and NarHash and NarSize when the file is
// the NAR itself or holds it by a name without a hash.
func checkBytes(ni *narinfo.NarInfo, f narFile, size int64, sum []byte, narHash string, narSize uint64) error {
	got := "sha256:" + nixbase32.EncodeToString(sum)
	if f.name.FileHash == "" {
		switch {
		case f.FileHash != "" && got != f.FileHash:
			return refuse("NAR file %s: its bytes hash to %s, not to its FileHash", f.URL, got)
		case f.FileSize != 0 && uint64(size) != f.FileSize:
			return refuse("NAR file %s has %d bytes, FileSize says %d", f.URL, size, f.FileSize)
		case narHash != ni.NarHash || narSize != ni.NarSize:
			return refuse("NAR file %s holds a NAR of %s and %d bytes, but NarHash and NarSize say %s and %d",
				f.URL, narHash, narSize, ni.NarHash, ni.NarSize)
		}
		return nil
	}
	switch {
	case got != f.name.FileHash:
		return refuse("NAR file %s: its bytes hash to %s, not to the hash its name carries", f.URL, got)
	case f.FileSize != 0 && uint64(size) != f.FileSize:
		return refuse("NAR file %s has %d bytes, FileSize says %d", f.URL, size, f.FileSize)
	case f.name.Compression == "none" && got != ni.NarHash:
		return refuse("NAR file %s is uncompressed and hashes to %s, but NarHash says %s", f.URL, got, ni.NarHash)
	case f.name.Compression == "none" && uint64(size) != ni.NarSize:
		return refuse("NAR file %s is uncompressed and has %d bytes, but NarSize says %d", f.URL, size, ni.NarSize)
	}
	return nil
}

// hashed is a NAR file read and checked, ready to upload or record.
type hashed struct {
	narFile
	size int64
	sum  []byte
	// narHash and narSize are what a file whose name carries no hash
	// holds, "" and 0 otherwise.
	narHash string
	narSize uint64
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
	writers := []io.Writer{sha}
	var nar *narinfo.NarHasher
	var narW *failingWriter
	if f.name.FileHash == "" {
		if nar, err = narinfo.NewNarHasher(f.name.Compression); err != nil {
			return nil, err
		}
		narW = &failingWriter{w: nar}
		writers = append(writers, narW)
	}
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
		writers = append(writers, tmp)
	}
	h.size, err = io.Copy(io.MultiWriter(writers...), contextReader{ctx, r})
	if err != nil {
		h.cleanup()
		if nar != nil {
			nar.Abort()
		}
		if narW != nil && narW.err != nil {
			return nil, refuse("NAR file %s: %v", f.URL, narW.err)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("read %s from the source: %w", f.URL, err)
	}
	h.sum = sha.Sum(nil)
	if nar != nil {
		if h.narHash, h.narSize, err = nar.Close(); err != nil {
			h.cleanup()
			return nil, refuse("NAR file %s: %v", f.URL, err)
		}
	}
	if err := checkBytes(e.ni, f, h.size, h.sum, h.narHash, h.narSize); err != nil {
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

// failingWriter remembers why its writer failed.
type failingWriter struct {
	w   io.Writer
	err error
}

func (f *failingWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		f.err = err
	}
	return n, err
}

// fileHash is the SHA-256 of the bytes, "sha256:<nixbase32>".
func (h *hashed) fileHash() string {
	return "sha256:" + nixbase32.EncodeToString(h.sum)
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
