package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				Volumes []struct {
					Name   string `yaml:"name"`
					Secret *struct {
						SecretName string `yaml:"secretName"`
					} `yaml:"secret"`
				} `yaml:"volumes"`
				Containers []struct {
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
					Image   string   `yaml:"image"`
					Args    []string `yaml:"args"`
					EnvFrom []struct {
						ConfigMapRef *struct{ Name string } `yaml:"configMapRef"`
						SecretRef    *struct{ Name string } `yaml:"secretRef"`
					} `yaml:"envFrom"`
					Ports []struct {
						Name          string `yaml:"name"`
						ContainerPort int    `yaml:"containerPort"`
					} `yaml:"ports"`
					ReadinessProbe *struct {
						HTTPGet struct {
							Path string `yaml:"path"`
							Port string `yaml:"port"`
						} `yaml:"httpGet"`
					} `yaml:"readinessProbe"`
					LivenessProbe *struct {
						HTTPGet struct {
							Path string `yaml:"path"`
							Port string `yaml:"port"`
						} `yaml:"httpGet"`
					} `yaml:"livenessProbe"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
		ScaleTargetRef struct {
			Kind, Name string
		} `yaml:"scaleTargetRef"`
		Metrics []struct {
			External struct {
				Metric struct{ Name string } `yaml:"metric"`
			} `yaml:"external"`
		} `yaml:"metrics"`
	} `yaml:"spec"`
}

// The Kubernetes manifests parse, and everything they reference exists: each
// container runs a real sluice command with real flags from the image the
// Dockerfile builds, reads only SLUICE_* variables the binary reads, probes
// the admin endpoint on the port SLUICE_ADMIN_ADDR opens, and the
// autoscaler, budgets and selectors point at objects that are there. A
// NetworkPolicy fences every sluice pod (see checkNetworkPolicies).
func TestKubernetesManifests(t *testing.T) {
	files, _ := filepath.Glob("../../deploy/k8s/*.yaml")
	var objs []k8sObject
	var services []map[string]string
	var policies []netPolicy
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var n yaml.Node
			err := dec.Decode(&n)
			if errors.Is(err, io.EOF) {
				break
			}
			var o k8sObject
			if err == nil {
				// A Service's selector is a plain map; the rest's is matchLabels.
				var svc struct {
					Kind string `yaml:"kind"`
					Spec struct {
						Selector map[string]string `yaml:"selector"`
						Ports    []struct {
							TargetPort string `yaml:"targetPort"`
						} `yaml:"ports"`
					} `yaml:"spec"`
				}
				var np netPolicy
				if err = n.Decode(&np); err == nil && np.Kind == "NetworkPolicy" {
					policies = append(policies, np)
					continue
				}
				if err = n.Decode(&svc); err == nil && svc.Kind == "Service" {
					services = append(services, svc.Spec.Selector)
					for _, p := range svc.Spec.Ports {
						if p.TargetPort != "admin" {
							t.Errorf("%s: a Service targets port %q; the pods name theirs admin", f, p.TargetPort)
						}
					}
					continue
				}
				err = n.Decode(&o)
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.Kind != "" {
				objs = append(objs, o)
			}
		}
	}
	read := envVarsRead()
	appSrc, _ := os.ReadFile("../../internal/app/metrics.go")
	byKind := map[string]map[string]k8sObject{}
	for _, o := range objs {
		if byKind[o.Kind] == nil {
			byKind[o.Kind] = map[string]k8sObject{}
		}
		byKind[o.Kind][o.Metadata.Name] = o
	}
	cm, ok := byKind["ConfigMap"]["sluice"]
	if !ok {
		t.Fatal("no sluice ConfigMap")
	}
	adminPort := cm.Data["SLUICE_ADMIN_ADDR"][strings.LastIndex(cm.Data["SLUICE_ADMIN_ADDR"], ":")+1:]
	for k := range cm.Data {
		if !read[k] {
			t.Errorf("ConfigMap sluice sets %s, which sluice never reads", k)
		}
	}
	// Secrets are files: every *_FILE path names a key of the Secret under
	// the directory each pod mounts it at.
	secret := byKind["Secret"]["sluice"]
	const secretDir = "/run/secrets/sluice/"
	for k, v := range cm.Data {
		if !strings.HasSuffix(k, "_FILE") {
			continue
		}
		if key, ok := strings.CutPrefix(v, secretDir); !ok || secret.StringData[key] == "" && secret.Data[key] == "" {
			t.Errorf("ConfigMap sets %s=%s, which is not a key of Secret sluice mounted at %s", k, v, secretDir)
		}
	}
	for k := range secret.StringData {
		if strings.HasPrefix(k, "SLUICE_") {
			t.Errorf("Secret sluice holds %s as an environment variable; secrets go in as files", k)
		}
	}
	deployments := 0
	for _, kind := range []string{"Deployment", "Job"} {
		for name, o := range byKind[kind] {
			for _, c := range o.Spec.Template.Spec.Containers {
				if c.Image != "sluice:dev" {
					t.Errorf("%s %s runs image %s, not the one deploy/Dockerfile builds (sluice:dev)", kind, name, c.Image)
				}
				if len(c.Args) == 0 || commands[c.Args[0]].run == nil {
					t.Errorf("%s %s runs `sluice %v`, which does not exist", kind, name, c.Args)
					continue
				}
				for _, a := range c.Args[1:] {
					if strings.HasPrefix(a, "--") && !hasFlag(c.Args[0], strings.TrimPrefix(strings.SplitN(a, "=", 2)[0], "--")) {
						t.Errorf("%s %s passes %s to `sluice %s`, which has no such flag", kind, name, a, c.Args[0])
					}
				}
				mounted := false
				for _, m := range c.VolumeMounts {
					for _, v := range o.Spec.Template.Spec.Volumes {
						if v.Name == m.Name && v.Secret != nil && v.Secret.SecretName == "sluice" && m.MountPath+"/" == secretDir {
							mounted = true
						}
					}
				}
				if !mounted {
					t.Errorf("%s %s does not mount Secret sluice at %s", kind, name, secretDir)
				}
				for _, ef := range c.EnvFrom {
					if ef.ConfigMapRef != nil && byKind["ConfigMap"][ef.ConfigMapRef.Name].Kind == "" ||
						ef.SecretRef != nil && byKind["Secret"][ef.SecretRef.Name].Kind == "" {
						t.Errorf("%s %s takes its environment from a ConfigMap or Secret that is not there", kind, name)
					}
				}
				if kind != "Deployment" {
					continue
				}
				deployments++
				if len(c.Ports) != 1 || c.Ports[0].Name != "admin" || strconv.Itoa(c.Ports[0].ContainerPort) != adminPort {
					t.Errorf("Deployment %s exposes %v; want the admin port %s", name, c.Ports, adminPort)
				}
				if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
					t.Errorf("Deployment %s lacks /readyz and /healthz probes", name)
				}
			}
			if kind == "Deployment" && !subset(o.Spec.Selector.MatchLabels, o.Spec.Template.Metadata.Labels) {
				t.Errorf("Deployment %s: selector does not match its pods", name)
			}
		}
	}
	if deployments != 3 {
		t.Errorf("%d deployments, want bridge, worker and mirror", deployments)
	}
	for _, sel := range services {
		if !subset(sel, byKind["Deployment"]["sluice-bridge"].Spec.Template.Metadata.Labels) {
			t.Errorf("the admin Service selects %v, not the bridge pods", sel)
		}
	}
	if len(services) == 0 || !strings.Contains(cm.Data["SLUICE_ADMIN_URL"], "sluice-bridge-admin") {
		t.Error("no headless Service for the bridges' admin endpoints, or SLUICE_ADMIN_URL does not use it")
	}
	checkNetworkPolicies(t, policies, byKind, cm.Data, adminPort)
	for name, pdb := range byKind["PodDisruptionBudget"] {
		matched := false
		for _, d := range byKind["Deployment"] {
			matched = matched || subset(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
		}
		if !matched {
			t.Errorf("PodDisruptionBudget %s selects no pods", name)
		}
	}
	for name, h := range byKind["HorizontalPodAutoscaler"] {
		if _, ok := byKind[h.Spec.ScaleTargetRef.Kind][h.Spec.ScaleTargetRef.Name]; !ok {
			t.Errorf("HorizontalPodAutoscaler %s scales %s %s, which is not there", name, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name)
		}
		for _, m := range h.Spec.Metrics {
			served := false
			for _, cm := range byKind["ConfigMap"] {
				served = served || strings.Contains(cm.Data["config.yaml"], "externalRules") && strings.Contains(cm.Data["config.yaml"], `as: "`+m.External.Metric.Name+`"`)
			}
			if !served {
				t.Errorf("HorizontalPodAutoscaler %s scales on external metric %s, which no Prometheus Adapter rule serves", name, m.External.Metric.Name)
			}
			if !strings.Contains(string(appSrc), `"`+m.External.Metric.Name+`"`) {
				t.Errorf("HorizontalPodAutoscaler %s scales on %s, which sluice does not export", name, m.External.Metric.Name)
			}
		}
	}
}

func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

type npPeer struct {
	NamespaceSelector *struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"namespaceSelector"`
	PodSelector *struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"podSelector"`
	IPBlock *struct {
		CIDR string `yaml:"cidr"`
	} `yaml:"ipBlock"`
}

type npRule struct {
	From  []npPeer `yaml:"from"`
	To    []npPeer `yaml:"to"`
	Ports []struct {
		Protocol string `yaml:"protocol"`
		Port     any    `yaml:"port"`
	} `yaml:"ports"`
}

type netPolicy struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		PodSelector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"podSelector"`
		PolicyTypes []string `yaml:"policyTypes"`
		Ingress     []npRule `yaml:"ingress"`
		Egress      []npRule `yaml:"egress"`
	} `yaml:"spec"`
}

