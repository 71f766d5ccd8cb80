// Package checkpoint writes and reads small JSON state files atomically:
// a reader (or cricketd after a crash) sees the old or the new content,
// never a torn file. Write syncs the data before the rename, so the file
// also survives a host crash: after a reboot every container is gone, but
// a sandbox's checkpoint is what releases its address (CNI DEL).
// WriteUnsynced skips the sync for state that a reboot makes moot.
//
// Update and File keep an object's status in memory and its checkpoint
// together: a change and its write happen under the object's lock, and a
// removed checkpoint is not written again.
package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Write atomically replaces path with v encoded as JSON (mode 0600), and
// makes the new content durable.
func Write(path string, v any) error { return write(path, v, true) }

// WriteUnsynced is Write without waiting for the disk: as atomic for
// readers and across a crash of cricketd (the rename publishes data the
// kernel already holds), but a crash of the host may bring back the old
// content, or on some filesystems an empty file (which Read reports as
// unreadable). For records whose loss a reboot makes moot.
func WriteUnsynced(path string, v any) error { return write(path, v, false) }

func write(path string, v any, sync bool) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	pattern := "." + filepath.Base(path) + ".*"
	tmp, err := os.CreateTemp(dir, pattern)
	if errors.Is(err, os.ErrNotExist) {
		// The directory is made on first use only: most writes replace
		// a checkpoint, and MkdirAll's walk would cost each of them.
		if err = os.MkdirAll(dir, 0o700); err == nil {
			tmp, err = os.CreateTemp(dir, pattern)
		}
	}
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	_, werr := tmp.Write(data)
	if werr == nil && sync {
		werr = tmp.Sync()
	}
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("checkpoint %s: %w", path, werr)
	}
	return nil
}

// Read decodes the JSON file at path into v.
func Read(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return nil
}

// RemoveTemporaries deletes the temporary files of writes interrupted by a
// crash in dir.
func RemoveTemporaries(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if len(e.Name()) > 1 && e.Name()[0] == '.' && filepath.Ext(e.Name()) != "" {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// Record is one checkpoint ReadDir read.
type Record[T any] struct {
	Path  string
	Value *T
}

// ReadDir reads every checkpoint (*.json) in dir, in name order, after
// removing the temporary files of writes a crash interrupted. A
// checkpoint that cannot be read or decoded is removed and reported to
// bad: recovery goes on without it. A missing dir holds none.
func ReadDir[T any](dir string, bad func(path string, err error)) ([]Record[T], error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	RemoveTemporaries(dir)
	var out []Record[T]
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		v := new(T)
		if err := Read(path, v); err != nil {
			bad(path, err)
			os.Remove(path)
			continue
		}
		out = append(out, Record[T]{path, v})
	}
	return out, nil
}
