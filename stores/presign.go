package stores

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Presigner makes presigned download URLs of an S3 store and holds nothing
// else: an edge builds one from the replicated settings and read-only
// credentials of its own. Presigning signs locally and makes no network
// call (credentials that must be fetched, such as an instance role's, are
// fetched on first use and then cached by the SDK until they expire). It
// calls the SDK's SigV4 signer directly rather than through an S3 client's
// presign operation, whose middleware stack costs several times more per
// URL; the tests check that the service accepts its URLs. Its methods are
// safe for concurrent use.
type Presigner struct {
	signer  *v4.Signer
	creds   aws.CredentialsProvider
	region  string
	scheme  string
	host    string // with the bucket in it under virtual-host addressing
	path    string // "/" [bucket "/"] [prefix]
	expires string // seconds, as X-Amz-Expires takes them
}

// NewPresigner returns a Presigner for the bucket settings names, signing
// with creds, or with the SDK's default chain under settings.Profile when
// creds is nil.
func NewPresigner(ctx context.Context, settings S3Settings, creds aws.CredentialsProvider) (*Presigner, error) {
	if err := settings.Validate(); err != nil {
		return nil, err
	}
	if creds == nil {
		opts := []func(*config.LoadOptions) error{config.WithRegion(settings.Region)}
		if settings.Profile != "" {
			opts = append(opts, config.WithSharedConfigProfile(settings.Profile))
		}
		awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("s3: load credentials: %w", err)
		}
		creds = awsCfg.Credentials
	}
	if creds == nil {
		return nil, errors.New("s3: presigning needs credentials, and none are configured")
	}
	return newPresigner(settings, creds), nil
}

func newPresigner(settings S3Settings, creds aws.CredentialsProvider) *Presigner {
	if creds != nil && !aws.IsCredentialsProvider(creds, (*aws.CredentialsCache)(nil)) {
		creds = aws.NewCredentialsCache(creds)
	}
	expiry, _ := settings.Expiry()
	u, _ := url.Parse(settings.Endpoint) // checked by Validate
	p := &Presigner{
		signer: v4.NewSigner(func(o *v4.SignerOptions) {
			// S3 signs the path as sent, not escaped a second time.
			o.DisableURIPathEscaping = true
		}),
		creds:   creds,
		region:  settings.Region,
		scheme:  u.Scheme,
		host:    u.Host,
		path:    strings.TrimSuffix(u.Path, "/") + "/",
		expires: strconv.FormatInt(int64(expiry/time.Second), 10),
	}
	if settings.PathStyle {
		p.path += settings.Bucket + "/"
	} else {
		p.host = settings.Bucket + "." + p.host
	}
	p.path += normalPrefix(settings.Prefix)
	return p
}

// PresignGet returns a URL that downloads key without credentials until
// the settings' expiry has passed.
func (p *Presigner) PresignGet(ctx context.Context, key string) (string, error) {
	if err := ValidKey(key); err != nil {
		return "", err
	}
	if p.creds == nil {
		return "", fmt.Errorf("presign %s: no credentials configured", key)
	}
	creds, err := p.creds.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("presign %s: credentials: %w", key, err)
	}
	req := &http.Request{
		Method: http.MethodGet,
		URL:    &url.URL{Scheme: p.scheme, Host: p.host, Path: p.path + key, RawQuery: "X-Amz-Expires=" + p.expires},
		Header: http.Header{},
		Host:   p.host,
	}
	signed, _, err := p.signer.PresignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", p.region, time.Now())
	if err != nil {
		return "", fmt.Errorf("presign %s: %w", key, err)
	}
	return signed, nil
}
