package lisa_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPublicAPI compares the public API of each package with the snapshot
// checked in under api/, so that every change to it is deliberate (and goes
// in CHANGELOG.md). After a deliberate change, rewrite the snapshots with
//
//	LISA_UPDATE_API=1 go test -run TestPublicAPI .
func TestPublicAPI(t *testing.T) {
	for _, pkg := range []struct{ dir, path, file string }{
		{".", ".", "lisa.txt"},
		{".", "./lisatest", "lisatest.txt"},
		{"lisariver", ".", "lisariver.txt"},
		{"lisaotel", ".", "lisaotel.txt"},
	} {
		t.Run(pkg.file, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(pkg.dir, "go.mod")); pkg.dir != "." && err != nil {
				t.Skipf("no module in %s", pkg.dir)
			}
			cmd := exec.Command("go", "doc", "-all", pkg.path)
			cmd.Dir = pkg.dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go doc -all %s in %s: %v\n%s", pkg.path, pkg.dir, err, out)
			}
			got := apiOf(out)
			want := filepath.Join("api", pkg.file)
			if os.Getenv("LISA_UPDATE_API") != "" {
				if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			snapshot, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (write it with LISA_UPDATE_API=1)", err)
			}
			if got != string(snapshot) {
				t.Errorf("the public API changed; if on purpose, record it in CHANGELOG.md and run LISA_UPDATE_API=1 go test -run TestPublicAPI .\n%s", lineDiff(string(snapshot), got))
			}
		})
	}
}

var (
	trailingComment = regexp.MustCompile(`(^|\s+)//.*$`)
	spaces          = regexp.MustCompile(`\s+`)
)

// apiOf keeps the declarations of go doc -all's output (after the package
// doc), without doc text, comments or alignment.
func apiOf(doc []byte) string {
	start := len(doc)
	for _, section := range []string{"\nCONSTANTS\n", "\nVARIABLES\n", "\nFUNCTIONS\n", "\nTYPES\n"} {
		if i := bytes.Index(doc, []byte(section)); i >= 0 {
			start = min(start, i)
		}
	}
	decls := doc[start:]
	var b strings.Builder
	for _, line := range strings.Split(string(decls), "\n") {
		if strings.HasPrefix(line, "    ") || strings.TrimSpace(line) == "" {
			continue // doc text
		}
		line = trailingComment.ReplaceAllString(line, "")
		if strings.TrimSpace(line) == "" {
			continue
		}
		indent := ""
		if strings.HasPrefix(line, "\t") {
			indent = "\t"
		}
		b.WriteString(indent + spaces.ReplaceAllString(strings.TrimSpace(line), " ") + "\n")
	}
	return b.String()
}

// lineDiff lists the lines only in a (-) and only in b (+).
func lineDiff(a, b string) string {
	count := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[l]++
		}
		return m
	}
	ca, cb := count(a), count(b)
	var out strings.Builder
	for _, l := range strings.Split(a, "\n") {
		if ca[l] > cb[l] {
			out.WriteString("- " + l + "\n")
			ca[l]--
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if cb[l] > count(a)[l] {
			out.WriteString("+ " + l + "\n")
			cb[l]--
		}
	}
	return out.String()
}
