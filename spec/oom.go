package spec

import (
	"bufio"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
)

// capSysResource is the bit of CAP_SYS_RESOURCE in /proc/self/status CapEff.
const capSysResource = 24

// OOMScore clamps oom_score_adj values the daemon cannot grant. Lowering a
// process's oom_score_adj below its parent's needs CAP_SYS_RESOURCE; without
// it runc fails obscurely ("can't get final child's PID from pipe: EOF"),
// so cricket raises such values to its own score and says so once.
type OOMScore struct {
	floor    int
	canLower bool
	log      *slog.Logger
	warn     sync.Once
}

// NewOOMScore reads the daemon's own oom_score_adj and capabilities.
func NewOOMScore(log *slog.Logger) *OOMScore {
	if log == nil {
		log = slog.Default()
	}
	o := &OOMScore{log: log, canLower: true}
	if b, err := os.ReadFile("/proc/self/oom_score_adj"); err == nil {
		o.floor, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if capEff, ok := readCapEff(); ok {
		o.canLower = capEff&(1<<capSysResource) != 0
	}
	return o
}

// Adjust returns the oom_score_adj to use for a requested value.
func (o *OOMScore) Adjust(v int) int {
	if o.canLower || v >= o.floor {
		return v
	}
	o.warn.Do(func() {
		o.log.Warn("cricketd lacks CAP_SYS_RESOURCE: oom_score_adj values below its own are raised to it",
			"floor", o.floor, "example_requested", v)
	})
	return o.floor
}

func readCapEff() (uint64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n, err == nil
		}
	}
	return 0, false
}
