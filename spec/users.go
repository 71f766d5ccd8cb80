package spec

import (
	"context"
	"slices"
	"sync"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// maxCachedUsers bounds a UserCache; a full cache starts over.
const maxCachedUsers = 4096

// UserCache remembers the process user (uid, gid, supplementary groups)
// that the user options of a container resolved from its image's
// /etc/passwd and /etc/group. An image's layers (its chain ID) never
// change, so neither does the answer: the next container of the same
// image with the same user settings reads nothing from its rootfs. Safe
// for concurrent use; the zero value is ready.
type UserCache struct {
	mu sync.Mutex
	m  map[string]userIDs
}

type userIDs struct {
	uid, gid uint32
	groups   []uint32
}

func (c *UserCache) get(key string) (userIDs, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.m[key]
	return u, ok
}

func (c *UserCache) put(key string, u userIDs) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedUsers {
		c.m = map[string]userIDs{}
	}
	c.m[key] = u
}

// withCachedUser applies opts, which set the process user from the
// container's rootfs, or what they set before for the same key.
func withCachedUser(cache *UserCache, key string, opts []oci.SpecOpts) oci.SpecOpts {
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *oci.Spec) error {
		if cache == nil || key == "" {
			return oci.Compose(opts...)(ctx, client, c, s)
		}
		if u, ok := cache.get(key); ok {
			if s.Process == nil {
				s.Process = &specs.Process{}
			}
			s.Process.User.UID, s.Process.User.GID = u.uid, u.gid
			s.Process.User.AdditionalGids = slices.Clone(u.groups)
			return nil
		}
		if err := oci.Compose(opts...)(ctx, client, c, s); err != nil {
			return err
		}
		u := s.Process.User
		cache.put(key, userIDs{uid: u.UID, gid: u.GID, groups: slices.Clone(u.AdditionalGids)})
		return nil
	}
}
