package stores

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// Put reads r to its end into the object key; see S3 for how it keeps a
// partial or wrong object from being seen.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, wantSHA256 []byte) (size int64, sum []byte, err error) {
	if err := ValidKey(key); err != nil {
		return 0, nil, err
	}
	if wantSHA256 != nil && len(wantSHA256) != sha256.Size {
		return 0, nil, fmt.Errorf("put %s: expected digest has %d bytes, not %d", key, len(wantSHA256), sha256.Size)
	}
	r = contextReader{ctx: ctx, r: r}
	h := sha256.New()
	buf := s.parts.Get().(*[]byte)
	n, err := io.ReadFull(r, *buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		body := (*buf)[:n]
		h.Write(body)
		sum = h.Sum(nil)
		if wantSHA256 != nil && !bytes.Equal(sum, wantSHA256) {
			s.parts.Put(buf)
			return int64(n), sum, fmt.Errorf("put %s: %w", key, ErrDigestMismatch)
		}
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:         &s.bucket,
			Key:            s.object(key),
			Body:           bytes.NewReader(body),
			ContentLength:  aws.Int64(int64(n)),
			ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum)),
		})
		if err != nil {
			// The buffer is not reused: net/http may still be sending
			// from it after a request that failed early.
			return int64(n), sum, s.err("put", key, err)
		}
		s.parts.Put(buf)
		return int64(n), sum, nil
	case err != nil:
		s.parts.Put(buf)
		return int64(n), nil, fmt.Errorf("put %s: %w", key, err)
	}
	return s.putMultipart(ctx, key, r, h, buf, wantSHA256)
}

// putMultipart uploads first, a full part already read, and the rest of r
// as a multipart upload, which it completes only when the digest of
// everything read is right.
func (s *S3) putMultipart(ctx context.Context, key string, r io.Reader, h hash.Hash, first *[]byte, wantSHA256 []byte) (size int64, sum []byte, err error) {
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:            &s.bucket,
		Key:               s.object(key),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		s.parts.Put(first)
		return 0, nil, s.err("put", key, err)
	}
	uploadID := created.UploadId
	completed := false
	defer func() {
		if completed {
			return
		}
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		// A failed abort leaves an invisible upload for the lifecycle rule.
		s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: &s.bucket, Key: s.object(key), UploadId: uploadID,
		})
	}()

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.PartConcurrency)
	var (
		mu    sync.Mutex
		parts []types.CompletedPart
	)
	upload := func(number int32, buf *[]byte, n int) {
		g.Go(func() error {
			body := (*buf)[:n]
			partSum := sha256.Sum256(body)
			checksum := base64.StdEncoding.EncodeToString(partSum[:])
			out, err := s.client.UploadPart(gctx, &s3.UploadPartInput{
				Bucket:         &s.bucket,
				Key:            s.object(key),
				UploadId:       uploadID,
				PartNumber:     aws.Int32(number),
				Body:           bytes.NewReader(body),
				ContentLength:  aws.Int64(int64(n)),
				ChecksumSHA256: aws.String(checksum),
			})
			if err != nil {
				return s.err("put", key, err) // buf is dropped, as in Put
			}
			s.parts.Put(buf)
			mu.Lock()
			parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(number), ChecksumSHA256: aws.String(checksum)})
			mu.Unlock()
			return nil
		})
	}

	buf, n := first, len(*first)
	var readErr error
	for number := int32(1); ; number++ {
		h.Write((*buf)[:n])
		size += int64(n)
		upload(number, buf, n)
		if readErr != nil || gctx.Err() != nil {
			break
		}
		// Taking a buffer waits for a free slot (g.Go blocks at the
		// limit), so at most PartConcurrency+1 buffers are in use.
		buf = s.parts.Get().(*[]byte)
		n, readErr = io.ReadFull(r, *buf)
		if readErr == io.EOF {
			s.parts.Put(buf)
			readErr = nil
			break
		}
		if readErr == io.ErrUnexpectedEOF {
			readErr = io.EOF // the last part, shorter than the rest
			continue
		}
		if readErr != nil {
			s.parts.Put(buf)
			break
		}
	}
	if err := g.Wait(); err != nil {
		return size, nil, err
	}
	if readErr != nil && readErr != io.EOF {
		return size, nil, fmt.Errorf("put %s: %w", key, readErr)
	}
	if err := ctx.Err(); err != nil {
		return size, nil, fmt.Errorf("put %s: %w", key, err)
	}
	sum = h.Sum(nil)
	if wantSHA256 != nil && !bytes.Equal(sum, wantSHA256) {
		return size, sum, fmt.Errorf("put %s: %w", key, ErrDigestMismatch)
	}
	slices.SortFunc(parts, func(a, b types.CompletedPart) int { return cmp.Compare(*a.PartNumber, *b.PartNumber) })
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          &s.bucket,
		Key:             s.object(key),
		UploadId:        uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return size, sum, s.err("put", key, err)
	}
	completed = true
	return size, sum, nil
}
