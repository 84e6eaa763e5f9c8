// Package radix sorts by 64-bit keys with a least-significant-digit radix
// sort that visits only the bits in which the keys differ.
//
// It owns the sorting of large key arrays for the analyzer's tallies and
// the flow table's views and rankings, where a comparison sort of a
// million entries costs several times as much. It must not import any
// other ctdiag package.
package radix
