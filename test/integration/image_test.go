package integration

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/testrig"
)

func TestPullThroughHostsTomlMirror(t *testing.T) {
	t.Parallel()
	reg := testrig.StartRegistry(t)
	img := testrig.BuildImage(t, testrig.ImageSpec{Labels: map[string]string{"t": "mirror"}})
	reg.Push(t, "library/busybox:1.36", img)
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Hosts: map[string]string{"mirror.invalid": mirrorHosts(reg)}})

	id := pull(t, d, "mirror.invalid/library/busybox:1.36")
	cfgDigest, _ := img.ConfigName()
	if id != cfgDigest.String() {
		t.Fatalf("PullImage returned %q, want the config digest %s", id, cfgDigest)
	}
	st := imageStatus(t, d, "mirror.invalid/library/busybox:1.36")
	if st == nil || !slices.Equal(st.RepoTags, []string{"mirror.invalid/library/busybox:1.36"}) {
		t.Fatalf("status after mirror pull = %v", st)
	}
	if reg.Gets("/v2/library/busybox/manifests/1.36") == 0 {
		t.Fatal("the mirror registry never served the manifest")
	}
}

func TestPullWithoutMirrorFailsForUnreachableUpstream(t *testing.T) {
	t.Parallel()
	// The upstream of this hosts.toml is a closed loopback port and there is
	// no mirror: the pull must fail (and not hang), proving the mirror test
	// above succeeds only through its mirror.
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Hosts: map[string]string{
		"nomirror.invalid": "server = \"http://127.0.0.1:1\"\n",
	}})
	_, err := d.Images.PullImage(d.Ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: "nomirror.invalid/x:1"}})
	if err == nil {
		t.Fatal("pull from an unreachable registry succeeded")
	}
}

func TestAuthenticatedPulls(t *testing.T) {
	t.Parallel()
	reg := testrig.StartRegistry(t)
	img := testrig.BuildImage(t, testrig.ImageSpec{Labels: map[string]string{"t": "private"}})
	reg.Push(t, "private/app:1", img)
	d := testrig.StartDaemon(t, testrig.DaemonOptions{})
	want, _ := img.ConfigName()

	basic := reg.AuthHost + "/private/app:1"
	token := reg.TokenHost + "/private/app:1"
	userPass := base64.StdEncoding.EncodeToString([]byte(testrig.RegistryUser + ":" + testrig.RegistryPassword))
	for _, tc := range []struct {
		name string
		ref  string
		auth *runtime.AuthConfig
		code codes.Code // OK when the pull must succeed
	}{
		{"basic without credentials", basic, nil, codes.Unauthenticated},
		{"basic with wrong password", basic, &runtime.AuthConfig{Username: testrig.RegistryUser, Password: "wrong"}, codes.Unauthenticated},
		{"basic username and password", basic, &runtime.AuthConfig{Username: testrig.RegistryUser, Password: testrig.RegistryPassword}, codes.OK},
		{"basic auth field", basic, &runtime.AuthConfig{Auth: userPass}, codes.OK},
		{"basic for another server", basic, &runtime.AuthConfig{Username: testrig.RegistryUser, Password: testrig.RegistryPassword, ServerAddress: "https://other.invalid"}, codes.Unauthenticated},
		{"basic for this server", basic, &runtime.AuthConfig{Username: testrig.RegistryUser, Password: testrig.RegistryPassword, ServerAddress: "http://" + reg.AuthHost}, codes.OK},
		{"token without credentials", token, nil, codes.Unauthenticated},
		{"token from password", token, &runtime.AuthConfig{Username: testrig.RegistryUser, Password: testrig.RegistryPassword}, codes.OK},
		{"token from identity token", token, &runtime.AuthConfig{IdentityToken: testrig.IdentityToken}, codes.OK},
		{"registry token", token, &runtime.AuthConfig{RegistryToken: testrig.RegistryToken}, codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := d.Images.PullImage(d.Ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: tc.ref}, Auth: tc.auth})
			if tc.code != codes.OK {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatalf("pull: %v", err)
			}
			if resp.ImageRef != want.String() {
				t.Fatalf("image ref %s, want %s", resp.ImageRef, want)
			}
			removeImage(t, d, resp.ImageRef)
		})
	}
	if strings.Contains(d.Log(), testrig.RegistryPassword) || strings.Contains(d.Log(), testrig.IdentityToken) {
		t.Fatal("credentials appear in the daemon's log")
	}
}

