package schemas

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every table, view and column the migrations create is documented in
// docs/schema.md (as `name`).
func TestSchemaReferenceCoversEveryColumn(t *testing.T) {
	doc, err := os.ReadFile("../docs/schema.md")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := Migrations("db")
	if err != nil {
		t.Fatal(err)
	}
	objRe := regexp.MustCompile(`CREATE (?:TABLE|VIEW) IF NOT EXISTS db\.(\w+)`)
	colRe := regexp.MustCompile(`(?m)^\s+(?:ADD COLUMN )?(\w+)\s+(?:U?Int\d+|String|DateTime|Float64|Array\(String\))\b`)
	aliasRe := regexp.MustCompile(`\bAS (\w+)`)
	// Names that only exist inside a view's subqueries.
	internal := map[string]bool{"wft_ids": true, "wft_times": true, "ns_price": true}
	var missing []string
	check := func(name string) {
		if !internal[name] && !strings.Contains(string(doc), "`"+name+"`") {
			missing = append(missing, name)
		}
	}
	for _, m := range ms {
		for _, st := range m.Statements {
			for _, o := range objRe.FindAllStringSubmatch(st, -1) {
				check(o[1])
			}
			for _, c := range colRe.FindAllStringSubmatch(st, -1) {
				check(c[1])
			}
			if strings.Contains(st, "CREATE VIEW") {
				// The outermost select's aliases are the view's columns.
				for _, a := range aliasRe.FindAllStringSubmatch(st, -1) {
					check(a[1])
				}
			}
		}
	}
	if len(missing) > 0 {
		t.Fatalf("not documented in docs/schema.md: %v", missing)
	}
}
