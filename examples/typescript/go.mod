// Not Go code: this file makes examples/typescript its own (empty) module,
// so the main module's ./... (go build, vet, test) does not descend into
// node_modules, where @temporalio/core-bridge ships Go sources of its own.
module example.com/sluice-typescript

go 1.26.8
