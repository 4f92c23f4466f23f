package placement

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Summary is what Show says of a store.
type Summary struct {
	Store Store `json:"store"`
	// Files and Bytes count the good locations: what the store holds.
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
	// Missing and Corrupt count the locations found not to hold their
	// file's bytes.
	Missing int64 `json:"missing"`
	Corrupt int64 `json:"corrupt"`
	// Verified counts the good locations whose bytes were hashed at least
	// once since they were written; Files-Verified never were.
	Verified int64 `json:"verified"`
	// OldestVerification is the oldest last verification of a good
	// location; nil when none was ever verified.
	OldestVerification *time.Time `json:"oldest_verification"`
	// NoGoodCopy counts the payloads located here, missing or corrupt,
	// that have no good location in any store: their narinfos are out of
	// service until a good copy returns.
	NoGoodCopy int64 `json:"no_good_copy"`
	// ToPopulate, for a store that populates, counts the NAR files it has
	// no good location for: what populate has left to copy in.
	ToPopulate *int64 `json:"to_populate"`
	// Job is the maintenance job running on the store, if any.
	Job *Job `json:"job"`
}

// Job is a maintenance job as the store_job table records it.
type Job struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"` // populate, drain, evict, verify or sweep
	Total     int64     `json:"total"`
	Done      int64     `json:"done"`
	Bytes     int64     `json:"bytes"`
	Failed    int64     `json:"failed"`
	Error     string    `json:"error,omitempty"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Unverified counts the good locations never verified.
func (s Summary) Unverified() int64 { return s.Files - s.Verified }

// Show summarizes the store named name: what it holds, how much of that was
// verified, what populate has left to do, and its running job.
func Show(ctx context.Context, db DB, name string) (Summary, error) {
	st, err := Get(ctx, db, name)
	if err != nil {
		return Summary{}, err
	}
	s := Summary{Store: st}
	err = db.QueryRow(ctx, qSummary, st.ID, st.Populate).Scan(&s.Files, &s.Bytes, &s.Missing, &s.Corrupt,
		&s.Verified, &s.OldestVerification, &s.NoGoodCopy, &s.ToPopulate)
	if err != nil {
		return Summary{}, fmt.Errorf("show store %q: %w", name, err)
	}
	var j Job
	err = db.QueryRow(ctx, qRunningJob, st.ID).Scan(&j.ID, &j.Kind, &j.Total, &j.Done, &j.Bytes, &j.Failed,
		&j.Error, &j.StartedAt, &j.UpdatedAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return Summary{}, fmt.Errorf("show store %q: %w", name, err)
	default:
		s.Job = &j
	}
	return s, nil
}
