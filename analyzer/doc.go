// Package analyzer evaluates the rule catalog over a timeline of one or more
// samples of a conntrack table and produces findings with evidence and
// remedies.
//
// Samples are streamed in (BeginSample, Flow, Extra, EndSample: the shape of
// track.SampleSink), so a million-entry table is never held whole: each
// sample keeps counts, small top lists, a few example entries, and compact
// tuple hashes where a rule follows flows from one sample to the next. One
// sample already gives findings (ages from remaining timeouts, shares,
// utilisation); more samples add growth, rates and flows followed by tuple.
// Time comes only from the samples: the analyzer never reads the clock.
//
// analyzer depends on track, rules and parser (only to print example
// entries in conntrack -L format). It must not import collector or tui, and
// does no I/O.
package analyzer
