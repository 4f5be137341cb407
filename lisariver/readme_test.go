package lisariver_test

import (
	"os"
	"strings"
	"testing"
)

// The README's worker process is examples/fleet's run function, word for
// word, so that what a reader pastes compiles and checks every error.
func TestReadmeSnippetIsTheFleetExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("examples/fleet/main.go")
	if err != nil {
		t.Fatal(err)
	}
	_, run, ok := strings.Cut(string(example), "\nfunc run() error {")
	if !ok {
		t.Fatal("examples/fleet/main.go has no run function")
	}
	if !strings.Contains(string(readme), "```go\nfunc run() error {"+run+"```") {
		t.Error("README.md's first Go block is not examples/fleet's run function: copy it again")
	}
}
