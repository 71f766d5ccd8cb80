// Command cricketd is the cricket CRI runtime daemon.
package main

import (
	"os"

	"github.com/cricket-cri/cricket/daemon"
)

func main() { os.Exit(daemon.Main(os.Args[1:], os.Stderr)) }
