package sandbox

import (
	"os"
	"testing"
)

func TestProcStatReadsStateAndParent(t *testing.T) {
	state, ppid, ok := procStat(os.Getpid())
	if !ok || ppid != os.Getppid() || (state != 'R' && state != 'S') {
		t.Fatalf("procStat(self) = %c, %d, %v; want running or sleeping, parent %d", state, ppid, ok, os.Getppid())
	}
	if parentPID(os.Getpid()) != os.Getppid() || isZombie(os.Getpid()) {
		t.Error("parentPID or isZombie disagree with procStat")
	}
	if _, _, ok := procStat(1 << 30); ok {
		t.Error("a process that cannot exist was read")
	}
}
