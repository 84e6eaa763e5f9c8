// Package archtest holds TestImportRules, which reads the import rules of
// docs/ARCHITECTURE.md and checks every package of the module against them:
// the document is the one definition of which package may import which.
//
// It has no code of its own and imports no ctdiag package.
package archtest
