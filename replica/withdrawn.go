package replica

import "strconv"

// A withdrawn narinfo (a NAR file it lists has no good copy clients can
// download) is kept with its body, so that it returns to service by an
// update that does not resend an unchanged body, but is answered as a
// miss. Its stored value is withdrawnMark and the body: a narinfo is
// PostgreSQL text, which never holds a NUL byte, so a value in service
// never starts with one, and replicas written before withdrawal existed
// read as all in service.
const withdrawnMark = 0

// narinfoValue is the stored value of a narinfo row.
func narinfoValue(col map[string][]byte) ([]byte, error) {
	body := col["body"]
	out := false
	if v := col["withdrawn"]; v != nil {
		// pgoutput's text form of a boolean is t or f; a snapshot's
		// withdrawn::text is true or false.
		var err error
		if out, err = strconv.ParseBool(string(v)); err != nil {
			return nil, err
		}
	}
	if !out {
		return body, nil
	}
	return append([]byte{withdrawnMark}, body...), nil
}

// withdrawn reports whether a stored narinfo value is withdrawn.
func withdrawn(v []byte) bool { return len(v) > 0 && v[0] == withdrawnMark }

// narinfoBody is the body of a stored narinfo value.
func narinfoBody(v []byte) []byte {
	if withdrawn(v) {
		return v[1:]
	}
	return v
}
