package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// validate checks the [tracing] table. The endpoint is a bare host:port
// (what the OTLP gRPC exporter dials), not a URL: a scheme or a path is a
// mistake worth stopping for rather than an exporter that never connects.
func (t Tracing) validate() error {
	if !(t.SamplingRatio >= 0 && t.SamplingRatio <= 1) { // also rejects NaN
		return fmt.Errorf("tracing.sampling_ratio %v: want a number from 0 to 1", t.SamplingRatio)
	}
	if t.ServiceName == "" {
		return fmt.Errorf("tracing.service_name must not be empty")
	}
	if t.Endpoint == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(t.Endpoint)
	if err != nil {
		return fmt.Errorf("tracing.endpoint %q: want host:port of an OTLP gRPC collector (such as 127.0.0.1:4317): %v", t.Endpoint, err)
	}
	if n, err := strconv.Atoi(port); host == "" || strings.ContainsAny(host, "/ ") || err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("tracing.endpoint %q: want host:port of an OTLP gRPC collector (such as 127.0.0.1:4317) with a port from 1 to 65535", t.Endpoint)
	}
	return nil
}
