package schemas

import "embed"

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
