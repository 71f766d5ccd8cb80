package image

import (
	"encoding/base64"
	"testing"
)

func TestCredentials(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte("u:p:with:colons"))
	for _, tc := range []struct {
		name             string
		auth             *Auth
		refHost, host    string
		wantUser, wantPw string
	}{
		{"none", nil, "r.io", "r.io", "", ""},
		{"user/pass everywhere", &Auth{Username: "u", Password: "p"}, "r.io", "mirror.io", "u", "p"},
		{"auth field", &Auth{Auth: b64}, "r.io", "r.io", "u", "p:with:colons"},
		{"identity token as refresh token", &Auth{IdentityToken: "tok", Username: "u"}, "r.io", "r.io", "", "tok"},
		{"server matches ref host", &Auth{Username: "u", Password: "p", ServerAddress: "https://r.io/v1/"}, "r.io", "mirror.io", "u", "p"},
		{"server matches mirror", &Auth{Username: "u", Password: "p", ServerAddress: "mirror.io"}, "r.io", "mirror.io", "u", "p"},
		{"server elsewhere", &Auth{Username: "u", Password: "p", ServerAddress: "other.io"}, "r.io", "r.io", "", ""},
		{"docker hub aliases", &Auth{Username: "u", Password: "p", ServerAddress: "https://index.docker.io/v1/"}, "docker.io", "registry-1.docker.io", "u", "p"},
	} {
		u, p, err := tc.auth.credentials(tc.refHost, tc.host)
		if err != nil || u != tc.wantUser || p != tc.wantPw {
			t.Errorf("%s: got %q %q %v, want %q %q", tc.name, u, p, err, tc.wantUser, tc.wantPw)
		}
	}
	if _, _, err := (&Auth{Auth: "!!notbase64"}).credentials("r", "r"); err == nil {
		t.Error("malformed auth field accepted")
	}
}
