package schemas

import (
	"encoding/hex"
	"hash/fnv"
)

// ValidTraceParent reports whether s is a W3C traceparent of version 00:
// "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>", ids not all zero.
func ValidTraceParent(s string) bool {
	if len(s) != 55 || s[:3] != "00-" || s[35] != '-' || s[52] != '-' {
		return false
	}
	trace, span, flags := s[3:35], s[36:52], s[53:55]
	return isLowerHex(trace) && isLowerHex(span) && isLowerHex(flags) &&
		trace != "00000000000000000000000000000000" && span != "0000000000000000"
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ChildTraceParent returns a traceparent for a span that is a child of
// parent, with a span id derived from spanSeed. It is deterministic (workflow
// code calls it, and a replay must compute the same value). When parent is
// not a valid traceparent, the trace id is derived from traceSeed, so every
// milestone of one entity run without an incoming trace shares a trace.
func ChildTraceParent(parent, traceSeed, spanSeed string) string {
	trace, flags := "", "01"
	if ValidTraceParent(parent) {
		trace, flags = parent[3:35], parent[53:55]
	} else {
		trace = hashHex(traceSeed, 16)
	}
	return "00-" + trace + "-" + hashHex(spanSeed, 8) + "-" + flags
}

// hashHex returns n bytes of FNV-1a hashes of seed as hex, never all zero.
func hashHex(seed string, n int) string {
	out := make([]byte, 0, n)
	for i := byte(0); len(out) < n; i++ {
		h := fnv.New64a()
		h.Write([]byte{i})
		h.Write([]byte(seed))
		out = h.Sum(out)
	}
	out = out[:n]
	out[n-1] |= 1 // never all zero
	return hex.EncodeToString(out)
}