func TestPullDeadlineAndErrors(t *testing.T) {
	t.Parallel()
	reg := testrig.StartRegistry(t)
	reg.Push(t, "busybox:1", testrig.BuildImage(t, testrig.ImageSpec{}))
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Holds: true})

	// The pull times out once it runs in cricketd (held at the start of
	// the shared pull): its only caller gone, the pull is abandoned.
	ref := reg.Host + "/busybox:1"
	h := d.Hold(t, "PullImage")
	timeOutWhileHeld(t, d, h, "PullImage", func(ctx context.Context) error {
		_, err := d.Images.PullImage(ctx, &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: ref}})
		return err
	}, "image="+ref)
	waitFor(t, 10*time.Second, "the abandoned pull to stop", func() bool {
		return logLineWith(d, "test hold: held call's context ended", "point=PullImage")
	})
	h.Release()
	if img := imageStatus(t, d, ref); img != nil {
		t.Fatalf("the abandoned pull left an image: %v", img)
	}
	var err error

	_, err = d.Images.PullImage(d.Ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: reg.Host + "/nosuch:1"}})
	wantCode(t, err, codes.NotFound)
	_, err = d.Images.PullImage(d.Ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: reg.Host + "/busybox:nosuchtag"}})
	wantCode(t, err, codes.NotFound)
	for _, bad := range []string{"library/UPPER:1", "busybox:bad tag", "a@sha256:xyz", ""} {
		_, err = d.Images.PullImage(d.Ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: bad}})
		wantCode(t, err, codes.InvalidArgument)
	}
	// A later pull of the same image works.
	pull(t, d, ref)
}

func TestPullStalledRegistryHitsProgressTimeout(t *testing.T) {
	t.Parallel()
	reg := testrig.StartRegistry(t)
	// A layer of its own: content already in containerd (from another
	// test) would not be downloaded at all.
	img := testrig.BuildImage(t, testrig.ImageSpec{Files: map[string]string{"stall": t.Name() + time.Now().String()}})
	reg.Push(t, "stall:1", img)
	layers, _ := img.Layers()
	ld, _ := layers[1].Digest()
	reg.StallBlob(ld.String())
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Configure: func(c *config.Config) {
		c.ImagePullProgressTimeout = config.Duration(time.Second)
	}})
	start := time.Now()
	_, err := d.Images.PullImage(d.Ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: reg.Host + "/stall:1"}})
	wantCode(t, err, codes.DeadlineExceeded)
	if !strings.Contains(err.Error(), "no progress") {
		t.Errorf("error does not say why: %v", err)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("stalled pull took %s to fail with a 1s progress timeout", el)
	}
}

func TestConcurrentPullsOfOneImageAreCollapsed(t *testing.T) {
	t.Parallel()
	reg := testrig.StartRegistry(t)
	img := testrig.BuildImage(t, testrig.ImageSpec{Labels: map[string]string{"t": "collapse"}})
	reg.Push(t, "busybox:c", img)
	d := testrig.StartDaemon(t, testrig.DaemonOptions{})
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Go(func() {
			resp, err := d.Images.PullImage(d.Ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: reg.Host + "/busybox:c"}})
			errs[i] = err
			if err == nil {
				ids[i] = resp.ImageRef
			}
		})
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("pull %d: id %q err %v (first id %q)", i, ids[i], errs[i], ids[0])
		}
	}
	// Each separate pull resolves the tag once; eight concurrent calls
	// must have been served by far fewer than eight resolutions.
	if n := reg.Gets("/v2/busybox/manifests/c"); n > 4 {
		t.Fatalf("tag resolved %d times for 8 concurrent pulls; want them collapsed", n)
	}
}

