module fuzzharness/go_shim

go 1.26

require fuzzharness/kits/go v0.0.0

// The Go adapter kit of this repository (contract constants and types, panic
// boundary, per-thread last error), never fetched from the network.
replace fuzzharness/kits/go => ../kits/go
