// Package archtest checks the import direction of the design card: schemas
// imports nothing of ours; consumers, workflows and analytics only schemas;
// bridge is the only package that knows both Kafka and Temporal.
package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const mod = "github.com/sluicehq/sluice/"

// allowed lists, per top-level folder, the folders of ours it may import.
var allowed = map[string][]string{
	"schemas":          {},
	"schemas/producer": {"schemas"},
	"consumers":        {"schemas"},
	"workflows":        {"schemas", "workflows"},
	"analytics":        {"schemas"},
	"bridge":           {"consumers", "workflows", "schemas", "tracing"},
	// tracing is a leaf the bridge's spans use; it knows nothing of ours.
	"tracing": {},
	// secure is connection security (secrets, TLS, SASL); a leaf as well.
	"secure": {},
}

func TestImportDirection(t *testing.T) {
	root := "../.."
	for dir, ok := range allowed {
		kafka, temporal := false, false
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			if d.IsDir() && rel != dir {
				if _, own := allowed[filepath.ToSlash(rel)]; own {
					return filepath.SkipDir // checked under its own rule
				}
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			for _, imp := range f.Imports {
				p := strings.Trim(imp.Path.Value, `"`)
				kafka = kafka || strings.HasPrefix(p, "github.com/twmb/franz-go") || strings.HasPrefix(p, "github.com/IBM/sarama")
				temporal = temporal || strings.HasPrefix(p, "go.temporal.io/sdk/client")
				if !strings.HasPrefix(p, mod) {
					continue
				}
				top := strings.SplitN(strings.TrimPrefix(p, mod), "/", 2)[0]
				if !contains(ok, top) && !contains(ok, strings.TrimPrefix(p, mod)) {
					t.Errorf("%s imports %s: %s may import only %v", path, p, dir, ok)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// secure builds both clients' options (TLS, SASL, API keys) and
		// calls neither.
		if kafka && temporal && dir != "bridge" && dir != "secure" {
			t.Errorf("%s imports both a Kafka client and the Temporal client; only bridge may", dir)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// The public root package is a thin face over internal/app: it may import
// the boundary packages and the internal wiring, and nothing of ours
// imports it but the binary, the examples and tests (it sits above
// everything).
func TestPublicPackage(t *testing.T) {
	root := "../.."
	ok := []string{"internal/app", "secure", "tracing", "workflows", "schemas", "consumers", "bridge", "analytics"}
	files, _ := filepath.Glob(filepath.Join(root, "*.go"))
	if len(files) == 0 {
		t.Fatal("no public package at the module root")
	}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if strings.HasPrefix(p, mod) && !contains(ok, strings.TrimPrefix(p, mod)) {
				t.Errorf("%s imports %s: the public package may import only %v", path, p, ok)
			}
		}
	}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		// Tests are users of the public API like any other.
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if !strings.Contains(rel, "/") || strings.HasPrefix(rel, "cmd/") || strings.HasPrefix(rel, "examples/") || strings.HasPrefix(rel, ".tools/") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if strings.Trim(imp.Path.Value, `"`) == strings.TrimSuffix(mod, "/") {
				t.Errorf("%s imports the public package; only cmd/ and examples/ may", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
