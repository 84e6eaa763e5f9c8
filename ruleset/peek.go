package ruleset

import (
	"bufio"
	"io"
)

func newPeeker(r io.Reader) *bufio.Reader {
	if br, ok := r.(*bufio.Reader); ok && br.Size() >= 4096 {
		return br
	}
	return bufio.NewReaderSize(r, 64<<10)
}
