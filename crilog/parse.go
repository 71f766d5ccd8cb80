package crilog

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// Record is one parsed log line.
type Record struct {
	Time    time.Time
	Stream  Stream
	Partial bool
	Content string
}

// ParseRecords parses a CRI log file's content into records; malformed
// lines are an error. It is stricter than kubelet, which tolerates extra
// tag fields, because it exists to check what this package writes.
func ParseRecords(data []byte) ([]Record, error) {
	var recs []Record
	for n := 1; len(data) > 0; n++ {
		line, rest, ok := bytes.Cut(data, []byte{'\n'})
		if !ok {
			return nil, fmt.Errorf("crilog: record %d: no trailing newline", n)
		}
		rec, err := parseRecord(string(line))
		if err != nil {
			return nil, fmt.Errorf("crilog: record %d: %w", n, err)
		}
		recs = append(recs, rec)
		data = rest
	}
	return recs, nil
}

func parseRecord(line string) (Record, error) {
	ts, rest, ok1 := strings.Cut(line, " ")
	stream, rest, ok2 := strings.Cut(rest, " ")
	tag, content, ok3 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !ok3 {
		return Record{}, fmt.Errorf("%q: want <time> <stream> <tag> <content>", line)
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return Record{}, fmt.Errorf("timestamp: %w", err)
	}
	rec := Record{Time: t, Stream: Stream(stream), Content: content}
	if rec.Stream != Stdout && rec.Stream != Stderr {
		return Record{}, fmt.Errorf("unknown stream %q", stream)
	}
	switch tag {
	case "F":
	case "P":
		rec.Partial = true
	default:
		return Record{}, fmt.Errorf("unknown tag %q", tag)
	}
	return rec, nil
}
