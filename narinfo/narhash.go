package narinfo

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/ulikunitz/xz/lzma"
)

// NarHashCompressions are the compressions whose files a NarHasher
// decompresses: the ones Guix writes.
var NarHashCompressions = []string{"none", "gzip", "lzip", "zstd"}

// A NarHasher finds the NarHash and NarSize of the NAR a NAR file holds,
// fed the file's bytes as they arrive: what a narinfo says of a file whose
// name does not carry its hash is checked against them. It decompresses
// on a goroutine of its own, which Close or Abort ends.
type NarHasher struct {
	pw   *io.PipeWriter
	done chan narDigest
}

type narDigest struct {
	hash string
	size uint64
	err  error
}

// NewNarHasher returns a hasher of files of the given compression, one of
// NarHashCompressions.
func NewNarHasher(compression string) (*NarHasher, error) {
	var open func(io.Reader) (io.Reader, func(), error)
	switch compression {
	case "none":
		open = func(r io.Reader) (io.Reader, func(), error) { return r, func() {}, nil }
	case "gzip":
		open = func(r io.Reader) (io.Reader, func(), error) {
			z, err := gzip.NewReader(r)
			if err != nil {
				return nil, nil, err
			}
			return z, func() { z.Close() }, nil
		}
	case "zstd":
		open = func(r io.Reader) (io.Reader, func(), error) {
			z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
			if err != nil {
				return nil, nil, err
			}
			return z, z.Close, nil
		}
	case "lzip":
		open = func(r io.Reader) (io.Reader, func(), error) { return newLzipReader(r), func() {}, nil }
	default:
		return nil, fmt.Errorf("no NAR hash of %s files", compression)
	}
	pr, pw := io.Pipe()
	h := &NarHasher{pw: pw, done: make(chan narDigest, 1)}
	go func() {
		d := digestNar(pr, compression, open)
		// Writes after a failure get its error at once.
		pr.CloseWithError(errors.Join(d.err, io.ErrClosedPipe))
		h.done <- d
	}()
	return h, nil
}

func digestNar(r io.Reader, compression string, open func(io.Reader) (io.Reader, func(), error)) narDigest {
	nar, closeNar, err := open(r)
	if err != nil {
		return narDigest{err: fmt.Errorf("not a %s file: %w", compression, err)}
	}
	defer closeNar()
	sha := sha256.New()
	n, err := io.Copy(sha, nar)
	if err != nil {
		return narDigest{err: fmt.Errorf("not a whole %s file: %w", compression, err)}
	}
	if extra, err := io.Copy(io.Discard, r); err != nil || extra > 0 {
		return narDigest{err: fmt.Errorf("not a %s file: bytes after its end", compression)}
	}
	return narDigest{hash: "sha256:" + nixbase32.EncodeToString(sha.Sum(nil)), size: uint64(n)}
}

// Write feeds the next bytes of the file. It fails once they cannot be
// decompressed.
func (h *NarHasher) Write(p []byte) (int, error) {
	n, err := h.pw.Write(p)
	if err != nil {
		h.pw.Close()
		d := <-h.done
		h.done <- d
		if d.err != nil {
			return n, d.err
		}
		return n, err
	}
	return n, nil
}

// Close ends the file and returns the NarHash ("sha256:<nixbase32>") and
// NarSize of what it holds, or why it holds no NAR of its compression.
func (h *NarHasher) Close() (narHash string, narSize uint64, err error) {
	h.pw.Close()
	d := <-h.done
	h.done <- d
	return d.hash, d.size, d.err
}

// Abort ends a hasher whose file will not be read to its end.
func (h *NarHasher) Abort() {
	h.pw.CloseWithError(errors.New("aborted"))
	h.done <- <-h.done
}

