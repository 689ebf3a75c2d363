module fuzzharness/kits/go

go 1.24
