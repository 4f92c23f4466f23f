// Package placement owns the registry of stores: the rows of the store
// table that say where NAR bytes may live and by which policy (priorities,
// populate, drain, read_only, write_only, size limits), and the questions
// operators ask of it: what a store holds, how much of it has been verified,
// what populate still has to copy in, and what maintenance is doing there.
//
// Every change is validated before anything is written, and a change that
// fails records nothing: Store.Validate names the field that cannot work
// (as a *config.Error, so that a command line can name its flag), Add
// refuses a store it cannot reach only through the caller's Probe, and
// Delete refuses to forget a store that still holds payloads unless forced,
// and even then never forgets the last good copy of a payload.
//
// It works on a pgx pool or connection (DB) and never moves bytes itself:
// Probe talks to a store through the small Objects interface, which the
// kinds in package stores satisfy. It must never import origin, edge, gc,
// loadtest, replication, replica or cmd.
//
//	priority := int32(80)
//	st := placement.Store{Name: "eu-s3", Kind: stores.KindS3, Settings: settings,
//		Populate: true, DownloadPriority: &priority}
//	if err := st.Validate(); err != nil {
//		return err
//	}
//	if err := placement.Probe(ctx, st, objects); err != nil {
//		return err // unreachable: nothing recorded
//	}
//	if _, err := placement.Add(ctx, db, st); err != nil {
//		return err
//	}
package placement
