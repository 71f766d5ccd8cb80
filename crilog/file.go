package crilog

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/containerd/errdefs"
)

// File is one container's CRI log file. Safe for concurrent use: stdout and
// stderr are copied into it by two goroutines at once, and Reopen may be
// called at any time.
type File struct {
	dir         string // absolute log directory
	rel         string // cleaned path of the file inside dir
	maxLineSize int

	mu   sync.Mutex
	file *os.File // nil once closed
	err  error    // first write error
}

// Open opens (creating it if needed, mode 0640, append mode) the log file
// at relPath inside dir. relPath is relative (kubelet's ContainerConfig.log_path
// relative to PodSandboxConfig.log_directory). Missing parent directories
// below dir are created (mode 0755). The file, and every path component,
// must resolve inside dir without following any symlink: a relPath that is
// absolute, contains "..", or whose resolution would pass through a symlink
// is rejected with an error wrapping errdefs.ErrInvalidArgument. An existing
// file is appended to only if it is a regular file with no other name: one
// with other names (a hard link placed there) is replaced by a new file,
// and anything but a regular file is rejected (see openLog). maxLineSize
// (> 0) is the longest content written in one record; longer lines are split
// into P parts of at most maxLineSize bytes.
//
// Both modes are subject to the process umask, as with os.OpenFile.
func Open(dir, relPath string, maxLineSize int) (*File, error) {
	if maxLineSize <= 0 {
		return nil, fmt.Errorf("crilog: max line size %d is not positive: %w", maxLineSize, errdefs.ErrInvalidArgument)
	}
	rel, err := cleanRelPath(relPath)
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("crilog: log directory: %w", err)
	}
	file, err := openLog(dir, rel)
	if err != nil {
		return nil, err
	}
	return &File{dir: dir, rel: rel, maxLineSize: maxLineSize, file: file}, nil
}

// Path returns the absolute path of the log file.
func (f *File) Path() string {
	return filepath.Join(f.dir, f.rel)
}

// Reopen closes the current file and opens relPath again (after kubelet
// renamed the file during log rotation), with the same safety rules (no
// symlinks, a hard link replaced, nothing but a regular file). No
// record is lost or split across the two files: records written before
// Reopen returns go to the old file, after it to the new one.
//
// If the new file cannot be opened, records keep going to the old one.
func (f *File) Reopen() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.file == nil {
		return fmt.Errorf("crilog: reopen %s: %w", f.Path(), os.ErrClosed)
	}
	// Opening under the lock is what makes the switch atomic for writers; it
	// takes a few system calls, and rotation is rare.
	file, err := openLog(f.dir, f.rel)
	if err != nil {
		return err
	}
	old := f.file
	f.file = file
	// On network file systems close reports writes that failed late; that
	// is a lost record like any other, not a failure to reopen.
	if err := old.Close(); err != nil && f.err == nil {
		f.err = err
	}
	return nil
}

// Close closes the file; later writes are dropped silently, Reopen after
// Close errors. Closing again does nothing.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.file == nil {
		return nil
	}
	err := f.file.Close()
	f.file = nil
	return err
}

// Err returns the first write error seen, or nil.
func (f *File) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
