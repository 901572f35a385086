package bench

// Sampling the Temporal server's CPU during a phase with Linux perf: the
// server's own profile shows where a signal's milliseconds go on its side
// (the bench's per-signal cost table only shows what was written).

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// startPerf samples pid into dir/<phase>.perf until the returned function
// is called; with no dir, or no perf on the machine, it does nothing.
func startPerf(dir, phase string, pid int) (stop func()) {
	if dir == "" || pid <= 0 {
		return func() {}
	}
	name := strings.Map(func(r rune) rune {
		if r == ' ' || r == ',' || r == '/' || r == '(' || r == ')' || r == ':' {
			return '_'
		}
		return r
	}, phase)
	cmd := exec.Command("perf", "record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", filepath.Join(dir, name+".perf"))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return func() {}
	}
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}
}
