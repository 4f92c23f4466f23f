package placement

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/narthex-cache/narthex/stores"
)

// Objects is what Probe needs of an opened store, shaped like the methods
// of stores.Local. A missing object gives an error matching fs.ErrNotExist.
type Objects interface {
	Put(ctx context.Context, key string, r io.Reader, wantSHA256 []byte) (int64, []byte, error)
	Open(ctx context.Context, key string) (io.ReadCloser, int64, error)
	Stat(ctx context.Context, key string) (int64, error)
	Delete(ctx context.Context, key string) error
}

var _ Objects = (*stores.Local)(nil)

// ErrUnreachable is returned by Probe for a store it cannot use.
var ErrUnreachable = errors.New("unreachable")

// probePrefix starts the keys of probe objects: a folder no NAR key is in.
// A local store keeps it, empty, after a probe: Objects deletes files, not
// folders.
const probePrefix = "narthex-probe/"

// cacheInfo is the file every binary cache serves at its root.
const cacheInfo = "nix-cache-info"

// Probe checks that st, opened as objects, can be used as its policy says,
// before Add records it. A store that may be written (not read_only, not an
// http mirror) gets a small probe object written, read back, compared and
// deleted, which proves the credentials and the path or bucket. An http
// mirror must serve nix-cache-info: anything else is not a binary cache. A
// read_only store must answer a stat of nix-cache-info, found or not
// found; refused access or a dead endpoint fails. Errors wrap
// ErrUnreachable.
func Probe(ctx context.Context, st Store, objects Objects) error {
	var err error
	switch {
	case st.Kind == stores.KindHTTP:
		if _, err = objects.Stat(ctx, cacheInfo); err != nil {
			err = fmt.Errorf("not a binary cache: %w", err)
		}
	case st.ReadOnly:
		if _, err = objects.Stat(ctx, cacheInfo); errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	default:
		err = probeWrite(ctx, objects)
	}
	if err != nil {
		return fmt.Errorf("store %q %w: %w", st.Name, ErrUnreachable, err)
	}
	return nil
}

// probeWrite writes, reads back and deletes a probe object under a random
// key, so that probes of one store at once do not meet.
func probeWrite(ctx context.Context, objects Objects) error {
	var b [16]byte
	rand.Read(b[:])
	key := probePrefix + hex.EncodeToString(b[:])
	body := []byte("narthex probe " + key + "\n")
	sum := sha256.Sum256(body)
	if _, _, err := objects.Put(ctx, key, bytes.NewReader(body), sum[:]); err != nil {
		return fmt.Errorf("write probe: %w", err)
	}
	readErr := readBack(ctx, objects, key, body)
	if err := objects.Delete(ctx, key); err != nil {
		return errors.Join(readErr, fmt.Errorf("delete probe: %w", err))
	}
	return readErr
}

func readBack(ctx context.Context, objects Objects, key string, want []byte) error {
	r, _, err := objects.Open(ctx, key)
	if err != nil {
		return fmt.Errorf("read probe: %w", err)
	}
	defer r.Close()
	got, err := io.ReadAll(io.LimitReader(r, int64(len(want))+1))
	if err != nil {
		return fmt.Errorf("read probe: %w", err)
	}
	if !bytes.Equal(got, want) {
		return errors.New("read probe: the bytes read back differ from those written")
	}
	return nil
}
