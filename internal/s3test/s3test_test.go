package s3test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

func TestStart(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Endpoint == b.Endpoint || a.AccessKey == b.AccessKey || a.SecretKey == b.SecretKey {
		t.Errorf("two servers share an endpoint or keys: %+v, %+v", a, b)
	}
	ctx := t.Context()
	body := []byte("hello")
	if _, err := a.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: &a.Bucket, Key: aws.String("x/y"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	out, err := a.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: &a.Bucket, Key: aws.String("x/y")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(got, body) {
		t.Errorf("GetObject = %q, want %q", got, body)
	}
	// The posix backend keeps objects as files under Dir.
	if got, err := os.ReadFile(filepath.Join(a.Dir, a.Bucket, "x", "y")); err != nil || !bytes.Equal(got, body) {
		t.Errorf("object file = %q, %v", got, err)
	}
	// Each server has its own keys and buckets.
	_, err = b.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: &b.Bucket, Key: aws.String("x/y")})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "NoSuchKey" {
		t.Errorf("GetObject from the other server = %v, want NoSuchKey", err)
	}
	a.CreateBucket(t, "second")
	if _, err := a.Client().HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("second")}); err != nil {
		t.Errorf("HeadBucket of a created bucket = %v", err)
	}
}

func TestBinary_Cached(t *testing.T) {
	first, err := binary()
	if err != nil {
		unavailable(t, err)
	}
	fi, err := os.Stat(first)
	if err != nil {
		t.Fatal(err)
	}
	// A later run finds the binary this one built.
	second, err := build()
	if err != nil {
		t.Fatal(err)
	}
	fi2, err := os.Stat(second)
	if err != nil {
		t.Fatal(err)
	}
	if second != first || !os.SameFile(fi, fi2) || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Errorf("second build gave %s, not the cached %s", second, first)
	}
}