// checkNetworkPolicies: every sluice pod (the Deployments and the migrate
// Job) is selected by a NetworkPolicy that restricts both directions; its
// ingress opens only the admin port, only to named sources (Prometheus
// among them; no rule open to everyone); its egress allows DNS and the
// ports of the Kafka, Temporal and ClickHouse addresses the ConfigMap sets.
func checkNetworkPolicies(t *testing.T, policies []netPolicy, byKind map[string]map[string]k8sObject, cm map[string]string, adminPort string) {
	t.Helper()
	if len(policies) == 0 {
		t.Error("no NetworkPolicy in deploy/k8s: the admin port is open to every pod in the cluster")
		return
	}
	restricts := func(p npPeer) bool {
		switch {
		case p.IPBlock != nil:
			return p.IPBlock.CIDR != "0.0.0.0/0" && p.IPBlock.CIDR != "::/0"
		case p.PodSelector != nil && len(p.PodSelector.MatchLabels) > 0:
			return true
		case p.NamespaceSelector != nil && len(p.NamespaceSelector.MatchLabels) > 0:
			return true
		}
		return false
	}
	prometheus := false
	for _, np := range policies {
		if !slices.Contains(np.Spec.PolicyTypes, "Ingress") || !slices.Contains(np.Spec.PolicyTypes, "Egress") {
			t.Errorf("NetworkPolicy %s restricts %v; want both Ingress and Egress", np.Metadata.Name, np.Spec.PolicyTypes)
		}
		for _, r := range np.Spec.Ingress {
			if len(r.From) == 0 || len(r.Ports) == 0 {
				t.Errorf("NetworkPolicy %s has an ingress rule open to every source or every port: %+v", np.Metadata.Name, r)
			}
			for _, p := range r.From {
				if !restricts(p) {
					t.Errorf("NetworkPolicy %s lets in a peer that selects everything: %+v", np.Metadata.Name, p)
				}
				if p.PodSelector != nil && p.PodSelector.MatchLabels["app.kubernetes.io/name"] == "prometheus" {
					prometheus = true
				}
			}
			for _, p := range r.Ports {
				if port := fmt.Sprint(p.Port); port != "admin" && port != adminPort {
					t.Errorf("NetworkPolicy %s opens port %s; only the admin port (%s) is served", np.Metadata.Name, port, adminPort)
				}
			}
		}
	}
	if !prometheus {
		t.Error("no NetworkPolicy lets Prometheus (app.kubernetes.io/name=prometheus) scrape the admin port")
	}
	egressPorts := map[string]bool{}
	for _, np := range policies {
		for _, r := range np.Spec.Egress {
			for _, p := range r.Ports {
				egressPorts[fmt.Sprint(p.Port)] = true
			}
		}
	}
	need := map[string]string{"DNS": "53"}
	for _, k := range []string{"SLUICE_BROKERS", "SLUICE_TEMPORAL", "SLUICE_CLICKHOUSE"} {
		for _, addr := range strings.Split(cm[k], ",") {
			need[k+" "+addr] = addr[strings.LastIndex(addr, ":")+1:]
		}
	}
	for what, port := range need {
		if !egressPorts[port] {
			t.Errorf("no NetworkPolicy lets sluice reach %s (port %s)", what, port)
		}
	}
	for _, kind := range []string{"Deployment", "Job"} {
		for name, o := range byKind[kind] {
			selected := false
			for _, np := range policies {
				selected = selected || subset(np.Spec.PodSelector.MatchLabels, o.Spec.Template.Metadata.Labels)
			}
			if !selected {
				t.Errorf("no NetworkPolicy selects the pods of %s %s", kind, name)
			}
		}
	}
}
