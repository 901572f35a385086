package schemas

import "testing"

func TestChildTraceParent(t *testing.T) {
	parent := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	c1 := ChildTraceParent(parent, "wf", "wf#1")
	c2 := ChildTraceParent(parent, "wf", "wf#2")
	if !ValidTraceParent(c1) || c1[3:35] != parent[3:35] || c1 == c2 || c1[36:52] == parent[36:52] {
		t.Fatalf("children %q %q of %q: want valid, same trace, distinct new spans", c1, c2, parent)
	}
	if ChildTraceParent(parent, "wf", "wf#1") != c1 {
		t.Fatal("not deterministic: workflow replays would differ")
	}
	orphan := ChildTraceParent("garbage", "wf-a", "wf-a#1")
	if !ValidTraceParent(orphan) || orphan[3:35] != ChildTraceParent("", "wf-a", "wf-a#9")[3:35] ||
		orphan[3:35] == ChildTraceParent("", "wf-b", "wf-b#1")[3:35] {
		t.Fatalf("without a parent: %q: want one trace per workflow", orphan)
	}
	for _, bad := range []string{"", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"} {
		if ValidTraceParent(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}
