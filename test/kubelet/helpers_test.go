package kubelet

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cricket-cri/cricket/crilog"
)

// staticPod is a pod of one container running script under sh.
func staticPod(name, image, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"suite": "kubelet", "scenario": name}},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{{Name: "main", Image: image, Command: []string{"sh", "-c", script}}},
			TerminationGracePeriodSeconds: ptr(int64(5)),
		},
	}
}

func ptr[T any](v T) *T { return &v }

// hostDir mounts a host directory the test reads at path.
func hostDir(pod *corev1.Pod, host, path string) {
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: host, Type: ptr(corev1.HostPathDirectoryOrCreate)}}})
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].VolumeMounts = append(pod.Spec.Containers[i].VolumeMounts, corev1.VolumeMount{Name: "host", MountPath: path})
	}
}

// emptyDir adds an emptyDir volume mounted at path in every container and
// init container.
func emptyDir(pod *corev1.Pod, path string) {
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	m := corev1.VolumeMount{Name: "data", MountPath: path}
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].VolumeMounts = append(pod.Spec.Containers[i].VolumeMounts, m)
	}
	for i := range pod.Spec.InitContainers {
		pod.Spec.InitContainers[i].VolumeMounts = append(pod.Spec.InitContainers[i].VolumeMounts, m)
	}
}

func memoryLimit(c *corev1.Container, q string) {
	c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(q)}
}

// status of the named container (or init container) of a pod.
func containerStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, l := range [][]corev1.ContainerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses} {
		for i := range l {
			if l[i].Name == name {
				return &l[i]
			}
		}
	}
	return nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func running(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) == 0 {
		return false
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Running == nil {
			return false
		}
	}
	return true
}

func terminated(p *corev1.Pod, name string) *corev1.ContainerStateTerminated {
	if cs := containerStatus(p, name); cs != nil {
		return cs.State.Terminated
	}
	return nil
}

// containerLogLines reads every log file kubelet keeps for a container
// attempt (the current one, the rotated ones and the compressed ones), in
// the order they were written, and returns the stdout lines.
func containerLogLines(t *testing.T, dir string) (lines []string, files int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// 0.log.<timestamp>[.gz] sort by their timestamps; 0.log is the newest.
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "0.log.") && !strings.HasSuffix(e.Name(), ".tmp") {
			names = append(names, e.Name())
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		return strings.Compare(strings.TrimSuffix(a, ".gz"), strings.TrimSuffix(b, ".gz"))
	})
	names = append(names, "0.log")
	var data bytes.Buffer
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = f
		if strings.HasSuffix(n, ".gz") {
			if r, err = gzip.NewReader(f); err != nil {
				t.Fatalf("%s: %v", n, err)
			}
		}
		if _, err := io.Copy(&data, r); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		f.Close()
	}
	recs, err := crilog.ParseRecords(data.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	partial := ""
	for _, r := range recs {
		if r.Stream != crilog.Stdout {
			continue
		}
		partial += r.Content
		if !r.Partial {
			lines = append(lines, partial)
			partial = ""
		}
	}
	return lines, len(names)
}
