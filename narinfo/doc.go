// Package narinfo owns the narinfo model shared by the origin and the edge:
// store path syntax, NAR file names, strict parsing and canonical rendering of
// .narinfo files in the Nix and Guix dialects, the fingerprint Nix signs, and
// Nix signing keys.
//
// It is pure: it never does I/O, never reads flags, files or the environment,
// and never logs. Parse errors are single lines that are safe to return to an
// HTTP client. The package never rewrites a narinfo it was given: callers
// store and serve the bytes they received (a Guix Signature: line signs those
// exact bytes), and use Render only for narinfos they build themselves.
//
// A typical upload check on the origin:
//
//	n, err := narinfo.Parse(body, narinfo.NixStoreDir)
//	if err != nil {
//		return err // 400, err.Error() is the body
//	}
//	if n.Hash != requestedHash {
//		return errWrongPath
//	}
//	fp := n.Fingerprint(narinfo.NixStoreDir)
//	body = narinfo.AppendSig(body, secretKey.Sign(fp))
//
// and on a client that trusts some keys:
//
//	for _, sig := range n.Sigs {
//		if narinfo.CheckSig(fp, sig, trusted) == narinfo.SigValid {
//			return nil
//		}
//	}
package narinfo
