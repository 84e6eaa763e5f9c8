package archtest

import (
	"bufio"
	"errors"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/ctdiag/ctdiag"

// rule is one row of the import-rules table.
type rule struct {
	line     int
	subjects []string // package patterns the row is about
	anyBut   []string // "any ctdiag package but …": every package but these
	anyPkg   bool     // the row forbids every ctdiag package (but anyBut)
	mustNot  []string // package patterns or external import paths
	onlyBy   []string // who may import the subjects; nil: anyone
	nobody   bool     // "nothing": no package may import the subjects
}

// pkgInfo is what the test knows of one package of the module.
type pkgInfo struct {
	path    string   // relative to the module: "collector/netlinkct"
	imports []string // of non-test files: module-relative for ours, full for others
	doc     string   // doc.go's package comment
	main    bool
}

func TestImportRules(t *testing.T) {
	root := moduleRoot(t)
	pkgs := loadPackages(t, root)
	rules, listed := readRules(t, filepath.Join(root, "docs", "ARCHITECTURE.md"))
	var all []string
	for p := range pkgs {
		all = append(all, p)
	}
	sort.Strings(all)

	for _, r := range rules {
		for _, pat := range append(append(append(slices.Clone(r.subjects), r.anyBut...), r.onlyBy...), ourPatterns(r.mustNot)...) {
			if len(match(pat, all)) == 0 {
				t.Errorf("docs/ARCHITECTURE.md:%d: %q names no package of the module", r.line, pat)
			}
		}
	}
	for _, p := range all {
		if !slices.ContainsFunc(rules, func(r rule) bool { return matchesAny(p, r.subjects) }) {
			t.Errorf("package %s is in no row of the import rules (docs/ARCHITECTURE.md): give it one", p)
		}
		if !matchesAny(p, listed) {
			t.Errorf("package %s is not in the Packages table of docs/ARCHITECTURE.md: say what it owns", p)
		}
	}

	for _, p := range all {
		info := pkgs[p]
		for _, r := range rules {
			if !matchesAny(p, r.subjects) {
				continue
			}
			for _, imp := range info.imports {
				if forbids(r, p, imp, pkgs) {
					t.Errorf("%s imports %s, which the import rules forbid (docs/ARCHITECTURE.md:%d)", p, imp, r.line)
				}
			}
			if r.onlyBy == nil && !r.nobody {
				continue
			}
			for _, q := range all {
				if q != p && slices.Contains(pkgs[q].imports, p) && (r.nobody || !matchesAny(q, r.onlyBy)) {
					t.Errorf("%s imports %s, which only %s may import (docs/ARCHITECTURE.md:%d)", q, p, strings.Join(r.onlyBy, ", "), r.line)
				}
			}
		}
	}

	// A package comment (doc.go) that says the package must not import
	// something the table allows is a second, diverging definition.
	for _, p := range all {
		for _, named := range docForbids(pkgs[p].doc, all) {
			if !slices.ContainsFunc(rules, func(r rule) bool { return matchesAny(p, r.subjects) && forbids(r, p, named, pkgs) }) {
				t.Errorf("%s's package comment says it must not import %s; the import rules of docs/ARCHITECTURE.md do not", p, named)
			}
		}
	}
}

// forbids says whether rule r (about package p) forbids importing imp.
func forbids(r rule, p, imp string, pkgs map[string]*pkgInfo) bool {
	if imp == p {
		return false
	}
	_, ours := pkgs[imp]
	if r.anyPkg && ours && !matchesAny(imp, r.anyBut) {
		return true
	}
	return matchesAny(imp, r.mustNot)
}

// match returns the packages pattern names ("x" or "x/...").
func match(pattern string, all []string) []string {
	var out []string
	for _, p := range all {
		if matches(p, pattern) {
			out = append(out, p)
		}
	}
	return out
}

func matches(p, pattern string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return p == base || strings.HasPrefix(p, base+"/")
	}
	return p == pattern
}

