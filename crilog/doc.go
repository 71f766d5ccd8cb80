// Package crilog writes container output in the Kubernetes CRI log format.
//
// kubelet does not read container output itself: it reads the file that the
// runtime writes at the path it chose (PodSandboxConfig.log_directory joined
// with ContainerConfig.log_path), and serves it for "kubectl logs", rotates it
// and parses it. Each line of that file is one record:
//
//	<RFC3339Nano UTC timestamp> <stream> <tag> <content>\n
//
// where stream is "stdout" or "stderr" and tag is "F" when content ends a
// line of output (its '\n' is not repeated) or "P" when it is only a part of
// one: long lines are cut into P records so that no record exceeds the
// configured maximum, and kubelet joins the P parts up to the next F.
//
// The log directory is on the host, but log_path comes from the API and the
// directory may be writable by less trusted parties, so the file is opened
// without following any symlink and without leaving the directory, and an
// existing file is appended to only if it is a regular file that no other
// name (a hard link) shares.
package crilog

// Stream names the container output a record came from.
type Stream string

// The two streams of a container.
const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)
