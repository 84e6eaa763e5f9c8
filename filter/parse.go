package filter

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// natFlags are the options whose argument is optional, as in conntrack.
var natFlags = []struct{ long, short string }{
	{"src-nat", "n"}, {"dst-nat", "g"}, {"any-nat", "j"},
}

// AttachOptionalValues rewrites the NAT options' optional arguments to the
// attached form pflag understands, so that they are written as conntrack
// takes them: "--dst-nat 3.3.3.3", "-g 3.3.3.3" and "-g3.3.3.3" all become
// "--dst-nat=3.3.3.3". conntrack takes any next word that does not start
// with '-'; here the next word is taken only when it reads as ADDR,
// ADDR:PORT or [IPv6]:PORT, so a file name after a bare --dst-nat stays a
// file name. Nothing after "--" is touched.
func AttachOptionalValues(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		long := ""
		for _, n := range natFlags {
			switch {
			case a == "--"+n.long || a == "-"+n.short:
				long = n.long
			case len(a) > 2 && a[0] == '-' && a[1:2] == n.short && a[2] != '=':
				// -g3.3.3.3: pflag would read "3" as the next shorthand.
				a, long = "--"+n.long+"="+a[2:], ""
			}
		}
		if long != "" && i+1 < len(args) && isNATValue(args[i+1]) {
			a = "--" + long + "=" + args[i+1]
			i++
		}
		out = append(out, a)
	}
	return out
}

// Parse builds a Filter from conntrack-style arguments, e.g.
// []string{"-p", "tcp", "--dport", "443", "-u", "SEEN_REPLY,!ASSURED"}.
func Parse(args []string) (*Filter, error) {
	fs := pflag.NewFlagSet("filter", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fl := Register(fs)
	if err := fs.Parse(AttachOptionalValues(args)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFilter, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected %q (filters are options like -p tcp --dport 443)", ErrBadFilter, fs.Arg(0))
	}
	return fl.Filter()
}

// ParseString splits s as a shell would (spaces separate words; single
// quotes keep everything; double quotes keep all but backslash escapes; a
// backslash outside single quotes takes the next character as it is) and
// parses the words. It is how a filter typed as one string is read: the
// TUI's / prompt and top --filter.
func ParseString(s string) (*Filter, error) {
	args, err := SplitWords(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFilter, err)
	}
	return Parse(args)
}

// SplitWords splits s into words as ParseString does.
func SplitWords(s string) ([]string, error) {
	var (
		out     []string
		cur     strings.Builder
		inWord  bool
		quote   rune
		escaped bool
	)
	for _, c := range s {
		switch {
		case escaped:
			cur.WriteRune(c)
			escaped = false
		case c == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteRune(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	switch {
	case quote != 0:
		return nil, fmt.Errorf("unterminated %c quote", quote)
	case escaped:
		return nil, errors.New("a backslash at the end escapes nothing")
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

// quoteWord quotes a word so that SplitWords reads it back unchanged.
func quoteWord(w string) string {
	if w != "" && !strings.ContainsAny(w, " \t\n'\"\\") {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}
