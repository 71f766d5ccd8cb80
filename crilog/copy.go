package crilog

import (
	"bufio"
	"io"
	"time"
)

const (
	// readBufferSize is how much of a pipe is read at once; longer lines
	// are handled in pieces, so it bounds memory, not line length.
	readBufferSize = 32 << 10

	// timestampRoom fits the longest RFC3339Nano UTC timestamp.
	timestampRoom = len("2006-01-02T15:04:05.999999999Z")

	tagFull    = 'F'
	tagPartial = 'P'
)

// Copy reads r until EOF or error, writing every line as a record of the
// given stream. It returns when r is exhausted. Lines longer than
// maxLineSize are split into P records with the final piece as F. Data left
// without a trailing newline at EOF is written as one F record (if non-empty).
// A write error (e.g. disk full) does not stop the copy: r is drained to
// the end so that the container never blocks on a full pipe, and the first
// write error is kept for Err.
func (f *File) Copy(stream Stream, r io.Reader) {
	rec := newRecord(stream, f.maxLineSize)
	br := bufio.NewReaderSize(r, readBufferSize)
	for {
		chunk, err := br.ReadSlice('\n')
		if err == nil {
			f.addContent(rec, chunk[:len(chunk)-1])
			f.writeRecord(rec, tagFull)
			continue
		}
		f.addContent(rec, chunk)
		if err == bufio.ErrBufferFull {
			continue // the line goes on in the next slice
		}
		// EOF or a read error: nothing more will come, so an unterminated
		// line is as complete as it will ever be.
		if rec.contentLen() > 0 {
			f.writeRecord(rec, tagFull)
		}
		return
	}
}

// addContent appends p to the line being collected in rec. A record is
// written as P only once more content is known to follow it, so that a
// line of exactly maxLineSize stays one F record rather than a P record
// and an empty F.
func (f *File) addContent(rec *record, p []byte) {
	for len(p) > 0 {
		if rec.contentLen() == f.maxLineSize {
			f.writeRecord(rec, tagPartial)
		}
		n := min(f.maxLineSize-rec.contentLen(), len(p))
		rec.buf = append(rec.buf, p[:n]...)
		p = p[n:]
	}
}

// writeRecord writes rec with one write call, so that records of the two
// streams never interleave, and empties it for the next one.
func (f *File) writeRecord(rec *record, tag byte) {
	defer rec.reset()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.file == nil {
		return
	}
	// Reading the clock under the lock keeps the file's order and its
	// timestamps in agreement across the two streams.
	if _, err := f.file.Write(rec.frame(time.Now(), tag)); err != nil && f.err == nil {
		f.err = err
	}
}

// record is the reusable buffer of one stream's records. Its content sits
// behind room reserved for the header, which is only known when the record
// is written, so a record is framed without copying its content again.
type record struct {
	stream Stream
	room   int    // bytes before the content, enough for any header
	buf    []byte // room, then content
	header []byte // scratch for formatting the header
}

func newRecord(stream Stream, maxLineSize int) *record {
	room := timestampRoom + len(" ") + len(stream) + len(" F ")
	// Grow towards maxLineSize only if lines are that long: it may be large.
	return &record{
		stream: stream,
		room:   room,
		buf:    make([]byte, room, room+min(maxLineSize, readBufferSize)+1),
	}
}

func (r *record) contentLen() int { return len(r.buf) - r.room }

func (r *record) reset() { r.buf = r.buf[:r.room] }

// frame puts the header right before the content and the newline after it,
// and returns the whole record.
func (r *record) frame(now time.Time, tag byte) []byte {
	h := now.UTC().AppendFormat(r.header[:0], time.RFC3339Nano)
	h = append(h, ' ')
	h = append(h, r.stream...)
	h = append(h, ' ', tag, ' ')
	r.header = h
	start := r.room - len(h)
	copy(r.buf[start:], h)
	r.buf = append(r.buf, '\n')
	return r.buf[start:]
}
