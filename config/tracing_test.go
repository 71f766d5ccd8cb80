package config

import (
	"math"
	"strings"
	"testing"
)

func TestTracingOffByDefault(t *testing.T) {
	c := Default()
	if c.Tracing.Endpoint != "" {
		t.Fatalf("tracing.endpoint defaults to %q, want empty (off)", c.Tracing.Endpoint)
	}
	if c.Tracing.SamplingRatio != 1 || c.Tracing.ServiceName != "cricket" {
		t.Fatalf("tracing defaults = %+v", c.Tracing)
	}
}

func TestTracingValidation(t *testing.T) {
	for name, tc := range map[string]struct {
		mut  func(*Tracing)
		want string // "" = valid; otherwise in the error
	}{
		"ip and port":     {func(tr *Tracing) { tr.Endpoint = "127.0.0.1:4317" }, ""},
		"name and port":   {func(tr *Tracing) { tr.Endpoint = "collector.local:4317" }, ""},
		"ipv6":            {func(tr *Tracing) { tr.Endpoint = "[::1]:4317" }, ""},
		"ratio bounds":    {func(tr *Tracing) { tr.SamplingRatio = 0 }, ""},
		"url":             {func(tr *Tracing) { tr.Endpoint = "http://127.0.0.1:4317" }, "tracing.endpoint"},
		"no port":         {func(tr *Tracing) { tr.Endpoint = "127.0.0.1" }, "tracing.endpoint"},
		"no host":         {func(tr *Tracing) { tr.Endpoint = ":4317" }, "tracing.endpoint"},
		"port zero":       {func(tr *Tracing) { tr.Endpoint = "127.0.0.1:0" }, "tracing.endpoint"},
		"named port":      {func(tr *Tracing) { tr.Endpoint = "127.0.0.1:otlp" }, "tracing.endpoint"},
		"path":            {func(tr *Tracing) { tr.Endpoint = "collector/v1:4317" }, "tracing.endpoint"},
		"ratio above one": {func(tr *Tracing) { tr.SamplingRatio = 1.5 }, "tracing.sampling_ratio"},
		"negative ratio":  {func(tr *Tracing) { tr.SamplingRatio = -0.1 }, "tracing.sampling_ratio"},
		"NaN ratio":       {func(tr *Tracing) { tr.SamplingRatio = math.NaN() }, "tracing.sampling_ratio"},
		"no service name": {func(tr *Tracing) { tr.ServiceName = "" }, "tracing.service_name"},
	} {
		t.Run(name, func(t *testing.T) {
			c := Default()
			tc.mut(&c.Tracing)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want it to name %s", err, tc.want)
			}
		})
	}
}

func TestTracingFromFile(t *testing.T) {
	cfg, err := Load(write(t, "[tracing]\nendpoint = \"127.0.0.1:4317\"\nsampling_ratio = 0.25\ninsecure = true\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Tracing{Endpoint: "127.0.0.1:4317", SamplingRatio: 0.25, ServiceName: "cricket", Insecure: true}
	if cfg.Tracing != want {
		t.Fatalf("tracing = %+v, want %+v", cfg.Tracing, want)
	}
}
