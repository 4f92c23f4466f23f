package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/narinfo"
	"github.com/narthex-cache/narthex/stores"
)

// recordTimeout bounds recording an upload in the database once its bytes
// are committed, whether or not the client is still there.
const recordTimeout = 30 * time.Second

// getNar answers GET and HEAD of a NAR file from the local store. A file
// the records place there and the store lacks is marked missing. To an
// authenticated client, which may be an uploader deciding whether to
// upload it, a file is there only while it is recorded, and the answer
// keeps it from garbage collection for its grace period. Only HEAD asks
// that: it is how an uploader checks (PROTOCOL.md), and a download of a
// file is no promise to list it.
func (s *Server) getNar(w http.ResponseWriter, r *http.Request, url string) error {
	u, err := narinfo.ParseNarURL(url)
	if err != nil {
		return clientError(http.StatusNotFound, "not found")
	}
	if r.Method == http.MethodHead && s.authenticated(r) {
		var recorded bool
		if err := s.db.QueryRow(r.Context(), qTellNarFile, url).Scan(&recorded); err != nil {
			return fmt.Errorf("mark NAR file told: %w", err)
		}
		if !recorded {
			return clientError(http.StatusNotFound, "not found")
		}
	}
	key := u.Key
	notFound := func(err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			s.markMissing(r.Context(), url)
			return clientError(http.StatusNotFound, "not found")
		}
		return fmt.Errorf("read NAR file: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-nix-nar")
	if r.Method == http.MethodHead {
		size, err := s.payloads.Stat(r.Context(), key)
		if err != nil {
			h.Del("Content-Type")
			return notFound(err)
		}
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusOK)
		return nil
	}
	f, size, err := s.payloads.Open(r.Context(), key)
	if err != nil {
		h.Del("Content-Type")
		return notFound(err)
	}
	defer f.Close()
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	if err := s.sendNar(w, f); err != nil {
		// The status is sent; a failed copy is a client that went away
		// or stopped reading.
		s.log.Debug("NAR download broke off", "key", key, "err", err)
	}
	return nil
}

// downloadChunk is how much of a NAR download a client must take within
// DownloadStallTimeout.
const downloadChunk = 256 << 10

// sendNar copies f to w a chunk at a time (each with sendfile), each chunk
// within DownloadStallTimeout of the last, so that a client that stops
// reading is cut off instead of holding its connection for good.
func (s *Server) sendNar(w http.ResponseWriter, f io.Reader) error {
	rc := http.NewResponseController(w)
	defer rc.SetWriteDeadline(time.Time{})
	for {
		// The error is ignored: a connection that cannot take deadlines
		// (not HTTP/1) is left without one.
		rc.SetWriteDeadline(time.Now().Add(s.cfg.DownloadStallTimeout))
		_, err := io.CopyN(w, f, downloadChunk)
		switch {
		case err == io.EOF:
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.metrics.downloadsCutOff.Inc()
			return err
		case err != nil:
			return err
		}
	}
}

