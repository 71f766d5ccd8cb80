package crilog

import (
	"strings"
	"testing"
	"time"
)

func TestParseRecords(t *testing.T) {
	data := "2026-11-23T15:40:21.153021947Z stdout F hello world\n" +
		"2026-11-23T15:40:21Z stderr P  two  spaces \n" +
		"2026-11-23T15:40:22.5Z stderr F \n"
	got, err := ParseRecords([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{
		{time.Date(2026, 11, 23, 15, 40, 21, 153021947, time.UTC), Stdout, false, "hello world"},
		{time.Date(2026, 11, 23, 15, 40, 21, 0, time.UTC), Stderr, true, " two  spaces "},
		{time.Date(2026, 11, 23, 15, 40, 22, 5e8, time.UTC), Stderr, false, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) || got[i].Stream != want[i].Stream ||
			got[i].Partial != want[i].Partial || got[i].Content != want[i].Content {
			t.Errorf("record %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	if recs, err := ParseRecords(nil); err != nil || len(recs) != 0 {
		t.Errorf("ParseRecords(nil) = %v, %v; want no records", recs, err)
	}
}

func TestParseRecordsRejectsMalformed(t *testing.T) {
	const ts = "2026-11-23T15:40:21.153021947Z"
	for _, tc := range []struct{ name, data, errText string }{
		{"no trailing newline", ts + " stdout F x", "record 1: no trailing newline"},
		{"no tag separator", ts + " stdout F\n", "want <time> <stream> <tag> <content>"},
		{"missing fields", ts + "\n", "want <time> <stream> <tag> <content>"},
		{"empty line", "\n", "want <time> <stream> <tag> <content>"},
		{"bad timestamp", "yesterday stdout F x\n", "timestamp"},
		{"unknown stream", ts + " stdin F x\n", `unknown stream "stdin"`},
		{"unknown tag", ts + " stdout X x\n", `unknown tag "X"`},
		{"second record bad", ts + " stdout F x\n" + ts + " stdout F:y x\n", `record 2: unknown tag "F:y"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := ParseRecords([]byte(tc.data))
			if err == nil {
				t.Fatalf("parsed %+v, want an error", recs)
			}
			if !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("error %q does not mention %q", err, tc.errText)
			}
		})
	}
}
