module github.com/ctdiag/ctdiag

go 1.24.0

require (
	github.com/spf13/cobra v1.9.1
	github.com/spf13/pflag v1.0.6
	golang.org/x/sys v0.38.0
)

require github.com/inconshreveable/mousetrap v1.1.0 // indirect
