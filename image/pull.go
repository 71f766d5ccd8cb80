package image

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/remotes/docker/config"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"golang.org/x/sync/semaphore"

	"github.com/cricket-cri/cricket/internal/lease"
	"github.com/cricket-cri/cricket/internal/steps"
	"github.com/cricket-cri/cricket/internal/testhold"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Pull fetches ref for the default platform, unpacks it into the configured
// snapshotter and returns the image ID. Concurrent pulls of one reference
// share a single pull.
func (s *Service) Pull(ctx context.Context, ref string, auth *Auth) (string, error) {
	named, err := ParseRef(ref)
	if err != nil {
		return "", err
	}
	return s.pulls.do(ctx, named.String(), func(ctx context.Context) (string, error) {
		testhold.At(ctx, "PullImage")
		return s.pull(ctx, named, auth)
	})
}

func (s *Service) pull(ctx context.Context, named reference.Named, auth *Auth) (_ string, retErr error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	tracker := newProgressTracker(s.opts.PullProgressTimeout)
	go tracker.watch(ctx, cancel)
	start := time.Now()
	defer func() {
		if s.opts.OnPull != nil {
			tracker.mu.Lock()
			n := tracker.bytes
			tracker.mu.Unlock()
			s.opts.OnPull(n, time.Since(start), retErr)
		}
	}()

	name := named.String()
	ctx, done, err := lease.With(ctx, s.client)
	if err != nil {
		return "", err
	}
	defer done()
	maxDownloads := s.opts.Config.Get().MaxConcurrentDownloads
	resolver := s.resolver(ctx, named, auth, tracker)
	t := steps.Start("PullImage")
	img, err := s.fetchAndUnpack(ctx, name, resolver, tracker, maxDownloads, t)
	if errors.Is(err, errNotUnpacked) {
		// Not an image the streaming unpack knows: containerd's pull.
		s.opts.Log.Debug("nothing to unpack from the stream, pulling with containerd's client", "image", name)
		var cimg client.Image
		cimg, err = s.client.Pull(ctx, name,
			client.WithPullUnpack,
			client.WithPullSnapshotter(s.opts.Snapshotter),
			client.WithPlatformMatcher(s.platform),
			client.WithResolver(resolver),
			client.WithDownloadLimiter(semaphore.NewWeighted(int64(maxDownloads))),
		)
		if err == nil {
			img = cimg.Metadata()
		}
	} else if err == nil {
		err = s.putRecord(ctx, img.Name, img.Target)
	}
	if err != nil {
		if cause := context.Cause(ctx); ctx.Err() != nil && cause != nil {
			err = cause
		}
		return "", pullError(name, err)
	}
	ci, err := s.content.get(ctx, img.Target)
	if err != nil {
		return "", err
	}
	id := ci.configDesc.Digest.String()
	// The ID record keeps the image (and its content) alive, addressable by
	// ID, when all its tags have moved on to other images.
	if err := s.putRecord(ctx, id, img.Target); err != nil {
		return "", err
	}
	t.Step("records")
	t.Done(s.opts.Log, "image", name)
	tracker.mu.Lock()
	n := tracker.bytes
	tracker.mu.Unlock()
	s.opts.Log.Info("image pulled", "image", name, "id", id, "bytes", n, "duration", time.Since(start).Round(time.Millisecond))
	return id, nil
}

// putRecord creates or updates the image record name -> target.
func (s *Service) putRecord(ctx context.Context, name string, target ocispec.Descriptor) error {
	// The pull's caller looks the image up next.
	defer s.cache.invalidate()
	store := s.client.ImageService()
	rec := images.Image{Name: name, Target: target}
	if _, err := store.Create(ctx, rec); err == nil || !errdefs.IsAlreadyExists(err) {
		return err
	}
	_, err := store.Update(ctx, rec, "target")
	return err
}

// resolver builds the registry resolver for one pull: hosts from the
// hosts.toml directory, the request's credentials, and progress tracking on
// every HTTP client.
func (s *Service) resolver(ctx context.Context, named reference.Named, auth *Auth, tracker *progressTracker) remotes.Resolver {
	refHost := reference.Domain(named)
	hosts := config.ConfigureHosts(ctx, config.HostOptions{
		// Read per pull: a reload's new directory applies from the
		// next pull on.
		HostDir: config.HostDirFromRoot(s.opts.Config.Get().Registry.ConfigPath),
		Credentials: func(host string) (string, string, error) {
			return auth.credentials(refHost, host)
		},
		UpdateClient: func(c *http.Client) error {
			c.Transport = tracker.wrap(c.Transport)
			return nil
		},
	})
	headers := http.Header{}
	if auth != nil && auth.RegistryToken != "" {
		headers.Set("Authorization", "Bearer "+auth.RegistryToken)
	}
	return docker.NewResolver(docker.ResolverOptions{Hosts: hosts, Headers: headers})
}

// pullError gives registry failures the errdefs class the CRI maps to a
// gRPC code, keeping containerd's message.
func pullError(name string, err error) error {
	var status remoteerrors.ErrUnexpectedStatus
	switch {
	case errors.Is(err, docker.ErrInvalidAuthorization):
		err = fmt.Errorf("%w: %w", err, errdefs.ErrUnauthenticated)
	case errors.As(err, &status) && status.StatusCode == http.StatusUnauthorized:
		err = fmt.Errorf("%w: %w", err, errdefs.ErrUnauthenticated)
	case errors.As(err, &status) && status.StatusCode == http.StatusForbidden:
		err = fmt.Errorf("%w: %w", err, errdefs.ErrPermissionDenied)
	}
	return fmt.Errorf("pull image %q: %w", name, err)
}