// putNar stores an uploaded NAR file: its bytes go to the store the upload
// rules choose (placeUpload), and are committed there only when they are
// the bytes the URL stands for (expect); then the file and its location
// are recorded in one statement, which commits before the answer.
func (s *Server) putNar(w http.ResponseWriter, r *http.Request, url string) error {
	u, err := narinfo.ParseNarURL(url)
	if err != nil {
		return badRequest("%v: narthex accepts NAR files named nar/<sha256 in nixbase32>.nar[.xz|.bz2|.zst|.lzip|.lz4|.br|.gz] "+
			"(Nix) or nar/[gzip/|lzip/|zstd/]<store path base name> (Guix)", err)
	}
	if r.ContentLength > s.cfg.MaxNarSize {
		return tooLarge(r.ContentLength, s.cfg.MaxNarSize)
	}

	claim := ""
	if u.FileHash == "" {
		claim = url
	}
	target, err := s.placeUpload(r.Context(), r.ContentLength, claim)
	if err != nil {
		return err
	}
	recorded := false
	defer func() {
		if !recorded {
			s.release(target)
		}
	}()
	want, err := s.expect(r.Context(), u, url)
	if err != nil {
		return err
	}
	body := &countingReader{r: http.MaxBytesReader(w, r.Body, s.cfg.MaxNarSize)}
	if target.reservation != nil && r.ContentLength >= 0 {
		// A body longer than it said would take more than its room.
		body.r = http.MaxBytesReader(w, r.Body, r.ContentLength)
	}
	in := io.Reader(body)
	var nar *narBody
	if want == nil {
		// Nothing says what the bytes are: find what they hold.
		if nar, err = newNarBody(body, u.Compression); err != nil {
			return badRequest("%v", err)
		}
		defer nar.end()
		in = nar
	}
	// Bytes of this key that a collection decided to delete must not
	// take these with them.
	if _, err := s.db.Exec(r.Context(), qBeginPayloadWrite, url, target.id, u.Key); err != nil {
		return fmt.Errorf("begin NAR write: %w", err)
	}
	size, sum, err := target.store.Put(r.Context(), u.Key, in, want)
	switch {
	case body.err != nil:
		return bodyError(body.err, body.n, s.cfg.MaxNarSize)
	case nar != nil && nar.err != nil:
		return badRequest("NAR file %s: %v", url, nar.err)
	case errors.Is(err, stores.ErrDigestMismatch) && u.FileHash == "":
		return clientError(http.StatusConflict, "other bytes are stored as %s already (sha256:%s, these are sha256:%s); "+
			"they cannot be replaced", url, nixbase32.EncodeToString(want), nixbase32.EncodeToString(sum))
	case errors.Is(err, stores.ErrDigestMismatch):
		return badRequest("NAR body hash sha256:%s does not match %s in the file name",
			nixbase32.EncodeToString(sum), u.FileHash)
	case err != nil && r.Context().Err() != nil:
		return badRequest("upload interrupted").withDetail(err)
	case err != nil:
		return fmt.Errorf("store NAR file: %w", err)
	}

	// The bytes are committed: record them even if the client has gone.
	fileHash := "sha256:" + nixbase32.EncodeToString(sum)
	var narHash *string
	var narSize *int64
	if nar != nil {
		narHash, narSize = &nar.hash, &nar.size
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), recordTimeout)
	defer cancel()
	if _, err := s.db.Exec(ctx, qRecordNarFile, url, fileHash, size, u.Compression, target.id, u.Key,
		target.reservation, narHash, narSize); err != nil {
		return fmt.Errorf("record NAR file %s: %w", url, err)
	}
	recorded = true
	s.metrics.uploadsByStore.WithLabelValues(target.name).Inc()
	s.metrics.uploadBytes.WithLabelValues(routeNar.uploadKind()).Add(float64(size))
	writeBody(w, http.StatusOK, "text/plain; charset=utf-8", nil)
	return nil
}

// expect returns the SHA-256 the bytes uploaded as NAR file u must have:
// the one its name carries, or for a name that carries none (Guix) the one
// recorded for its URL, or nil when none is: then the upload is the
// first, alone under its claim.
func (s *Server) expect(ctx context.Context, u narinfo.NarURL, url string) ([]byte, error) {
	hash := u.FileHash
	if hash == "" {
		err := s.db.QueryRow(ctx, qNarFileHash, url).Scan(&hash)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("read nar_file: %w", err)
		}
	}
	want, err := nixbase32.DecodeString(strings.TrimPrefix(hash, "sha256:"))
	if err != nil {
		return nil, badRequest("NAR file name has an invalid sha256 hash").withDetail(err)
	}
	return want, nil
}

// markMissing marks the local store's location of NAR file key missing when
// the records say it is good, so that edges send clients to another copy,
// and says so, with how many narinfos that took out of service.
func (s *Server) markMissing(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	var marked int64
	if err := s.db.QueryRow(ctx, qMarkLocationMissing, key, s.storeID).Scan(&marked); err != nil {
		s.log.Warn("could not mark a NAR file missing from the local store", "key", key, "err", err)
		return
	}
	if marked == 0 {
		return
	}
	s.metrics.markedMissing.Inc()
	var out int64
	if err := s.db.QueryRow(ctx, qWithdrawnOfFile, key).Scan(&out); err != nil {
		s.log.Warn("NAR file missing from the local store; marked missing", "key", key, "err", err)
		return
	}
	if out > 0 {
		s.log.Error("NAR file missing from the local store and from every other store clients download from; "+
			"its narinfos are withdrawn until a good copy is back (upload it again, or restore the file)",
			"key", key, "narinfos_withdrawn", out)
		return
	}
	s.log.Warn("NAR file missing from the local store; marked missing, other copies serve it", "key", key)
}
