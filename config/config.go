// Package config holds what the configurations of narthex's parts share:
// Error, the one way a Validate method says which field cannot work, so
// that the command line can name the flag the user typed instead of the
// field. Each part keeps its own Config with exported Default* constants, a
// withDefaults method and a Validate method that returns an *Error.
//
// It must never read flags, the environment or files, and never import a
// narthex package.
package config

import (
	"fmt"
	"time"
)

// Error names a Config field that cannot work.
type Error struct {
	Field   string // the field's name in its Config
	Value   any    // its value as it may be shown; a secret is not shown
	Problem string // what is wrong with it, as a phrase: "must not be negative"
	// Other, when set, names the field Problem compares with, shown with
	// OtherValue after Problem: "is not longer than UploadRateWindow 1m0s".
	Other      string
	OtherValue any
	// Why, when set, follows the rest after a colon.
	Why string
}

// Error says what is wrong in terms of the Config's own field names.
func (e *Error) Error() string { return e.Named(func(field string) string { return field }) }

// Named says what is wrong with the fields named by name, such as the flags
// that set them.
func (e *Error) Named(name func(field string) string) string {
	s := fmt.Sprintf("%s %v %s", name(e.Field), e.Value, e.Problem)
	if e.Other != "" {
		s += fmt.Sprintf(" %s %v", name(e.Other), e.OtherValue)
	}
	if e.Why != "" {
		s += ": " + e.Why
	}
	return s
}

// Duration is a Config field holding a time.Duration, for NotNegative.
type Duration struct {
	Field string
	Value time.Duration
}

// NotNegative returns an *Error for the first of ds that is negative, nil
// when none is.
func NotNegative(ds ...Duration) error {
	for _, d := range ds {
		if d.Value < 0 {
			return &Error{Field: d.Field, Value: d.Value, Problem: "must not be negative"}
		}
	}
	return nil
}
