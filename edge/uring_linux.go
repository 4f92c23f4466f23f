//go:build linux

package edge

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// What the uring engine uses of the kernel's io_uring interface
// (include/uapi/linux/io_uring.h). golang.org/x/sys has the system call
// numbers only.
const (
	opPollAdd     = 6
	opAccept      = 13
	opAsyncCancel = 14
	opSend        = 26
	opRecv        = 27

	sqeBufferSelect = 1 << 5 // IOSQE_BUFFER_SELECT

	setupCQSize        = 1 << 3
	setupSubmitAll     = 1 << 7
	setupSingleIssuer  = 1 << 12
	setupDeferTaskrun  = 1 << 13
	featSingleMmap     = 1 << 0
	featNoDrop         = 1 << 1
	featFastPoll       = 1 << 5
	featExtArg         = 1 << 8
	enterGetEvents     = 1 << 0
	enterExtArg        = 1 << 3
	registerPbufRing   = 22
	recvMultishot      = 1 << 1 // IORING_RECV_MULTISHOT, in ioprio
	acceptMultishot    = 1 << 0 // IORING_ACCEPT_MULTISHOT, in ioprio
	cqeFBuffer         = 1 << 0
	cqeFMore           = 1 << 1
	cqeBufferShift     = 16
	offSQRing          = 0
	offSQEs            = 0x10000000
	sqeSize, cqeSize   = 64, 16
	ringFeaturesNeeded = featSingleMmap | featNoDrop | featFastPoll | featExtArg
)

// uringParams is struct io_uring_params.
type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  [10]uint32 // head, tail, ring_mask, ring_entries, flags, dropped, array, resv1, user_addr
	cqOff                                                                  [10]uint32 // head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1, user_addr
}

// sqe is struct io_uring_sqe, as the engine fills it.
type sqe struct {
	opcode   uint8
	flags    uint8
	ioprio   uint16
	fd       int32
	off      uint64
	addr     uint64
	len      uint32
	opFlags  uint32
	userData uint64
	bufGroup uint16
	_        [22]byte
}

// cqe is struct io_uring_cqe.
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// kernelTimespec is struct __kernel_timespec: 64-bit on every platform,
// unlike unix.Timespec.
type kernelTimespec struct{ sec, nsec int64 }

// getEventsArg is struct io_uring_getevents_arg.
type getEventsArg struct {
	sigmask   uint64
	sigmaskSz uint32
	_         uint32
	ts        uint64
}

// ring is one io_uring: a submission and a completion queue shared with
// the kernel, and a ring of receive buffers the kernel picks from. It is
// used by the one thread that made it.
type ring struct {
	fd        int
	mem, sqes []byte
	sqHead    *uint32
	sqTail    *uint32
	sqMask    uint32
	sqEntries uint32
	cqHead    *uint32
	cqTail    *uint32
	cqMask    uint32
	cqes      unsafe.Pointer
	tail      uint32 // the SQ tail, written to *sqTail at submit
	err       error  // why SQEs could not be submitted
	scratch   sqe

	bufRing  []byte // struct io_uring_buf entries
	bufs     []byte
	bufSize  int
	bufMask  uint16
	bufTail  uint16
	waitArg  getEventsArg
	waitTime kernelTimespec
}

// ringBuffers is the number of receive buffers of a ring, and bufSize
// their size: a read takes one while its data is answered.
const (
	ringBuffers    = 256
	ringBufferSize = 16 << 10
	ringBufGroup   = 0
)

// errNoURing says the kernel refuses io_uring, or lacks what the engine
// needs of it.
var errNoURing = errors.New("io_uring unavailable")

// newRing sets up a ring of entries submissions, on the calling thread,
// which alone may use it.
func newRing(entries uint32) (*ring, error) {
	// Completions are run only when the loop asks for them (kernel 6.1),
	// and the multishot receives the loop arms need kernel 6.0.
	p := uringParams{flags: setupSingleIssuer | setupDeferTaskrun | setupCQSize | setupSubmitAll, cqEntries: 4 * entries}
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("%w: io_uring_setup: %v", errNoURing, errno)
	}
	r := &ring{fd: int(fd)}
	if p.features&ringFeaturesNeeded != ringFeaturesNeeded {
		r.close()
		return nil, fmt.Errorf("%w: the kernel lacks features %#x", errNoURing, ringFeaturesNeeded&^p.features)
	}
	size := max(int(p.sqOff[6])+int(p.sqEntries)*4, int(p.cqOff[5])+int(p.cqEntries)*cqeSize)
	var err error
	if r.mem, err = unix.Mmap(r.fd, offSQRing, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.close()
		return nil, fmt.Errorf("io_uring: mmap: %w", err)
	}
	if r.sqes, err = unix.Mmap(r.fd, offSQEs, int(p.sqEntries)*sqeSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.close()
		return nil, fmt.Errorf("io_uring: mmap: %w", err)
	}
	at := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&r.mem[off])) }
	r.sqHead, r.sqTail, r.sqMask, r.sqEntries = at(p.sqOff[0]), at(p.sqOff[1]), *at(p.sqOff[2]), *at(p.sqOff[3])
	r.cqHead, r.cqTail, r.cqMask = at(p.cqOff[0]), at(p.cqOff[1]), *at(p.cqOff[2])
	r.cqes = unsafe.Pointer(&r.mem[p.cqOff[5]])
	// SQE i is always in slot i of the indirection array.
	for i := range p.sqEntries {
		*at(p.sqOff[6] + 4*i) = i
	}
	r.tail = atomic.LoadUint32(r.sqTail)
	if err := r.setupBuffers(); err != nil {
		r.close()
		r.freeBuffers() // nothing was submitted
		return nil, err
	}
	return r, nil
}

