package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/narthex-cache/narthex/edge"
	"github.com/narthex-cache/narthex/internal/s3test"
	"github.com/narthex-cache/narthex/replica/replicafill"
	"github.com/narthex-cache/narthex/stores"
)

// An edge sends a download from a private S3 store to a URL presigned from
// the store's replicated settings with the edge's own credentials, which
// the service honours; a store whose settings the edge cannot use is
// passed over for the next copy.
func TestEdge_PresignsPrivateS3Downloads(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	const url = "nar/1py0ql2r3fvf5h8h9xh2fdsxkizwb8p4wgfa848nlfiv612sv3vr.nar.xz"
	body := "the bytes of a private NAR"
	if _, err := srv.Client().PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: aws.String(srv.Bucket), Key: aws.String(url), Body: strings.NewReader(body),
	}); err != nil {
		t.Fatal(err)
	}
	settings, err := json.Marshal(stores.S3Settings{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.Bucket, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	row := func(table string, cols map[string]string) replicafill.Row {
		return replicafill.Row{Table: table, Cols: cols}
	}
	base := "http://" + serveTestEdge(t, edge.Config{Presign: newPresigners(t.Context(), srv.Credentials()).presign},
		row("store", map[string]string{"id": "1", "name": "private", "kind": "s3", "base_url": "", "download_priority": "90", "settings": string(settings)}),
		row("store", map[string]string{"id": "2", "name": "mirror", "kind": "http", "base_url": "http://mirror.test", "download_priority": "10"}),
		row("store", map[string]string{"id": "3", "name": "misconfigured", "kind": "s3", "base_url": "", "download_priority": "90", "settings": `{"endpoint": "ftp://x"}`}),
		row("payload_location", map[string]string{"url": url, "store_id": "1", "key": url}),
		row("payload_location", map[string]string{"url": "nar/other.nar", "store_id": "3", "key": "nar/other.nar"}),
		row("payload_location", map[string]string{"url": "nar/other.nar", "store_id": "2", "key": "nar/other.nar"}),
	)

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(client *http.Client, method, u string) (int, string, string) {
		t.Helper()
		req, err := http.NewRequest(method, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(b)
	}
	code, loc, _ := do(noRedirect, "GET", base+"/"+url)
	if code != 302 || !strings.HasPrefix(loc, srv.Endpoint+"/"+srv.Bucket+"/"+url+"?") || !strings.Contains(loc, "X-Amz-Signature=") {
		t.Fatalf("GET = %d %q, want 302 to a presigned URL of the bucket", code, loc)
	}
	if code, _, got := do(http.DefaultClient, "GET", base+"/"+url); code != 200 || got != body {
		t.Errorf("GET following the redirect = %d %q, want 200 %q", code, got, body)
	}
	if code, loc, _ := do(noRedirect, "HEAD", base+"/"+url); code != 200 || loc != "" {
		t.Errorf("HEAD = %d %q, want 200 answered by the edge", code, loc)
	}
	if code, loc, _ := do(noRedirect, "GET", base+"/nar/other.nar"); code != 302 || loc != "http://mirror.test/nar/other.nar" {
		t.Errorf("GET of a file in a misconfigured store and a mirror = %d %q, want the mirror", code, loc)
	}
}
