package bench

// Sampling the Temporal server's CPU during a phase with Linux perf: the
// server's own profile shows where a signal's milliseconds go on its side
// (the bench's per-signal cost table only shows what was written).

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
)

// phaseFile names a phase's output file in dir.
func phaseFile(dir, phase, ext string) string {
	return filepath.Join(dir, strings.Map(func(r rune) rune {
		if r == ' ' || r == ',' || r == '/' || r == '(' || r == ')' || r == ':' {
			return '_'
		}
		return r
	}, phase)+ext)
}

// startProfile writes a Go CPU profile of this process (bridge, worker,
// kfake and the harness) into dir/<phase>.pprof until the returned function
// is called; with no dir it does nothing.
func startProfile(dir, phase string) (stop func()) {
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(phaseFile(dir, phase, ".pprof"))
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// startPerf samples pid into dir/<phase>.perf until the returned function
// is called; with no dir, or no perf on the machine, it does nothing.
func startPerf(dir, phase string, pid int) (stop func()) {
	if dir == "" || pid <= 0 {
		return func() {}
	}
	cmd := exec.Command("perf", "record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", phaseFile(dir, phase, ".perf"))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return func() {}
	}
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}
}
