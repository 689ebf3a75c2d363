//go:build !(perturb || mutants)

package fhadapter

// PerturbPoint is the in-call perturbation point of a release build: nothing
// (see perturb.go, build tag perturb or mutants).
func PerturbPoint(uint32) {}
