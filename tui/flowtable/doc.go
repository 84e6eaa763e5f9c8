// Package flowtable holds one sample of a conntrack table for the terminal
// UI, compactly: about 70 bytes an entry instead of the 216 of a track.Flow,
// so that the table on screen and the one being read next fit side by side
// at a million entries. It counts states and talkers, and makes filtered,
// sorted views whose rows are rebuilt as track.Flow only when shown.
//
// A Table is filled by one goroutine (Add) and is read-only afterwards, so
// the UI can read it while the next one is being filled.
//
// flowtable depends on track only. It must not do I/O, read the clock or
// import bubbletea.
package flowtable
