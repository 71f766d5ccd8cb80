package image

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"github.com/containerd/errdefs"
)

// Auth holds the registry credentials of one pull request (the fields of the
// CRI AuthConfig). Credentials are never logged.
type Auth struct {
	Username      string
	Password      string
	Auth          string // base64("username:password")
	ServerAddress string
	IdentityToken string // OAuth2 refresh token
	RegistryToken string // bearer token sent to the registry as is
}

// empty reports whether no credential is set.
func (a *Auth) empty() bool {
	return a == nil || (a.Username == "" && a.Password == "" && a.Auth == "" && a.IdentityToken == "" && a.RegistryToken == "")
}

// credentials returns the username and secret for one registry host.
// An identity token is returned as a secret with an empty username, which
// containerd's authorizer exchanges as an OAuth2 refresh token.
func (a *Auth) credentials(refHost, host string) (string, string, error) {
	if a.empty() || !a.appliesTo(refHost, host) {
		return "", "", nil
	}
	if a.IdentityToken != "" {
		return "", a.IdentityToken, nil
	}
	if a.Username != "" || a.Password != "" {
		return a.Username, a.Password, nil
	}
	if a.Auth != "" {
		raw, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil {
			return "", "", fmt.Errorf("auth config: auth is not base64: %w", errdefs.ErrInvalidArgument)
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return "", "", fmt.Errorf("auth config: auth is not base64(username:password): %w", errdefs.ErrInvalidArgument)
		}
		return user, pass, nil
	}
	return "", "", nil
}

// appliesTo reports whether the credentials are meant for host, which serves
// the image whose reference names refHost (host differs for mirrors). With no
// server address the credentials apply to every host of the pull, as in
// kubelet's and containerd's behaviour.
func (a *Auth) appliesTo(refHost, host string) bool {
	if a.ServerAddress == "" {
		return true
	}
	server := a.ServerAddress
	if u, err := url.Parse(server); err == nil && u.Host != "" {
		server = u.Host
	}
	server = canonicalHost(server)
	return server == canonicalHost(refHost) || server == canonicalHost(host)
}

// canonicalHost folds Docker Hub's aliases together.
func canonicalHost(h string) string {
	switch h {
	case "index.docker.io", "registry-1.docker.io":
		return "docker.io"
	}
	return h
}
