package schemas

import (
	"bytes"
	"embed"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// ContractVersion is the version of the contract between the bridge and
// entity workflows in any SDK (docs/contract.md): the signal payload, the
// start argument and the milestone activity's argument. A change that an
// existing workflow could not read gets a new version.
const ContractVersion = "v1"

// Contract holds the contract's JSON Schemas: contract/signal-batch,
// contract/start-args and contract/milestones (.schema.json), for
// workflows in other languages to validate against.
//
//go:embed contract/*.schema.json
var Contract embed.FS

// ContractSchema compiles one of the contract's schemas: "signal-batch",
// "start-args" or "milestones". Formats (date-time) are asserted.
func ContractSchema(name string) (*jsonschema.Schema, error) {
	b, err := Contract.ReadFile("contract/" + name + ".schema.json")
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(name, doc); err != nil {
		return nil, err
	}
	return c.Compile(name)
}
