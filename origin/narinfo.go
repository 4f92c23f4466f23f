package origin

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/narthex-cache/narthex/narinfo"
)

// sqlstateForeignKeyViolation is the SQLSTATE of an insert whose foreign key
// names a row that is not there.
const sqlstateForeignKeyViolation = "23503"

// getNarinfo answers GET and HEAD of a narinfo with its stored text, or 404
// while it is withdrawn. An answer to an authenticated client, which may
// be an uploader deciding what to upload, keeps the path from garbage
// collection for its grace period.
func (s *Server) getNarinfo(w http.ResponseWriter, r *http.Request, hash string) error {
	if !narinfo.ValidHash(hash) {
		return clientError(http.StatusNotFound, "not found")
	}
	q := qServedNarinfo
	if s.authenticated(r) {
		q = qServedNarinfoTold
	}
	var body string
	err := s.db.QueryRow(r.Context(), q, hash).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return clientError(http.StatusNotFound, "not found")
	}
	if err != nil {
		return fmt.Errorf("read narinfo: %w", err)
	}
	writeBody(w, http.StatusOK, "text/x-nix-narinfo", []byte(body))
	return nil
}

// narinfoUpload is a parsed narinfo upload on its way into the database.
type narinfoUpload struct {
	ni   *narinfo.NarInfo
	urls []string // the URLs of its files, in order
	refs []string // the hashes of the paths it references, itself excluded
	body []byte   // the uploaded text with our Sig lines appended
	sigs []string // the Sig values of body
}

// putNarinfo accepts a narinfo when it parses, is for the path it is put
// at, carries no invalid signature (and a trusted one when required), lists
// only NAR files already uploaded, and references only paths already
// present. It stores the uploaded text byte for byte with a Sig line by each
// signing key appended. A narinfo equal to the stored one is accepted again
// without change; a different one is refused with 409.
func (s *Server) putNarinfo(w http.ResponseWriter, r *http.Request, hash string) error {
	if !narinfo.ValidHash(hash) {
		return badRequest("%s is not a store path hash", short(hash))
	}
	text, err := readBody(w, r, s.cfg.MaxNarinfoSize)
	if err != nil {
		return err
	}
	u, err := s.checkNarinfo(text, hash)
	if err != nil {
		return err
	}
	created, err := s.storeNarinfo(r.Context(), u)
	if err != nil {
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == sqlstateForeignKeyViolation {
			return badRequest("%s", s.vanished(pgErr, u)).withDetail(err)
		}
		return err
	}
	if created {
		s.metrics.narinfosAccepted.Inc()
		s.metrics.uploadBytes.WithLabelValues(routeNarinfo.uploadKind()).Add(float64(len(text)))
		s.log.Debug("narinfo accepted", "store_path", u.ni.StorePath)
	}
	writeBody(w, http.StatusOK, "text/plain; charset=utf-8", nil)
	return nil
}

// vanished explains a foreign key violation of the narinfo inserts: what it
// pointed to was deleted (by garbage collection) after it was checked,
// named from the violation's detail. The constraint names are the ones
// PostgreSQL gives the foreign keys of sql/migrations/001_init.sql.
func (s *Server) vanished(pgErr *pgconn.PgError, u *narinfoUpload) string {
	key := ""
	if m := violatedKey.FindStringSubmatch(pgErr.Detail); m != nil {
		key = m[1]
	}
	switch pgErr.ConstraintName {
	case "reference_reference_fkey":
		for _, ref := range u.ni.References {
			if strings.HasPrefix(ref, key+"-") && key != "" {
				return fmt.Sprintf("%s/%s, which this narinfo references, was deleted during the upload; upload it again", s.cfg.StoreDir, ref)
			}
		}
		return "a path this narinfo references was deleted during the upload; upload it again"
	case "narinfo_file_url_fkey":
		if key != "" {
			return fmt.Sprintf("NAR file %s, which this narinfo lists, was deleted during the upload; upload it again", short(key))
		}
		return "a NAR file this narinfo lists was deleted during the upload; upload it again"
	}
	return "something this narinfo refers to was deleted during the upload; upload it again"
}

// violatedKey finds the key in the detail of a foreign key violation:
// `Key (reference)=(<hash>) is not present in table "narinfo".`
var violatedKey = regexp.MustCompile(`^Key \([^)]*\)=\((.*)\) is not present in table`)

