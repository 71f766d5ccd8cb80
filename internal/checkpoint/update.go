package checkpoint

import (
	"errors"
	"os"

	"google.golang.org/protobuf/proto"
)

// Change says how Update treats a change's write: whether the change must
// be written before it counts, or already happened elsewhere.
type Change int

const (
	// Requested is a change a caller asks for (a creation, a pod's new
	// resources): it counts only once written. A failed write fails it and
	// the value stays as it was, as with containerd's Status.UpdateSync.
	Requested Change = iota
	// Happened is a change that already happened in containerd or the
	// kernel (a task started or exited, a pause process died, a cgroup
	// took new limits): the value follows it even when the write fails,
	// since it describes what is. The error is returned, to be logged; a
	// checkpoint left behind is corrected at start-up from containerd's
	// state, as after a crash.
	Happened
	// Deferred is a step of an operation whose last step writes the object
	// (a creation, a stop): nothing is written now. A crash before that
	// write loses nothing that start-up does not find again: it rolls an
	// unfinished creation back, and takes the rest from containerd.
	Deferred
)

// Update changes *cur, the in-memory value of what a checkpoint holds, and
// writes it. The caller holds the lock that guards *cur for the whole
// call: the change and its write are one critical section, so a Requested
// change is seen only once it is written, and writes land in the order of
// the changes.
//
// fn edits a copy and reports whether it changed anything; when it did
// not, nothing is written and *cur stays. A nil fn writes *cur as it is.
// save writes the copy; then the copy becomes *cur (for Requested only if
// save succeeded). Update returns save's error.
func Update[S any](cur *S, how Change, save func(S) error, fn func(*S) bool) error {
	next := *cur
	if fn != nil && !fn(&next) {
		return nil
	}
	var err error
	if how != Deferred {
		err = save(next)
	}
	if err == nil || how == Happened {
		*cur = next
	}
	return err
}

// File is the checkpoint of one object: where it is, how it is written,
// and whether it was removed for good. It has no lock of its own: the
// object's lock, which guards what is written, guards it, so that a write
// and the removal are ordered.
type File struct {
	Path string
	// Durable files are written with Write, the others with WriteUnsynced.
	Durable bool
	removed bool
}

// Write replaces the file's content with v, unless it was removed: a late
// write (the exit of a container being removed) must not bring a removed
// object back.
func (f *File) Write(v any) error {
	if f.removed {
		return nil
	}
	return write(f.Path, v, f.Durable)
}

// Remove removes the file for good; later writes do nothing. A missing
// file is removed already.
func (f *File) Remove() error {
	f.removed = true
	if err := os.Remove(f.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// EncodeFor encodes m, a protobuf message a checkpoint holds, for a change
// of kind how: nil for a Deferred change, which writes nothing, and for a
// nil m.
func EncodeFor(how Change, m proto.Message) ([]byte, error) {
	if how == Deferred || m == nil || !m.ProtoReflect().IsValid() {
		return nil, nil
	}
	return proto.Marshal(m)
}
