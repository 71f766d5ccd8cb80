package spec

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// cdiTimestampSlack is how coarse a file's timestamps may be: two
// writes within it may leave a file with the same times (ext4 takes them
// from a clock that ticks every few milliseconds; some filesystems keep
// seconds). A state read while a file is that young is not trusted.
const cdiTimestampSlack = 2 * time.Second

// cdiDirState is what the CDI library would read from the spec
// directories, in a form cheap to take and compare: every *.json and
// *.yaml file (not directories, not recursive, as the library scans)
// with its identity, size and times, following symlinks as the library
// reads through them. A spec written, replaced, renamed, removed or
// touched changes it; a change within cdiTimestampSlack of a load may
// not, which youngest tells.
type cdiDirState struct {
	files []cdiSpecFile
	// youngest is the latest change time of the files.
	youngest time.Time
}

type cdiSpecFile struct {
	path         string
	err          string // a directory or file that cannot be read
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

func readCDIDirState(dirs []string) cdiDirState {
	var st cdiDirState
	for _, dir := range dirs {
		ents, err := os.ReadDir(dir)
		if err != nil && !os.IsNotExist(err) {
			st.files = append(st.files, cdiSpecFile{path: dir, err: err.Error()})
		}
		for _, e := range ents {
			if e.IsDir() {
				continue
			}
			if ext := filepath.Ext(e.Name()); ext != ".json" && ext != ".yaml" {
				continue
			}
			p := filepath.Join(dir, e.Name())
			f := cdiSpecFile{path: p}
			fi, err := os.Stat(p)
			if err != nil {
				f.err = err.Error()
			} else if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
				f.dev, f.ino, f.size = sys.Dev, sys.Ino, sys.Size
				f.mtime, f.ctime = sys.Mtim.Nano(), sys.Ctim.Nano()
				// ctime too: mtime can be set back (cp -p, touch -d),
				// ctime cannot.
				for _, ns := range []int64{f.mtime, f.ctime} {
					if t := time.Unix(0, ns); t.After(st.youngest) {
						st.youngest = t
					}
				}
			}
			st.files = append(st.files, f)
		}
	}
	return st
}

func (s cdiDirState) equal(o cdiDirState) bool { return slices.Equal(s.files, o.files) }

// settledAt says whether a state read at t can be trusted to show the
// next change: no file changed within cdiTimestampSlack of t.
func (s cdiDirState) settledAt(t time.Time) bool {
	return s.youngest.Before(t.Add(-cdiTimestampSlack))
}