// lzip (https://www.nongnu.org/lzip/manual/lzip_manual.html, "File
// format"): members of a 6-byte header ("LZIP", version 1, coded
// dictionary size), an LZMA stream ended by its end marker, and a 20-byte
// trailer (CRC32 and size of the data, size of the member).
const (
	lzipHeaderLen  = 6
	lzipTrailerLen = 20
)

// lzipReader decompresses the members of an lzip file one after another,
// checking each trailer.
type lzipReader struct {
	src     *bufio.Reader
	member  *lzma.Reader // nil between members
	members int          // members started
	crc     uint32       // of the current member's data so far
	size    uint64       // likewise
	err     error
}

func newLzipReader(r io.Reader) *lzipReader {
	return &lzipReader{src: bufio.NewReader(r)}
}

func (z *lzipReader) Read(p []byte) (int, error) {
	for z.err == nil {
		if z.member == nil {
			z.err = z.next()
			continue
		}
		n, err := z.member.Read(p)
		z.crc = crc32.Update(z.crc, crc32.IEEETable, p[:n])
		z.size += uint64(n)
		switch {
		case err == io.EOF:
			z.err = z.endMember()
		case err != nil:
			z.err = err
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, z.err
}

// next starts the next member, or reports io.EOF at the end of a file
// of one member or more.
func (z *lzipReader) next() error {
	var hdr [lzipHeaderLen]byte
	n, err := io.ReadFull(z.src, hdr[:])
	switch {
	case n == 0 && err == io.EOF && z.members > 0:
		return io.EOF
	case err != nil:
		return errors.New("lzip: truncated header")
	case string(hdr[:4]) != "LZIP" || hdr[4] != 1:
		return errors.New("lzip: not an lzip version 1 member")
	}
	dictSize := uint32(1) << (hdr[5] & 0x1f)
	dictSize -= dictSize / 16 * uint32(hdr[5]>>5&7)
	if dictSize < 1<<12 || dictSize > 1<<29 {
		return errors.New("lzip: dictionary size out of range")
	}
	// The LZMA stream of a member is an LZMA file without its header:
	// properties lc=3 lp=0 pb=2, the dictionary size, and no size (the
	// end marker ends it).
	var lz [lzma.HeaderLen]byte
	lz[0] = lzma.Properties{LC: 3, LP: 0, PB: 2}.Code()
	binary.LittleEndian.PutUint32(lz[1:5], dictSize)
	binary.LittleEndian.PutUint64(lz[5:], ^uint64(0))
	z.member, err = lzma.NewReader(&prefixed{head: lz[:], src: z.src})
	if err != nil {
		return fmt.Errorf("lzip: %w", err)
	}
	z.members++
	z.crc, z.size = 0, 0
	return nil
}

func (z *lzipReader) endMember() error {
	if !z.member.EOSMarker() {
		return errors.New("lzip: member has no end marker")
	}
	var tr [lzipTrailerLen]byte
	if _, err := io.ReadFull(z.src, tr[:]); err != nil {
		return errors.New("lzip: truncated trailer")
	}
	if binary.LittleEndian.Uint32(tr[0:4]) != z.crc {
		return errors.New("lzip: CRC mismatch")
	}
	if binary.LittleEndian.Uint64(tr[4:12]) != z.size {
		return errors.New("lzip: data size mismatch")
	}
	z.member = nil
	return nil
}

// prefixed reads head, then src, a byte at a time when asked: the LZMA
// decoder reads its stream through ReadByte and must not read past its
// end into the trailer.
type prefixed struct {
	head []byte
	src  *bufio.Reader
}

func (p *prefixed) Read(b []byte) (int, error) {
	if len(p.head) > 0 {
		n := copy(b, p.head)
		p.head = p.head[n:]
		return n, nil
	}
	return p.src.Read(b)
}

func (p *prefixed) ReadByte() (byte, error) {
	if len(p.head) > 0 {
		c := p.head[0]
		p.head = p.head[1:]
		return c, nil
	}
	return p.src.ReadByte()
}

var _ io.ByteReader = (*prefixed)(nil)
