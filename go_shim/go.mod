module fuzzharness/go_shim

go 1.26
