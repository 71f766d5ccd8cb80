// Command kubelet is the kubelet of the kubelet end-to-end suite: the
// upstream kubelet, built from the k8s.io/kubernetes module at the version
// this module pins. It lives in its own module so that cricket's go.mod
// does not carry kubelet's dependencies. The binary is a test tool and is
// never committed (the suite builds it into the Go build cache's
// neighbourhood, see test/kubelet/kubelet_test.go).
package main

import (
	"context"
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kubelet/app"
)

func main() {
	os.Exit(cli.Run(app.NewKubeletCommand(context.Background())))
}
