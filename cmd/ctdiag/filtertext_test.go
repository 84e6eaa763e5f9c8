package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ctdiag/ctdiag/filter"
	"github.com/ctdiag/ctdiag/track"
)

// TestFilterTextIsTheCLIFilter: a filter typed as one string (the TUI's /
// prompt, top --filter) is accepted exactly when ctdiag list accepts the
// same words on its command line, and selects the same entries. With
// tui/flows' TestFilterPromptIsTheCLIFilter this ties the prompt to the CLI.
// (-l is left out: the CLI also checks label names against connlabel.conf.)
func TestFilterTextIsTheCLIFilter(t *testing.T) {
	dump := captures + "/nat-masquerade/rtr/conntrack-L-extended.txt"
	b, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	var flows []track.Flow
	for _, f := range parseFlows(t, b) {
		flows = append(flows, f)
	}
	accepted := 0
	for _, text := range []string{
		"", "-p tcp", "-p TCP --dport 80", "--protonum 6", "-p 0x11", "-p ipv6-icmp", "-p esp", "-f ipv4",
		"-s 10.0.0.0/8", "--orig-src 10.0.0.2", "--orig-dst 10.0.0.1", "-r 10.0.0.2", "-q 192.168.0.0/16",
		"-s 10.0.0.0 --mask-src 255.0.0.255", "-d 10.0.0.1 --mask-dst 255.255.255.0",
		"-p tcp --orig-port-src 1 --orig-port-dst 80", "--sport 1", "-p icmp --icmp-type 8", "-p icmp --icmp-id 1 --icmp-code 0",
		"-u SEEN_REPLY,'!ASSURED'", `-u "SEEN_REPLY,!ASSURED"`, "-u seen", "-u ASS", "-u UNREPLIED", "-u UNSET", "-u '!SEEN_REPLY'",
		"-m 0", "-m +0", "-m 0x10/0xf0", "-m 0/", "-m 020", "-w 0", "--orig-zone 0", "--reply-zone 3",
		"--src-nat", "-n", "--dst-nat", "--any-nat", "--src-nat 10.0.0.1", "-n10.0.0.1", "--src-nat=10.0.0.1:40000",
		"-j 10.0.0.1", "--dst-nat [fd00::1]:80", "--state ESTABLISHED", "-p tcp --state listen,TIME_WAIT",
		`-p\ tcp`, "-p 'tcp'", `-p "tcp" -d 10.0.0.1`,
		// refused by both
		"tcp", "-p", "--dport x", "--nope", "-p nosuch", "-p 256", "-u S", "-u NOPE", "-u ASSURED,!ASSURED", "-m 4294967296",
		"-m 1/x", "-w 65536", "--icmp-type 8", "-p tcp --icmp-type 8", "--mask-src 255.0.0.0", "-s 10.0.0.0/8 --mask-src 255.0.0.0",
		"--any-nat --src-nat", "-f ipv6 -s 10.0.0.1", "-g 1.1.1.1:70000", "-p icmp --dport 1", "-s 10.0.0.300",
		"-p tcp 'unterminated", `-p tcp\`,
	} {
		flt, perr := filter.ParseString(text)
		words, werr := filter.SplitWords(text)
		if werr != nil {
			if perr == nil {
				t.Errorf("%q: ParseString accepts what does not split into words", text)
			}
			continue
		}
		out, errOut, code := ctdiag(t, "", append(append([]string{"list", "-o", "extended"}, words...), dump)...)
		switch {
		case perr == nil && code != 0:
			t.Errorf("%q: the prompt accepts it, the CLI exits %d: %s", text, code, errOut)
			continue
		case perr != nil && code != exitParameter:
			t.Errorf("%q: the prompt refuses it (%v), the CLI exits %d: %s", text, perr, code, errOut)
			continue
		case perr != nil:
			continue
		}
		accepted++
		var want []string
		for i := range flows {
			if flt.Judge(&flows[i], filter.ViewText) == filter.Yes {
				want = append(want, strings.TrimSpace(string(appendKey(&flows[i]))))
			}
		}
		var got []string
		for _, f := range parseFlows(t, []byte(out)) {
			got = append(got, strings.TrimSpace(string(appendKey(&f))))
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%q: the CLI lists %d entries, the prompt's filter selects %d", text, len(got), len(want))
		}
	}
	if accepted < 40 {
		t.Errorf("only %d filters accepted", accepted)
	}
}

func appendKey(f *track.Flow) []byte { return []byte(entryKey(f)) }
