package testrig

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Credentials the auth-protected endpoints accept.
const (
	RegistryUser     = "cricket"
	RegistryPassword = "s3cret-pw"
	// IdentityToken is an OAuth2 refresh token the token server accepts.
	IdentityToken = "identity-token-1"
	// RegistryToken is a bearer token the token-protected endpoint accepts
	// as is.
	RegistryToken = "registry-token-1"
)

// Registry is an OCI registry served in the test process over plain HTTP on
// 127.0.0.1, with three front doors onto the same storage: open, basic-auth
// and bearer-token protected.
type Registry struct {
	Host      string // open
	AuthHost  string // HTTP basic auth
	TokenHost string // bearer tokens from its own /token endpoint

	mu      sync.Mutex
	gets    map[string]int  // "GET path" -> count, on every front door
	stalled map[string]bool // blob digests whose download hangs midway
	failed  map[string]bool // blob digests whose download breaks midway
}

// StartRegistry starts a registry that lives until the test ends.
func StartRegistry(tb testing.TB) *Registry {
	tb.Helper()
	r := &Registry{gets: map[string]int{}, stalled: map[string]bool{}, failed: map[string]bool{}}
	store := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	inner := r.observe(store)

	open := httptest.NewServer(inner)
	basic := httptest.NewServer(r.basicAuth(inner))
	var token *httptest.Server
	token = httptest.NewServer(r.tokenAuth(inner, func() string { return token.URL }))
	tb.Cleanup(func() {
		// Stalled handlers wait for their clients; close clients first.
		open.CloseClientConnections()
		basic.CloseClientConnections()
		token.CloseClientConnections()
		open.Close()
		basic.Close()
		token.Close()
	})
	r.Host = strings.TrimPrefix(open.URL, "http://")
	r.AuthHost = strings.TrimPrefix(basic.URL, "http://")
	r.TokenHost = strings.TrimPrefix(token.URL, "http://")
	return r
}

// Push stores img as repoTag ("repo:tag", relative to the registry) and
// returns the manifest digest.
func (r *Registry) Push(tb testing.TB, repoTag string, img v1.Image) string {
	tb.Helper()
	ref, err := name.ParseReference(r.Host+"/"+repoTag, name.Insecure)
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		tb.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	return d.String()
}

// PushIndex stores an image index as repoTag and returns its digest.
func (r *Registry) PushIndex(tb testing.TB, repoTag string, idx v1.ImageIndex) string {
	tb.Helper()
	ref, err := name.ParseReference(r.Host+"/"+repoTag, name.Insecure)
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		tb.Fatalf("push %s: %v", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	return d.String()
}

// Gets returns how often path (e.g. "/v2/busybox/manifests/1") was fetched.
func (r *Registry) Gets(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gets["GET "+path] + r.gets["HEAD "+path]
}

// BlobGets returns how often the blob was downloaded (GET), from any
// repository.
func (r *Registry) BlobGets(digest string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for k, v := range r.gets {
		if strings.HasPrefix(k, "GET ") && strings.HasSuffix(k, "/blobs/"+digest) {
			n += v
		}
	}
	return n
}

// FailBlob makes downloads of the blob send half of it and then break the
// connection; fail=false serves it whole again.
func (r *Registry) FailBlob(digest string, fail bool) {
	r.mu.Lock()
	r.failed[digest] = fail
	r.mu.Unlock()
}

// StallBlob makes downloads of the blob send half of it and then hang until
// the client goes away.
func (r *Registry) StallBlob(digest string) {
	r.mu.Lock()
	r.stalled[digest] = true
	r.mu.Unlock()
}

func (r *Registry) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.gets[req.Method+" "+req.URL.Path]++
		stall, fail := false, false
		if i := strings.LastIndex(req.URL.Path, "/blobs/"); i >= 0 && req.Method == http.MethodGet {
			stall = r.stalled[req.URL.Path[i+len("/blobs/"):]]
			fail = r.failed[req.URL.Path[i+len("/blobs/"):]]
		}
		r.mu.Unlock()
		if !stall && !fail {
			next.ServeHTTP(w, req)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		if fail {
			// Breaks the connection: the client sees the body end
			// early.
			panic(http.ErrAbortHandler)
		}
		<-req.Context().Done()
	})
}

func (r *Registry) basicAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, p, ok := req.BasicAuth(); ok && u == RegistryUser && p == RegistryPassword {
			next.ServeHTTP(w, req)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="cricket-test"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
	})
}

// tokenAuth implements the registry token protocol: the registry answers
// 401 with a Bearer challenge; /token hands out tokens for basic
// credentials (GET) or for a refresh token (POST, OAuth2).
func (r *Registry) tokenAuth(next http.Handler, self func() string) http.Handler {
	const fromPassword, fromRefresh = "token-from-password", "token-from-refresh"
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/token" {
			var token string
			switch req.Method {
			case http.MethodGet:
				if u, p, ok := req.BasicAuth(); ok && u == RegistryUser && p == RegistryPassword {
					token = fromPassword
				}
			case http.MethodPost:
				if req.ParseForm() == nil && req.PostForm.Get("grant_type") == "refresh_token" &&
					req.PostForm.Get("refresh_token") == IdentityToken {
					token = fromRefresh
				}
			}
			if token == "" {
				http.Error(w, "bad credentials", http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"token": token, "access_token": token, "expires_in": 300})
			return
		}
		switch req.Header.Get("Authorization") {
		case "Bearer " + fromPassword, "Bearer " + fromRefresh, "Bearer " + RegistryToken:
			next.ServeHTTP(w, req)
			return
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="cricket-test"`, self()))
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}`, http.StatusUnauthorized)
	})
}