// TestImageStatusByEveryReference pulls an image through a docker.io mirror
// so that short names apply, and asks for it every way kubelet and users do.
func TestImageStatusByEveryReference(t *testing.T) {
	t.Parallel()
	reg := testrig.StartRegistry(t)
	img := testrig.BuildImage(t, testrig.ImageSpec{Labels: map[string]string{"t": "refs"}})
	manifest := reg.Push(t, "library/busybox:latest", img)
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Hosts: map[string]string{"docker.io": mirrorHosts(reg)}})

	id := pull(t, d, "busybox")
	want := imageStatus(t, d, "docker.io/library/busybox:latest")
	if want == nil {
		t.Fatal("no status for the pulled image")
	}
	if want.Id != id || !slices.Equal(want.RepoTags, []string{"docker.io/library/busybox:latest"}) ||
		!slices.Equal(want.RepoDigests, []string{"docker.io/library/busybox@" + manifest}) || want.Size == 0 {
		t.Fatalf("status = %v", want)
	}
	for _, ref := range []string{
		"busybox", "busybox:latest", "library/busybox", "docker.io/library/busybox",
		"docker.io/library/busybox:latest", "busybox@" + manifest, "docker.io/library/busybox@" + manifest,
		id, strings.TrimPrefix(id, "sha256:"), id[:len("sha256:")+12], strings.TrimPrefix(id, "sha256:")[:12],
	} {
		if got := imageStatus(t, d, ref); !proto.Equal(got, want) {
			t.Errorf("ImageStatus(%q) = %v, want %v", ref, got, want)
		}
	}
	if got := listImages(t, d, "busybox"); len(got) != 1 || !proto.Equal(got[0], want) {
		t.Errorf("ListImages(filter busybox) = %v", got)
	}
	if got := imageStatus(t, d, "busybox:other"); got != nil {
		t.Errorf("ImageStatus of an absent tag = %v, want nil", got)
	}
	if got := listImages(t, d, "busybox:other"); len(got) != 0 {
		t.Errorf("ListImages(filter absent) = %v", got)
	}
	verbose, err := d.Images.ImageStatus(d.Ctx(), &runtime.ImageStatusRequest{Image: &runtime.ImageSpec{Image: "busybox"}, Verbose: true})
	if err != nil || !strings.Contains(verbose.Info["info"], `"chainID"`) || !strings.Contains(verbose.Info["info"], `"t":"refs"`) {
		t.Errorf("verbose status info = %v, %v", verbose.GetInfo(), err)
	}
	_, err = d.Images.ImageStatus(d.Ctx(), &runtime.ImageStatusRequest{Image: &runtime.ImageSpec{Image: "Bad:Ref"}})
	wantCode(t, err, codes.InvalidArgument)
}

func TestThreeTagsOneImageAndRemovalOfOneTagRemovesAll(t *testing.T) {
	t.Parallel()
	reg := testrig.StartRegistry(t)
	img := testrig.BuildImage(t, testrig.ImageSpec{Labels: map[string]string{"t": "tags"}})
	var refs []string
	for _, tag := range []string{"1", "2", "3"} {
		reg.Push(t, "tags:"+tag, img)
		refs = append(refs, reg.Host+"/tags:"+tag)
	}
	other := testrig.BuildImage(t, testrig.ImageSpec{Labels: map[string]string{"t": "other"}})
	reg.Push(t, "other:1", other)
	d := testrig.StartDaemon(t, testrig.DaemonOptions{})

	var ids []string
	for _, r := range refs {
		ids = append(ids, pull(t, d, r))
	}
	otherID := pull(t, d, reg.Host+"/other:1")
	if ids[0] != ids[1] || ids[1] != ids[2] || otherID == ids[0] {
		t.Fatalf("ids %v, other %s", ids, otherID)
	}
	all := listImages(t, d, "")
	if len(all) != 2 {
		t.Fatalf("ListImages = %d images, want 2: %v", len(all), all)
	}
	var tagged *runtime.Image
	for _, i := range all {
		if i.Id == ids[0] {
			tagged = i
		}
	}
	if tagged == nil || !slices.Equal(tagged.RepoTags, refs) {
		t.Fatalf("image %s tags = %v, want %v", ids[0], tagged.GetRepoTags(), refs)
	}

	removeImage(t, d, refs[1])
	for _, r := range append(refs, ids[0]) {
		if st := imageStatus(t, d, r); st != nil {
			t.Errorf("after removing %s, ImageStatus(%s) = %v, want nil", refs[1], r, st)
		}
	}
	if all := listImages(t, d, ""); len(all) != 1 || all[0].Id != otherID {
		t.Fatalf("after removal ListImages = %v, want only %s", all, otherID)
	}
	// Removing an absent image is not an error.
	removeImage(t, d, refs[0])
	removeImage(t, d, "sha256:"+strings.Repeat("0", 64))
}

