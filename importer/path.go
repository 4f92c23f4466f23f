package importer

import "context"

// importPath hashes and uploads (or records) the NAR files of e, and then
// uploads its narinfo. It returns how many files and bytes went.
func (im *importer) importPath(ctx context.Context, e *entry) (files int, bytes int64, err error) {
	nfs, err := narFiles(e)
	if err != nil {
		return 0, 0, err
	}
	if im.cfg.NoPayload {
		hs := make([]*hashed, len(nfs))
		for i, f := range nfs {
			if hs[i], err = im.hashFile(ctx, e, f, false); err != nil {
				return 0, 0, err
			}
			bytes += hs[i].size
		}
		if err := recordFiles(ctx, im.cfg.DB, im.storeID, hs); err != nil {
			return 0, 0, err
		}
	} else {
		for _, f := range nfs {
			h, err := im.hashFile(ctx, e, f, true)
			if err != nil {
				return 0, 0, err
			}
			err = im.origin.putNar(ctx, f.URL, h.body, h.size)
			h.cleanup()
			if err != nil {
				return 0, 0, err
			}
			bytes += h.size
		}
	}
	if err := im.origin.putNarinfo(ctx, e.hash, e.text); err != nil {
		return 0, 0, err
	}
	return len(nfs), bytes, nil
}
