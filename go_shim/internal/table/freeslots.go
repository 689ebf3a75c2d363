package table

// Lowest-free-slot allocation.

// freeSlots is a min-heap (container/heap) of the indices of free slots that
// have been used before, so a new resource always goes into the lowest free
// slot. Slots never used yet are not in it: they are the ones at and above
// len(session.slots), all higher than any index in the heap. Retired slots
// (generation 0xFFFFFFFF) are never pushed back.
type freeSlots []uint32

func (f freeSlots) Len() int           { return len(f) }
func (f freeSlots) Less(i, j int) bool { return f[i] < f[j] }
func (f freeSlots) Swap(i, j int)      { f[i], f[j] = f[j], f[i] }
func (f *freeSlots) Push(x any)        { *f = append(*f, x.(uint32)) }

func (f *freeSlots) Pop() any {
	old := *f
	x := old[len(old)-1]
	*f = old[:len(old)-1]
	return x
}
