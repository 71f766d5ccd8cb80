package spec

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestWithCachedUser(t *testing.T) {
	calls := 0
	lookup := func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		calls++
		s.Process.User.UID, s.Process.User.GID, s.Process.User.AdditionalGids = 1000, 100, []uint32{100, 27}
		return nil
	}
	var cache UserCache
	apply := func(key string) specs.User {
		t.Helper()
		s := &oci.Spec{Process: &specs.Process{}}
		if err := withCachedUser(&cache, key, []oci.SpecOpts{lookup})(context.Background(), nil, &containers.Container{}, s); err != nil {
			t.Fatal(err)
		}
		return s.Process.User
	}
	first := apply("img\x00a")
	second := apply("img\x00a")
	if calls != 1 {
		t.Fatalf("lookups: %d, want 1 (second from the cache)", calls)
	}
	if second.UID != 1000 || second.GID != 100 || !slices.Equal(second.AdditionalGids, first.AdditionalGids) {
		t.Fatalf("cached user %+v, want %+v", second, first)
	}
	second.AdditionalGids[0] = 1 // a spec's copy, not the cache's
	if got := apply("img\x00a"); got.AdditionalGids[0] != 100 {
		t.Fatalf("cache shares its groups with a spec: %v", got.AdditionalGids)
	}
	apply("img\x00b")
	apply("")
	apply("")
	if calls != 4 {
		t.Fatalf("lookups: %d, want 4 (another key, and no caching without a key)", calls)
	}
}

func TestUserOptsCachedLikeUncached(t *testing.T) {
	// A rootfs given by path: containerd's user options read its files.
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(root, "etc", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("passwd", "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1002::/home/bob:/bin/sh\n")
	write("group", "root:x:0:\nalice:x:1000:\nstaff:x:50:alice,bob\nwheel:x:10:root,bob\nbob:x:1002:\n")
	i64 := func(v int64) *runtime.Int64Value { return &runtime.Int64Value{Value: v} }
	contexts := []*runtime.LinuxContainerSecurityContext{
		{},
		{RunAsUser: i64(0)},
		{RunAsUser: i64(1000)},
		{RunAsUser: i64(1001)},
		{RunAsUser: i64(4242)},
		{RunAsUsername: "bob"},
		{RunAsUser: i64(1000), RunAsGroup: i64(7)},
		{RunAsUser: i64(1001), SupplementalGroupsPolicy: runtime.SupplementalGroupsPolicy_Strict},
		{RunAsUser: i64(1001), SupplementalGroups: []int64{99}},
	}
	resolve := func(sc *runtime.LinuxContainerSecurityContext, imageUser string, cache *UserCache) specs.User {
		t.Helper()
		opts, err := userOpts(sc, imageUser, cache, "sha256:layers")
		if err != nil {
			t.Fatal(err)
		}
		s := &oci.Spec{Process: &specs.Process{}, Root: &specs.Root{Path: root}, Linux: &specs.Linux{}}
		if err := oci.ApplyOpts(context.Background(), nil, &containers.Container{}, s, opts...); err != nil {
			t.Fatalf("%v / %q: %v", sc, imageUser, err)
		}
		return s.Process.User
	}
	if u := resolve(&runtime.LinuxContainerSecurityContext{RunAsUser: i64(1001)}, "", nil); u.UID != 1001 || u.GID != 1002 ||
		!slices.Contains(u.AdditionalGids, 50) || !slices.Contains(u.AdditionalGids, 10) {
		t.Fatalf("the test rootfs is not read: %+v", u)
	}
	var cache UserCache
	for round := range 2 {
		for _, sc := range contexts {
			for _, imageUser := range []string{"", "alice", "bob:wheel", "1001", "5:6"} {
				if sc.GetRunAsUser() != nil || sc.GetRunAsUsername() != "" {
					if imageUser != "" {
						continue
					}
				}
				want := resolve(sc, imageUser, nil)
				if got := resolve(sc, imageUser, &cache); !reflect.DeepEqual(got, want) {
					t.Errorf("round %d, %v / image user %q: cached %+v, uncached %+v", round, sc, imageUser, got, want)
				}
			}
		}
	}
}
