package idstore

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

type obj struct {
	id string
	at time.Time
}

func newObjs() *Store[*obj] {
	return New("thing", func(o *obj) (string, time.Time) { return o.id, o.at })
}

func TestGetByIDAndPrefix(t *testing.T) {
	s := newObjs()
	t0 := time.Now()
	s.Add(&obj{"abc123", t0})
	s.Add(&obj{"abd456", t0})
	for _, tc := range []struct {
		id, want string
		check    func(error) bool
	}{
		{"abc123", "abc123", nil},
		{"abc", "abc123", nil},
		{"abd4", "abd456", nil},
		{"ab", "", errdefs.IsInvalidArgument},
		{"", "", errdefs.IsInvalidArgument},
		{"x", "", errdefs.IsNotFound},
		{"abc1234", "", errdefs.IsNotFound},
	} {
		got, err := s.Get(tc.id)
		if tc.check != nil {
			if !tc.check(err) {
				t.Errorf("Get(%q) error = %v", tc.id, err)
			}
			continue
		}
		if err != nil || got.id != tc.want {
			t.Errorf("Get(%q) = %v, %v; want %s", tc.id, got, err, tc.want)
		}
	}
	s.Remove("abd456")
	if got, err := s.Get("ab"); err != nil || got.id != "abc123" {
		t.Errorf("after Remove, Get(ab) = %v, %v", got, err)
	}
	s.Remove("abd456") // again: nothing to do
}

func TestListOldestFirstAndFiltered(t *testing.T) {
	s := newObjs()
	t0 := time.Now()
	for i, d := range []int{3, 1, 2, 0} {
		s.Add(&obj{fmt.Sprintf("o%d", i), t0.Add(time.Duration(d) * time.Second)})
	}
	var ids []string
	for _, o := range s.List(nil) {
		ids = append(ids, o.id)
	}
	if fmt.Sprint(ids) != "[o3 o1 o2 o0]" {
		t.Errorf("List = %v, want oldest first [o3 o1 o2 o0]", ids)
	}
	odd := s.List(func(o *obj) bool { return o.id == "o1" || o.id == "o3" })
	if len(odd) != 2 || odd[0].id != "o3" || odd[1].id != "o1" {
		t.Errorf("filtered List = %v", odd)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := newObjs()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				id := fmt.Sprintf("%d-%d", i, j)
				s.Add(&obj{id, time.Now()})
				if _, err := s.Get(id); err != nil {
					t.Error(err)
				}
				s.List(nil)
				s.Remove(id)
			}
		})
	}
	wg.Wait()
	if n := len(s.List(nil)); n != 0 {
		t.Errorf("%d objects left", n)
	}
}
