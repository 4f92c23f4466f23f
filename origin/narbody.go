package origin

import (
	"errors"
	"io"

	"github.com/narthex-cache/narthex/narinfo"
)

// narBody reads an uploaded NAR file whose name does not say what its
// bytes hash to (Guix's nar/<compression>/<base name>), finding as it
// goes the NarHash and NarSize of the NAR the file holds. It ends with an
// error instead of io.EOF when the bytes are not a whole file of its
// compression, so that a store never commits them.
type narBody struct {
	r      io.Reader
	hasher *narinfo.NarHasher
	done   bool
	hash   string // the NAR's, "sha256:<nixbase32>", once read to its end
	size   int64
	err    error // why the bytes hold no NAR
}

func newNarBody(r io.Reader, compression string) (*narBody, error) {
	h, err := narinfo.NewNarHasher(compression)
	if err != nil {
		return nil, err
	}
	return &narBody{r: r, hasher: h}, nil
}

func (b *narBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, b.final()
	}
	n, err := b.r.Read(p)
	if n > 0 {
		if _, werr := b.hasher.Write(p[:n]); werr != nil {
			b.done, b.err = true, werr
			return 0, werr
		}
	}
	if errors.Is(err, io.EOF) {
		b.done = true
		hash, size, herr := b.hasher.Close()
		switch {
		case herr != nil:
			b.err = herr
		case size > 1<<62:
			b.err = errors.New("the NAR it holds is too large")
		default:
			b.hash, b.size = hash, int64(size)
		}
		if b.err != nil {
			return n, b.err
		}
	}
	return n, err
}

func (b *narBody) final() error {
	if b.err != nil {
		return b.err
	}
	return io.EOF
}

// end stops the hasher of a body that was not read to its end.
func (b *narBody) end() {
	if !b.done {
		b.done = true
		b.hasher.Abort()
	}
}
