// Command lisa sends, signs and verifies LiSA product-update notifications,
// and runs a local fake of the ingest endpoint, for sync scripts and
// debugging.
//
// Usage:
//
//	lisa send [flags] [FILE|-]      send one JSON document, or NDJSON with -ndjson
//	lisa sign [flags] [FILE|-]      print the hex HMAC-SHA256 of the bytes
//	lisa verify -signature HEX [FILE|-]
//	lisa serve [-addr 127.0.0.1:8080] [-ui]
//	lisa version
//
// Credentials come from the environment (LISA_PLUGIN_ID, LISA_API_KEY,
// LISA_SECRET and LISA_BASE_URL), from files (-api-key-file, -secret-file)
// or from flags. They are never printed.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // something was not accepted, or a signature did not match
	exitUsage  = 2 // bad flags, arguments or configuration
)

// env is what a run of the command sees of the world, so that tests can run
// it in-process.
type env struct {
	args     []string
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
	getenv   func(string) string
	terminal bool             // stderr is a terminal: show progress
	signals  <-chan os.Signal // SIGINT, SIGTERM and SIGHUP; nil in tests
}

func main() {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, stopSignals...)
	// A reader of stderr that goes away (`2>&1 | head`, a dropped tee) must
	// not kill a run that holds lines: with SIGPIPE ignored the write fails
	// instead, and the lines still go to their files.
	signal.Ignore(syscall.SIGPIPE)
	os.Exit(run(env{os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv, isTerminal(os.Stderr), signals}))
}

// isTerminal reports whether f is a terminal: a character device other than
// /dev/null (a pipe, a file or /dev/null gets no progress line).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}

// command is one subcommand: the table drives dispatch and the usage text.
type command struct {
	name     string
	synopsis string
	summary  string
	run      func(e env, args []string) error
}

func commands() []command {
	return []command{
		{"send", "send [flags] [FILE|-]", "send one JSON document, or NDJSON with -ndjson", cmdSend},
		{"sign", "sign [flags] [FILE|-]", "print the hex HMAC-SHA256 signature of the bytes", cmdSign},
		{"verify", "verify -signature HEX [flags] [FILE|-]", "check a signature; exit 0 if valid", cmdVerify},
		{"serve", "serve [-addr 127.0.0.1:8080] [-ui] [flags]", "run a local fake ingest endpoint (and an inspector page)", cmdServe},
		{"version", "version", "print the version", cmdVersion},
	}
}

func usage() string {
	var b strings.Builder
	b.WriteString("lisa sends product-update notifications to LiSA.\n\nUsage:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  lisa %-40s %s\n", c.synopsis, c.summary)
	}
	b.WriteString("\nCredentials: LISA_PLUGIN_ID, LISA_API_KEY, LISA_SECRET (and LISA_BASE_URL),\n" +
		"or -plugin-id, -api-key-file, -secret-file. Run 'lisa help COMMAND' for details.\n" +
		"\nSIGINT, SIGTERM and SIGHUP end any command promptly, even one waiting on standard input;\n" +
		"send first keeps every line read (see 'lisa help send'); a second signal exits at once.\n")
	return b.String()
}

// run dispatches to a command and maps its error to an exit code, in this
// one place: usage errors 2, anything else 1, help 0.
func run(e env) int {
	err := dispatch(e)
	var exit *exitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &exit):
		if exit.err != nil {
			fmt.Fprintln(e.stderr, exit.err)
		}
		return exit.code
	default:
		fmt.Fprintln(e.stderr, err)
		return exitFailed
	}
}

func dispatch(e env) error {
	if len(e.args) == 0 {
		return usageError(errors.New(strings.TrimSpace(usage())))
	}
	name, args := e.args[0], e.args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) == 0 {
			fmt.Fprint(e.stdout, usage())
			return nil
		}
		name, args = args[0], []string{"-h"}
	case "-version", "--version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(e, args)
		}
	}
	return usageError(fmt.Errorf("lisa: unknown command %q\n\n%s", name, strings.TrimSpace(usage())))
}

// exitError carries an exit code other than 1; err, when set, is printed.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError is a bad flag, argument or configuration: exit 2.
func usageError(err error) error { return &exitError{code: exitUsage, err: err} }

// errNotAllAccepted ends a run whose summary already said what failed: exit
// 1 with nothing more printed.
var errNotAllAccepted = &exitError{code: exitFailed}

// flagSet is a command's flags with its help text.
type flagSet struct {
	*flag.FlagSet
	synopsis, about, example string
}

func newFlagSet(name, about, example string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), about: about, example: example}
	for _, c := range commands() {
		if c.name == name {
			fs.synopsis = c.synopsis
		}
	}
	fs.Usage = func() {} // help is printed by parse, on stdout
	return fs
}

// help writes the command's full help.
func (fs *flagSet) help(w io.Writer) {
	fmt.Fprintf(w, "Usage: lisa %s\n\n%s\n\nFlags:\n", fs.synopsis, fs.about)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nExample:\n%s\n", fs.example)
}

// parse parses flags given before, between or after the positional
// arguments (lisa send catalog.ndjson -ndjson), and returns the latter.
// -h prints the help on stdout and returns flag.ErrHelp.
func (fs *flagSet) parse(e env, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.help(e.stdout)
				return nil, err
			}
			return nil, usageError(fmt.Errorf("lisa %s: %v\nUsage: lisa %s (lisa help %s for more)", fs.Name(), err, fs.synopsis, fs.Name()))
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
