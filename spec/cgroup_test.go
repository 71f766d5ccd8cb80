package spec

import "testing"

func TestCgroupPaths(t *testing.T) {
	for _, tc := range []struct {
		parent  string
		systemd bool
		want    string
		fs      string
	}{
		{"", false, "/cricket/id1", "/cricket/id1"},
		{"/kubepods/besteffort/pod1", false, "/kubepods/besteffort/pod1/id1", "/kubepods/besteffort/pod1/id1"},
		{"kubepods-besteffort-pod1.slice", true, "kubepods-besteffort-pod1.slice:cri-cricket:id1",
			"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-cricket-id1.scope"},
		{"", true, "system.slice:cri-cricket:id1", "/system.slice/cri-cricket-id1.scope"},
	} {
		got := CgroupsPath(tc.parent, "id1", tc.systemd)
		if got != tc.want {
			t.Errorf("CgroupsPath(%q, %v) = %q, want %q", tc.parent, tc.systemd, got, tc.want)
		}
		if fs := CgroupFSPath(got); fs != tc.fs {
			t.Errorf("CgroupFSPath(%q) = %q, want %q", got, fs, tc.fs)
		}
	}
}