// setupBuffers registers the receive buffers as a provided-buffer ring.
func (r *ring) setupBuffers() error {
	var err error
	if r.bufRing, err = unix.Mmap(-1, 0, ringBuffers*16, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		return fmt.Errorf("io_uring: buffer ring: %w", err)
	}
	if r.bufs, err = unix.Mmap(-1, 0, ringBuffers*ringBufferSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		return fmt.Errorf("io_uring: buffers: %w", err)
	}
	r.bufSize, r.bufMask = ringBufferSize, ringBuffers-1
	reg := struct {
		ringAddr    uint64
		ringEntries uint32
		bgid, flags uint16
		resv        [3]uint64
	}{ringAddr: uint64(uintptr(unsafe.Pointer(&r.bufRing[0]))), ringEntries: ringBuffers, bgid: ringBufGroup}
	if _, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), registerPbufRing, uintptr(unsafe.Pointer(&reg)), 1, 0, 0); errno != 0 {
		return fmt.Errorf("%w: registering receive buffers: %v", errNoURing, errno)
	}
	for bid := range uint16(ringBuffers) {
		r.putBuffer(bid)
	}
	return nil
}

// buffer is the data of a receive that completed into buffer bid.
func (r *ring) buffer(bid uint16, n int) []byte {
	off := int(bid) * r.bufSize
	return r.bufs[off : off+n : off+r.bufSize]
}

// putBuffer gives buffer bid back to the kernel.
func (r *ring) putBuffer(bid uint16) {
	e := unsafe.Pointer(&r.bufRing[int(r.bufTail&r.bufMask)*16])
	*(*uint64)(e) = uint64(uintptr(unsafe.Pointer(&r.bufs[int(bid)*r.bufSize])))
	*(*uint32)(unsafe.Add(e, 8)) = uint32(r.bufSize)
	*(*uint16)(unsafe.Add(e, 12)) = bid
	r.bufTail++
	// The tail is the last two bytes of the first entry, after that
	// entry's buffer id: both are stored at once, atomically.
	word := (*uint32)(unsafe.Pointer(&r.bufRing[12]))
	atomic.StoreUint32(word, uint32(*(*uint16)(unsafe.Pointer(&r.bufRing[12])))|uint32(r.bufTail)<<16)
}

// get returns an empty SQE, submitting those filled if the queue is
// full. If they cannot be submitted, r.err says why, and the SQE returned
// is not the ring's.
func (r *ring) get() *sqe {
	if r.tail-atomic.LoadUint32(r.sqHead) >= r.sqEntries {
		if err := r.enter(0); err != nil && r.err == nil {
			r.err = err
		}
		if r.tail-atomic.LoadUint32(r.sqHead) >= r.sqEntries {
			if r.err == nil {
				r.err = errors.New("io_uring: the submission queue stays full")
			}
			r.scratch = sqe{}
			return &r.scratch
		}
	}
	s := (*sqe)(unsafe.Pointer(&r.sqes[int(r.tail&r.sqMask)*sqeSize]))
	*s = sqe{}
	r.tail++
	return s
}

// enter submits the SQEs filled and, if wait > 0, waits for at least one
// completion, or until wait has passed.
func (r *ring) enter(wait time.Duration) error {
	atomic.StoreUint32(r.sqTail, r.tail)
	for {
		submit := r.tail - atomic.LoadUint32(r.sqHead)
		var flags, minComplete, arg, argSize uintptr
		if wait > 0 {
			r.waitTime = kernelTimespec{sec: int64(wait / time.Second), nsec: int64(wait % time.Second)}
			r.waitArg = getEventsArg{sigmaskSz: 8, ts: uint64(uintptr(unsafe.Pointer(&r.waitTime)))}
			flags, minComplete = enterGetEvents|enterExtArg, 1
			arg, argSize = uintptr(unsafe.Pointer(&r.waitArg)), unsafe.Sizeof(r.waitArg)
		} else if submit == 0 {
			return nil
		}
		_, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(submit), minComplete, flags, arg, argSize)
		switch errno {
		case 0, unix.ETIME:
			if wait > 0 || r.tail == atomic.LoadUint32(r.sqHead) {
				return nil
			}
		case unix.EINTR:
			if wait > 0 {
				return nil
			}
		case unix.EBUSY, unix.EAGAIN:
			return nil // completions to take first
		default:
			return fmt.Errorf("io_uring_enter: %w", errno)
		}
	}
}

// completions calls f with each completion ready, then frees them.
func (r *ring) completions(f func(c *cqe)) int {
	head, tail := atomic.LoadUint32(r.cqHead), atomic.LoadUint32(r.cqTail)
	n := int(tail - head)
	for ; head != tail; head++ {
		f((*cqe)(unsafe.Add(r.cqes, int(head&r.cqMask)*cqeSize)))
	}
	atomic.StoreUint32(r.cqHead, tail)
	return n
}

func (r *ring) close() {
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
	for _, m := range [][]byte{r.mem, r.sqes} {
		if m != nil {
			unix.Munmap(m)
		}
	}
	r.mem, r.sqes = nil, nil
}

// freeBuffers unmaps the receive buffers, once the kernel can no longer
// write into them: the ring is closed and no receive was in flight.
func (r *ring) freeBuffers() {
	for _, m := range [][]byte{r.bufRing, r.bufs} {
		if m != nil {
			unix.Munmap(m)
		}
	}
	r.bufRing, r.bufs = nil, nil
}
