package integration

import (
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/testrig"
)

// mirrorHosts returns a hosts.toml that sends pulls for a registry to the
// test registry; the upstream server is a closed loopback port, so a pull
// can only succeed through the mirror.
func mirrorHosts(reg *testrig.Registry) string {
	return fmt.Sprintf(`server = "http://127.0.0.1:1"

[host."http://%s"]
  capabilities = ["pull", "resolve"]
`, reg.Host)
}

func pull(t *testing.T, d *testrig.Daemon, ref string) string {
	t.Helper()
	resp, err := d.Images.PullImage(d.Ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: ref}})
	if err != nil {
		t.Fatalf("PullImage(%s): %v", ref, err)
	}
	return resp.ImageRef
}

func imageStatus(t *testing.T, d *testrig.Daemon, ref string) *runtime.Image {
	t.Helper()
	resp, err := d.Images.ImageStatus(d.Ctx(), &runtime.ImageStatusRequest{Image: &runtime.ImageSpec{Image: ref}})
	if err != nil {
		t.Fatalf("ImageStatus(%s): %v", ref, err)
	}
	return resp.Image
}

func removeImage(t *testing.T, d *testrig.Daemon, ref string) {
	t.Helper()
	if _, err := d.Images.RemoveImage(d.Ctx(), &runtime.RemoveImageRequest{Image: &runtime.ImageSpec{Image: ref}}); err != nil {
		t.Fatalf("RemoveImage(%s): %v", ref, err)
	}
}

func listImages(t *testing.T, d *testrig.Daemon, filter string) []*runtime.Image {
	t.Helper()
	req := &runtime.ListImagesRequest{}
	if filter != "" {
		req.Filter = &runtime.ImageFilter{Image: &runtime.ImageSpec{Image: filter}}
	}
	resp, err := d.Images.ListImages(d.Ctx(), req)
	if err != nil {
		t.Fatalf("ListImages: %v", err)
	}
	return resp.Images
}

func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v, want code %s", err, code)
	}
}

func codeOf(err error) codes.Code { return status.Code(err) }