// checkNarinfo does the checks of an upload that need no database: syntax,
// the path it is put at, file names, references and signatures. It returns
// the upload, signed.
func (s *Server) checkNarinfo(text []byte, hash string) (*narinfoUpload, error) {
	ni, err := narinfo.Parse(text, s.cfg.StoreDir)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	if ni.Hash != hash {
		return nil, badRequest("narinfo is for %s, not for hash %s", ni.StorePath, hash)
	}
	if ni.NarSize > math.MaxInt64 {
		return nil, badRequest("NarSize %d is too large", ni.NarSize)
	}
	u := &narinfoUpload{ni: ni}
	for _, f := range ni.Files {
		if _, err := narinfo.ParseNarURL(f.URL); err != nil {
			return nil, badRequest("URL %s: %v; narthex stores NAR files as nar/<sha256 in nixbase32>.nar[.xz|…] "+
				"or nar/[gzip/|lzip/|zstd/]<store path base name>", short(f.URL), err)
		}
		if slices.Contains(u.urls, f.URL) {
			return nil, badRequest("URL %s is listed twice", f.URL)
		}
		u.urls = append(u.urls, f.URL)
	}
	for _, ref := range ni.References {
		h, name, err := narinfo.ParseBaseName(ref)
		if err != nil {
			return nil, badRequest("reference %s: %v", short(ref), err)
		}
		if h == ni.Hash {
			if name != ni.Name {
				return nil, badRequest("reference %s has the hash of %s but another name", ref, ni.StorePath)
			}
			continue
		}
		u.refs = append(u.refs, h)
	}

	// Each signature costs a verification or two: bound them before.
	if len(ni.Sigs) > s.cfg.MaxSignatures {
		return nil, badRequest("narinfo has %d Sig lines; at most %d are accepted", len(ni.Sigs), s.cfg.MaxSignatures)
	}
	fp := ni.Fingerprint(s.cfg.StoreDir)
	if err := s.checkSignatures(ni, fp); err != nil {
		return nil, err
	}
	u.body, u.sigs = s.sign(text, ni, fp)
	return u, nil
}

// checkSignatures refuses a narinfo with a signature that a key of its name
// does not verify, and, when trusted signatures are required, one without a
// valid signature by a trusted key. Signatures by unknown keys are kept.
func (s *Server) checkSignatures(ni *narinfo.NarInfo, fp string) error {
	trusted := false
	for _, sig := range ni.Sigs {
		if narinfo.CheckSig(fp, sig, s.verifyKeys) == narinfo.SigInvalid {
			name, _, _ := strings.Cut(sig, ":")
			return badRequest("signature by key %s does not verify for %s", short(name), ni.StorePath)
		}
		if narinfo.CheckSig(fp, sig, s.cfg.TrustedKeys) == narinfo.SigValid {
			trusted = true
		}
	}
	if s.cfg.RequireTrustedSignature && !trusted {
		names := make([]string, len(s.cfg.TrustedKeys))
		for i, k := range s.cfg.TrustedKeys {
			names[i] = k.Name()
		}
		return clientError(http.StatusForbidden,
			"narinfo for %s has no valid signature by a trusted key (%s); sign it before uploading",
			ni.StorePath, strings.Join(names, ", "))
	}
	return nil
}

// sign appends to text a Sig line by each signing key that has not signed
// it yet, and returns the new text and all its signatures.
func (s *Server) sign(text []byte, ni *narinfo.NarInfo, fp string) ([]byte, []string) {
	// Never nil: the sigs column is NOT NULL, and an origin without
	// signing keys stores unsigned narinfos as they come.
	sigs := make([]string, 0, len(ni.Sigs)+len(s.cfg.SigningKeys))
	sigs = append(sigs, ni.Sigs...)
	for _, k := range s.cfg.SigningKeys {
		pub := []narinfo.PublicKey{k.Public()}
		if slices.ContainsFunc(sigs, func(sig string) bool { return narinfo.CheckSig(fp, sig, pub) == narinfo.SigValid }) {
			continue
		}
		sig := k.Sign(fp)
		text = narinfo.AppendSig(text, sig)
		sigs = append(sigs, sig)
	}
	return text, sigs
}

// storeNarinfo checks an upload's files and references against what is
// stored, and writes it. It reports whether the narinfo is new; an equal
// stored one leaves everything as it was. It takes two round trips to the
// database: one for the reads the checks need, one statement for the
// inserts. The reads take no locks and need no transaction with the
// inserts: the primary key settles a concurrent upload of the same path,
// and the foreign keys a concurrent delete of what the narinfo refers to.
func (s *Server) storeNarinfo(ctx context.Context, u *narinfoUpload) (created bool, err error) {
	ni := u.ni
	st, err := s.readExisting(ctx, ni, u.refs)
	if err != nil {
		return false, err
	}
	// A stored narinfo of this hash settles it: equal (nil) or 409.
	if st.body != nil {
		return false, s.compareStored(*st.body, ni)
	}
	if err := checkFiles(ni, st.files); err != nil {
		return false, err
	}
	if err := checkReferences(s.cfg.StoreDir, ni, st.present); err != nil {
		return false, err
	}
	if s.beforeInsert != nil {
		s.beforeInsert(ctx)
	}
	var inserted string
	err = s.db.QueryRow(ctx, qInsertNarinfo, ni.Hash, ni.Name, ni.NarHash, int64(ni.NarSize),
		nullable(ni.Deriver), nullable(ni.System), nullable(ni.CA), u.sigs, string(u.body),
		u.urls, u.refs).Scan(&inserted)
	if errors.Is(err, pgx.ErrNoRows) {
		// Inserted concurrently and committed since the first look.
		var body string
		if err := s.db.QueryRow(ctx, qNarinfoBody, ni.Hash).Scan(&body); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return false, errors.New("insert narinfo: conflicting row vanished")
			}
			return false, fmt.Errorf("read narinfo: %w", err)
		}
		return false, s.compareStored(body, ni)
	}
	if err != nil {
		return false, fmt.Errorf("insert narinfo: %w", err)
	}
	return true, nil
}

// nullable maps "" to SQL NULL.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// short shortens s for an error message.
func short(s string) string {
	const limit = 100
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}
