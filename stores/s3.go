package stores

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// ErrAccessDenied wraps an S3 error that says the credentials are wrong or
// may not do what was asked, so that a caller can tell the operator to check
// them rather than the network.
var ErrAccessDenied = errors.New("access denied (check the store's credentials)")

const (
	// DefaultPartSize is the size of the parts of a multipart upload, and
	// the largest object put in one request. Each running part holds one
	// such buffer, so a Put uses at most PartSize × PartConcurrency bytes of
	// memory whatever the size of the NAR.
	DefaultPartSize = 8 << 20
	// MinPartSize is the smallest part S3 accepts, but for the last one.
	MinPartSize = 5 << 20
	// DefaultPartConcurrency is how many parts of one Put are uploaded at
	// once: enough to keep a link to a remote region busy while the next
	// part is read, few enough that parallel copies do not hold much memory.
	DefaultPartConcurrency = 4
	// abortTimeout bounds the clean-up of a multipart upload that failed,
	// which runs after the caller's context may have ended.
	abortTimeout = 30 * time.Second
)

// S3Config says how to reach an S3 store.
type S3Config struct {
	Settings S3Settings
	// BaseURL is the store's public download base (the store row's
	// base_url); an object's URL is BaseURL/key, so a bucket prefix is part
	// of it. Empty for a private bucket, whose downloads are presigned.
	BaseURL string
	// Credentials, when set, are used instead of the SDK's default chain
	// (environment, shared files under Settings.Profile): cmd/ sets them
	// from a --*-file flag. Never logged.
	Credentials aws.CredentialsProvider
	// HTTPClient, when set, replaces the SDK's, for a transport of the
	// caller's (a proxy, a dialer, more connections for parallel copies).
	HTTPClient *http.Client
	// PartSize is DefaultPartSize when zero, and at least MinPartSize.
	PartSize int64
	// PartConcurrency is DefaultPartConcurrency when zero.
	PartConcurrency int
}

func (c S3Config) withDefaults() S3Config {
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.PartConcurrency == 0 {
		c.PartConcurrency = DefaultPartConcurrency
	}
	return c
}

// Validate names the first field that cannot work.
func (c S3Config) Validate() error {
	if err := c.Settings.Validate(); err != nil {
		return err
	}
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("s3: base URL %q is not an http(s) URL", c.BaseURL)
		}
	}
	if c.PartSize < MinPartSize || c.PartSize > 5<<30 {
		return fmt.Errorf("s3: part size %d is not between %d and %d", c.PartSize, MinPartSize, 5<<30)
	}
	if c.PartConcurrency < 1 {
		return fmt.Errorf("s3: part concurrency %d is below 1", c.PartConcurrency)
	}
	return nil
}

// S3 is a store in a bucket of an S3-compatible service. Its methods are
// safe for concurrent use.
//
// A Put never makes a partial or wrong object visible, and needs no
// temporary object to do so. An object that fits in one part is read into
// memory and hashed before it is sent, so a digest mismatch sends nothing;
// a larger one goes up as a multipart upload, which S3 shows under the key
// only when CompleteMultipartUpload is called, and that call is made only
// once every part is stored and the digest of the whole stream is right —
// otherwise the upload is aborted. Each request also carries the SHA-256 of
// its own bytes (x-amz-checksum-sha256), which the server checks, so bytes
// damaged on the way are refused too (the tests check that versitygw
// refuses a wrong one). A crash between parts leaves an unfinished
// multipart upload, which is invisible to GET and LIST and is reclaimed by
// RemoveTemp, or by the bucket's lifecycle rule for incomplete uploads.
type S3 struct {
	client  *s3.Client
	presign *Presigner
	bucket  string
	prefix  string // "" or ending in "/"
	baseURL string // without a trailing "/"
	cfg     S3Config
	parts   sync.Pool // *[]byte of cfg.PartSize
}

// OpenS3 opens the S3 store cfg describes. It makes no network call: wrong
// credentials or an unreachable endpoint show in the first request, as an
// error matching ErrAccessDenied for the former.
func OpenS3(ctx context.Context, cfg S3Config) (*S3, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client, err := newS3Client(ctx, cfg.Settings, cfg.Credentials)
	if err != nil {
		return nil, err
	}
	if cfg.HTTPClient != nil {
		client = s3.New(client.Options(), func(o *s3.Options) { o.HTTPClient = cfg.HTTPClient })
	}
	s := &S3{
		client:  client,
		presign: newPresigner(cfg.Settings, client.Options().Credentials),
		bucket:  cfg.Settings.Bucket,
		prefix:  normalPrefix(cfg.Settings.Prefix),
		baseURL: strings.TrimSuffix(cfg.BaseURL, "/"),
		cfg:     cfg,
	}
	s.parts.New = func() any { b := make([]byte, cfg.PartSize); return &b }
	return s, nil
}