func matchesAny(p string, patterns []string) bool {
	return slices.ContainsFunc(patterns, func(pat string) bool { return matches(p, pat) })
}

// ourPatterns keeps the patterns that name packages of the module (not
// external import paths, which contain a dot in their first element).
func ourPatterns(pats []string) []string {
	var out []string
	for _, p := range pats {
		first, _, _ := strings.Cut(p, "/")
		if !strings.Contains(first, ".") {
			out = append(out, p)
		}
	}
	return out
}

// docForbids reads "must not import A, B or C" in a package comment and
// returns the module's packages it names by their last element ("parser",
// "collector", "the TUI", "the CLI").
func docForbids(doc string, all []string) []string {
	doc = strings.Join(strings.Fields(doc), " ")
	var out []string
	for _, m := range regexp.MustCompile(`must not import ([^.;]*)`).FindAllStringSubmatch(doc, -1) {
		for _, w := range regexp.MustCompile(`[A-Za-z/]+`).FindAllString(m[1], -1) {
			var name string
			switch lw := strings.ToLower(w); lw {
			case "tui":
				name = "tui"
			case "cli":
				name = "cmd/ctdiag"
			default:
				for _, p := range all {
					if p == lw || strings.HasSuffix(p, "/"+lw) {
						name = p
					}
				}
			}
			if name != "" && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// loadPackages reads the imports of every package's non-test files, as the
// default build (no extra tags) sees them.
func loadPackages(t *testing.T, root string) map[string]*pkgInfo {
	t.Helper()
	pkgs := map[string]*pkgInfo{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
			return filepath.SkipDir
		}
		bp, err := build.Default.ImportDir(path, build.ImportComment)
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		info := &pkgInfo{path: filepath.ToSlash(rel), main: bp.Name == "main", doc: packageDoc(t, path, bp.GoFiles)}
		for _, imp := range bp.Imports {
			if r, ok := strings.CutPrefix(imp, module+"/"); ok {
				imp = r
			}
			info.imports = append(info.imports, imp)
		}
		pkgs[info.path] = info
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("found only %d packages under %s", len(pkgs), root)
	}
	return pkgs
}

// packageDoc is the package comment of the package's files (usually
// doc.go's).
func packageDoc(t *testing.T, dir string, files []string) string {
	t.Helper()
	var doc strings.Builder
	for _, name := range files {
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, name), nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil {
			doc.WriteString(f.Doc.Text())
		}
	}
	return doc.String()
}

// readRules parses the "Import rules" table of the architecture document,
// and the package names of its "Packages" table.
func readRules(t *testing.T, path string) ([]rule, []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	code := regexp.MustCompile("`([^`]+)`")
	names := func(cell string) []string {
		var out []string
		for _, m := range code.FindAllStringSubmatch(cell, -1) {
			out = append(out, m[1])
		}
		return out
	}
	var rules []rule
	var listed []string
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			section = strings.TrimSpace(strings.TrimLeft(line, "#"))
			continue
		}
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		switch section {
		case "Packages":
			listed = append(listed, names(cells[0])...)
		case "Import rules":
			if len(cells) != 3 {
				t.Fatalf("%s:%d: an import rule has 3 cells, this row %d", path, n, len(cells))
			}
			r := rule{line: n, subjects: names(cells[0])}
			mustNot := cells[1]
			if before, after, ok := strings.Cut(mustNot, "any ctdiag package"); ok {
				r.anyPkg = true
				r.anyBut = names(after)
				mustNot = before
			}
			r.mustNot = names(mustNot)
			if strings.Contains(cells[2], "nothing") {
				r.nobody = true
			} else if only := names(cells[2]); len(only) > 0 {
				r.onlyBy = only
			}
			rules = append(rules, r)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rules) < 10 || len(listed) < 10 {
		t.Fatalf("%s: %d import rules and %d listed packages: the tables were not found (headings \"Packages\" and \"Import rules\")", path, len(rules), len(listed))
	}
	return rules, listed
}
