package cri

import (
	"context"
	"path"
	"strings"

	"google.golang.org/grpc"
)

// ungated RPCs answer before state recovery: they do not read pods or
// containers.
var ungated = map[string]bool{
	"Version": true, "Status": true, "RuntimeConfig": true, "UpdateRuntimeConfig": true,
}

// gated reports whether method must wait for recovery: every
// RuntimeService call except the ungated ones (image calls go straight to
// containerd).
func gated(method string) bool {
	return strings.Contains(method, ".RuntimeService/") && !ungated[path.Base(method)]
}

func (s *Server) gateUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if s.Recovered != nil && gated(info.FullMethod) {
		if err := s.Recovered(); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

func (s *Server) gateStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if s.Recovered != nil && gated(info.FullMethod) {
		if err := s.Recovered(); err != nil {
			return err
		}
	}
	return handler(srv, ss)
}