// newS3Client builds a client for settings with creds, or with the SDK's
// default credential chain under settings.Profile when creds is nil.
// Loading that chain reads the process's environment and shared files but
// fetches nothing.
func newS3Client(ctx context.Context, settings S3Settings, creds aws.CredentialsProvider) (*s3.Client, error) {
	opts := []func(*config.LoadOptions) error{config.WithRegion(settings.Region)}
	if settings.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(settings.Profile))
	}
	if creds != nil {
		opts = append(opts, config.WithCredentialsProvider(creds))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: load credentials: %w", err)
	}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(settings.Endpoint)
		o.UsePathStyle = settings.PathStyle
		// Put sends its own SHA-256 checksums; the SDK's default CRC32
		// on top would cost a second pass for nothing.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}), nil
}

// normalPrefix makes a bucket prefix end in "/", so that "cache" and
// "cache/" both put key "nar/x" at "cache/nar/x".
func normalPrefix(p string) string {
	if p != "" && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// object returns the object name of key.
func (s *S3) object(key string) *string { return aws.String(s.prefix + key) }

// URL returns the public download URL of key, and false when the store has
// no public base URL, so that downloads must be presigned.
func (s *S3) URL(key string) (string, bool) {
	if s.baseURL == "" {
		return "", false
	}
	return s.baseURL + "/" + key, true
}

// PresignGet returns a URL that downloads key for S3Settings.Expiry without
// credentials. It makes no network call.
func (s *S3) PresignGet(ctx context.Context, key string) (string, error) {
	return s.presign.PresignGet(ctx, key)
}

// Open opens the object key and returns its size.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := ValidKey(key); err != nil {
		return nil, 0, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: s.object(key)})
	if err != nil {
		return nil, 0, s.err("open", key, err)
	}
	return out.Body, aws.ToInt64(out.ContentLength), nil
}

// OpenRange opens n bytes of the object key from offset off (n < 0: to the
// end) with a ranged GET, and returns the size of the whole object.
func (s *S3) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, int64, error) {
	if err := ValidKey(key); err != nil {
		return nil, 0, err
	}
	rng, empty, size, err := rangeHeader(ctx, key, off, n, s.Stat)
	if err != nil || empty != nil {
		return empty, size, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: s.object(key), Range: &rng})
	if isCode(err, "InvalidRange") {
		// S3 refuses a range that starts at the end, which is the empty
		// rest of an object; the size tells that case from a bad range.
		size, serr := s.Stat(ctx, key)
		if serr != nil {
			return nil, 0, serr
		}
		if _, cerr := checkRange(key, off, n, size); cerr != nil {
			return nil, 0, cerr
		}
		return io.NopCloser(strings.NewReader("")), size, nil
	}
	if err != nil {
		return nil, 0, s.err("open", key, err)
	}
	size, ok := rangeTotal(aws.ToString(out.ContentRange))
	if !ok {
		out.Body.Close()
		return nil, 0, fmt.Errorf("open %s: ranged GET answered without a usable Content-Range (%q)", key, aws.ToString(out.ContentRange))
	}
	// S3 shortens a range that runs past the end instead of refusing it.
	if _, err := checkRange(key, off, n, size); err != nil {
		out.Body.Close()
		return nil, 0, err
	}
	return out.Body, size, nil
}

// rangeTotal returns the object size of a Content-Range "bytes a-b/size".
func rangeTotal(cr string) (int64, bool) {
	_, total, ok := strings.Cut(cr, "/")
	if !ok {
		return 0, false
	}
	size, err := strconv.ParseInt(total, 10, 64)
	return size, err == nil
}

// Stat returns the size of the object key.
func (s *S3) Stat(ctx context.Context, key string) (int64, error) {
	if err := ValidKey(key); err != nil {
		return 0, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: s.object(key)})
	if isCode(err, "NotFound") {
		return s.statByGet(ctx, key)
	}
	if err != nil {
		return 0, s.err("stat", key, err)
	}
	return aws.ToInt64(out.ContentLength), nil
}