func TestSameImageInTwoRegistriesIsOneImage(t *testing.T) {
	t.Parallel()
	reg1, reg2 := testrig.StartRegistry(t), testrig.StartRegistry(t)
	img := testrig.BuildImage(t, testrig.ImageSpec{Labels: map[string]string{"t": "two-registries"}})
	reg1.Push(t, "pause:3.9", img)
	reg2.Push(t, "pause:3.9", img)
	d := testrig.StartDaemon(t, testrig.DaemonOptions{})
	a, b := pull(t, d, reg1.Host+"/pause:3.9"), pull(t, d, reg2.Host+"/pause:3.9")
	if a != b {
		t.Fatalf("ids differ: %s %s", a, b)
	}
	all := listImages(t, d, "")
	if len(all) != 1 || len(all[0].RepoTags) != 2 {
		t.Fatalf("ListImages = %v, want one image with two tags", all)
	}
	removeImage(t, d, reg1.Host+"/pause:3.9")
	if st := imageStatus(t, d, reg2.Host+"/pause:3.9"); st != nil {
		t.Fatalf("tag in the other registry survived removal: %v", st)
	}
}

func TestConcurrentRemovesAllSucceed(t *testing.T) {
	t.Parallel()
	reg := testrig.StartRegistry(t)
	reg.Push(t, "rm:1", testrig.BuildImage(t, testrig.ImageSpec{Labels: map[string]string{"t": "rm"}}))
	d := testrig.StartDaemon(t, testrig.DaemonOptions{})
	id := pull(t, d, reg.Host+"/rm:1")
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		wg.Go(func() {
			_, err := d.Images.RemoveImage(d.Ctx(), &runtime.RemoveImageRequest{Image: &runtime.ImageSpec{Image: id}})
			if err == nil {
				if st := imageStatus(t, d, id); st != nil {
					err = fmt.Errorf("image still present after RemoveImage returned: %v", st)
				}
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestImageUserAndPinnedAndFsInfo(t *testing.T) {
	t.Parallel()
	reg := testrig.StartRegistry(t)
	users := []struct {
		user     string
		uid      *int64
		username string
	}{
		{"1002", proto.Int64(1002), ""},
		{"www-data", nil, "www-data"},
		{"1003:1004", proto.Int64(1003), ""},
		{"www-data:1004", nil, "www-data"},
		{"", nil, ""},
	}
	for i, u := range users {
		reg.Push(t, fmt.Sprintf("user:%d", i), testrig.BuildImage(t, testrig.ImageSpec{User: u.user, Labels: map[string]string{"user": u.user}}))
	}
	reg.Push(t, "pause:3.10", testrig.BuildImage(t, testrig.ImageSpec{Entrypoint: []string{"sleep", "inf"}}))
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Configure: func(c *config.Config) {
		c.SandboxImage = reg.Host + "/pause:3.10"
	}})

	for i, u := range users {
		ref := fmt.Sprintf("%s/user:%d", reg.Host, i)
		pull(t, d, ref)
		st := imageStatus(t, d, ref)
		if (st.Uid == nil) != (u.uid == nil) || (u.uid != nil && st.Uid.Value != *u.uid) || st.Username != u.username {
			t.Errorf("USER %q: uid=%v username=%q, want uid=%v username=%q", u.user, st.Uid, st.Username, u.uid, u.username)
		}
		if st.Pinned {
			t.Errorf("%s reported pinned", ref)
		}
	}
	pull(t, d, reg.Host+"/pause:3.10")
	if st := imageStatus(t, d, reg.Host+"/pause:3.10"); !st.GetPinned() {
		t.Errorf("sandbox image not pinned: %v", st)
	}
	fs, err := d.Images.ImageFsInfo(d.Ctx(), &runtime.ImageFsInfoRequest{})
	if err != nil || len(fs.ImageFilesystems) != 1 {
		t.Fatalf("ImageFsInfo = %v, %v", fs, err)
	}
	u := fs.ImageFilesystems[0]
	if !strings.HasSuffix(u.FsId.Mountpoint, "io.containerd.snapshotter.v1.overlayfs") || u.Timestamp == 0 {
		t.Errorf("ImageFsInfo = %v", u)
	}
	// The busybox layer alone is over 1 MB unpacked.
	if u.UsedBytes.Value < 1<<20 || u.InodesUsed.Value == 0 {
		t.Errorf("ImageFsInfo after pulls: used %d bytes, %d inodes", u.UsedBytes.Value, u.InodesUsed.Value)
	}
}

func TestMultiPlatformIndexResolvesToThisPlatform(t *testing.T) {
	t.Parallel()
	reg := testrig.StartRegistry(t)
	idx, amd := testrig.BuildIndex(t, testrig.ImageSpec{Labels: map[string]string{"t": "index"}})
	idxDigest := reg.PushIndex(t, "multi:1", idx)
	d := testrig.StartDaemon(t, testrig.DaemonOptions{})
	id := pull(t, d, reg.Host+"/multi:1")
	want, _ := amd.ConfigName()
	if id != want.String() {
		t.Fatalf("pulled %s, want the amd64 config %s", id, want)
	}
	st := imageStatus(t, d, reg.Host+"/multi:1")
	if !slices.Equal(st.RepoDigests, []string{reg.Host + "/multi@" + idxDigest}) {
		t.Fatalf("repo digests %v, want the index digest %s", st.RepoDigests, idxDigest)
	}
	// Pull by digest: no tags, the digest as repo digest, same ID.
	byDigest := reg.Host + "/multi@" + idxDigest
	removeImage(t, d, id)
	if got := pull(t, d, byDigest); got != id {
		t.Fatalf("pull by digest: %s, want %s", got, id)
	}
	st = imageStatus(t, d, byDigest)
	if len(st.RepoTags) != 0 || !slices.Equal(st.RepoDigests, []string{byDigest}) {
		t.Fatalf("status after pull by digest = %v", st)
	}
}

// cricketd keeps its image catalog between changes, and sees changes
// another client of its containerd makes: a tag added is found at once
// (a lookup that misses lists again), a tag moved and a record deleted
// show in ListImages and ImageStatus within the time an event takes.
func TestImagesChangedByAnotherClient(t *testing.T) {
	t.Parallel()
	reg := testrig.StartRegistry(t)
	a := testrig.BuildImage(t, testrig.ImageSpec{Labels: map[string]string{"t": "other-client-a"}})
	b := testrig.BuildImage(t, testrig.ImageSpec{Labels: map[string]string{"t": "other-client-b"}})
	reg.Push(t, "alpha:1", a)
	reg.Push(t, "beta:1", b)
	d := testrig.StartDaemon(t, testrig.DaemonOptions{})
	idA, idB := pull(t, d, reg.Host+"/alpha:1"), pull(t, d, reg.Host+"/beta:1")
	c, err := client.New(d.Config.Containerd.Address, client.WithDefaultNamespace(d.Config.Containerd.Namespace))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	store := c.ImageService()
	recA, err := store.Get(d.Ctx(), reg.Host+"/alpha:1")
	if err != nil {
		t.Fatal(err)
	}
	recB, err := store.Get(d.Ctx(), reg.Host+"/beta:1")
	if err != nil {
		t.Fatal(err)
	}
	listImages(t, d, "") // the catalog is kept from here

	// A new tag is found by the very next lookup.
	alias := reg.Host + "/alias:1"
	if _, err := store.Create(d.Ctx(), images.Image{Name: alias, Target: recA.Target}); err != nil {
		t.Fatal(err)
	}
	if st := imageStatus(t, d, alias); st.GetId() != idA {
		t.Fatalf("ImageStatus(%s) right after another client tagged it = %v, want %s", alias, st, idA)
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not seen within 5s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The tag moves to the other image.
	if _, err := store.Update(d.Ctx(), images.Image{Name: alias, Target: recB.Target}, "target"); err != nil {
		t.Fatal(err)
	}
	eventually("tag moved by another client", func() bool { return imageStatus(t, d, alias).GetId() == idB })
	// The tag is deleted.
	if err := store.Delete(d.Ctx(), alias); err != nil {
		t.Fatal(err)
	}
	eventually("tag deleted by another client", func() bool {
		for _, img := range listImages(t, d, "") {
			if slices.Contains(img.RepoTags, alias) {
				return false
			}
		}
		return imageStatus(t, d, alias) == nil
	})
}