// statByGet finds the size of key with a GET of its first byte. A 404 to
// HEAD has no body to say what was not found, and versitygw answers HEAD
// with an unknown access key with 404 too (XAdminUserNotFound, where S3
// says 403): taking that for a missing object would have every location of
// a store with a mistyped key marked missing. The error body of a GET tells
// the two apart, at the cost of a second request only when HEAD says 404.
func (s *S3) statByGet(ctx context.Context, key string) (int64, error) {
	rng := "bytes=0-0"
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: s.object(key), Range: &rng})
	if isCode(err, "InvalidRange") {
		return 0, nil // an empty object has no first byte
	}
	if err != nil {
		return 0, s.err("stat", key, err)
	}
	out.Body.Close()
	size, ok := rangeTotal(aws.ToString(out.ContentRange))
	if !ok {
		return aws.ToInt64(out.ContentLength), nil // the range was ignored: the whole object came
	}
	return size, nil
}

// Delete removes the object key; S3 answers a delete of a missing object
// with success too.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: s.object(key)}); err != nil {
		return s.err("delete", key, err)
	}
	return nil
}

// Walk calls fn with the key and size of each object under the directory
// key prefix ("" for all), in the bucket's (byte-wise) order. Objects under
// the bucket prefix whose names are not keys, such as another tool's
// hidden files, are skipped.
func (s *S3) Walk(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	list := s.prefix
	if prefix != "" {
		if err := ValidKey(prefix); err != nil {
			return err
		}
		list += prefix + "/"
	}
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &list})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return s.err("walk", prefix, err)
		}
		for _, obj := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(obj.Key), s.prefix)
			if !ok || ValidKey(key) != nil {
				continue
			}
			if err := fn(key, aws.ToInt64(obj.Size)); err != nil {
				return fmt.Errorf("walk %s: %w", prefix, err)
			}
		}
	}
	return nil
}

// err gives an S3 error of op on key the meaning callers test for:
// fs.ErrNotExist for a missing object, ErrAccessDenied for refused
// credentials, ErrRangeNotSatisfiable for a range past the end. The SDK's
// error stays in the chain for errors.As.
func (s *S3) err(op, key string, err error) error {
	return classify(op+" "+key, err)
}

func classify(what string, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return fmt.Errorf("%s: %w: %w", what, fs.ErrNotExist, err)
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "Forbidden",
			"InvalidToken", "ExpiredToken", "InvalidSecurity", "AuthorizationHeaderMalformed",
			"XAdminUserNotFound": // versitygw's answer to an unknown access key
			return fmt.Errorf("%s: %w: %w", what, ErrAccessDenied, err)
		case "InvalidRange":
			return fmt.Errorf("%s: %w: %w", what, ErrRangeNotSatisfiable, err)
		}
	}
	var respErr interface{ HTTPStatusCode() int }
	if errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusForbidden {
		return fmt.Errorf("%s: %w: %w", what, ErrAccessDenied, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// isCode reports whether err is an S3 error with the given code.
func isCode(err error, code string) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == code
}

// RemoveTemp aborts the multipart uploads under the store's prefix that
// were started before olderThan: those of Puts that a crash interrupted,
// which hold space but are never visible. It is the S3 side of
// Local.RemoveTemp, for buckets without a lifecycle rule that does the
// same; an upload that is still running is younger than any sensible
// bound. It returns the uploads it aborted (Path the key, Size the bytes of
// their parts), and stops at the first error or when ctx is done.
func (s *S3) RemoveTemp(ctx context.Context, olderThan time.Time) ([]TempFile, error) {
	var removed []TempFile
	pages := s3.NewListMultipartUploadsPaginator(s.client, &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: &s.prefix})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return removed, s.err("remove temporary uploads", s.prefix, err)
		}
		for _, up := range page.Uploads {
			started := aws.ToTime(up.Initiated)
			if !started.Before(olderThan) {
				continue
			}
			var size int64
			parts := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{Bucket: &s.bucket, Key: up.Key, UploadId: up.UploadId})
			for parts.HasMorePages() {
				page, err := parts.NextPage(ctx)
				if isCode(err, "NoSuchUpload") {
					break // completed or aborted meanwhile
				}
				if err != nil {
					return removed, s.err("remove temporary upload", aws.ToString(up.Key), err)
				}
				for _, p := range page.Parts {
					size += aws.ToInt64(p.Size)
				}
			}
			_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: up.Key, UploadId: up.UploadId})
			if isCode(err, "NoSuchUpload") {
				continue
			}
			if err != nil {
				return removed, s.err("remove temporary upload", aws.ToString(up.Key), err)
			}
			removed = append(removed, TempFile{
				Path:    strings.TrimPrefix(aws.ToString(up.Key), s.prefix),
				Size:    size,
				ModTime: started,
			})
		}
	}
	return removed, nil
}
