// Command lisa sends, signs and verifies LiSA product-update notifications,
// and runs a local fake of the ingest endpoint, for sync scripts and
// debugging.
//
// Usage:
//
//	lisa send [flags] [FILE|-]      send one JSON document, or NDJSON with -ndjson
//	lisa sign [flags] [FILE|-]      print the hex HMAC-SHA256 of the bytes
//	lisa verify -signature HEX [FILE|-]
//	lisa serve [-addr 127.0.0.1:8080]
//	lisa version
//
// Credentials come from flags or, better, from the environment:
// LISA_PLUGIN_ID, LISA_API_KEY, LISA_SECRET and LISA_BASE_URL, or from files
// with -api-key-file and -secret-file. They are never printed.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/hello-lisa/lisa-go"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // something was not accepted, or a signature did not match
	exitUsage   = 2 // bad flags, arguments or configuration
	maxSignRead = 64 << 20
)

// env is what a run of the command sees of the world, so that tests can run
// it in-process.
type env struct {
	args     []string
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
	getenv   func(string) string
	terminal bool // stderr is a terminal: show progress
}

func main() {
	fi, err := os.Stderr.Stat()
	terminal := err == nil && fi.Mode()&os.ModeCharDevice != 0
	os.Exit(run(env{os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv, terminal}))
}

const usage = `lisa sends product-update notifications to LiSA.

Usage:
  lisa send [flags] [FILE|-]          send one JSON document (or NDJSON with -ndjson)
  lisa sign [flags] [FILE|-]          print the hex HMAC-SHA256 signature of the bytes
  lisa verify -signature HEX [FILE|-] check a signature; exit 0 if valid
  lisa serve [-addr 127.0.0.1:8080]   run a local fake ingest endpoint
  lisa version                        print the version

Credentials: LISA_PLUGIN_ID, LISA_API_KEY, LISA_SECRET (and LISA_BASE_URL),
or -plugin-id, -api-key-file, -secret-file. Run 'lisa COMMAND -h' for details.
`

func run(e env) int {
	if len(e.args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return exitUsage
	}
	cmd, rest := e.args[0], e.args[1:]
	e.args = rest
	switch cmd {
	case "send":
		return runSend(e)
	case "sign":
		return runSign(e)
	case "verify":
		return runVerify(e)
	case "serve":
		return runServe(e)
	case "version", "-version", "--version":
		fmt.Fprintf(e.stdout, "lisa %s (lisa-go %s, %s)\n", lisa.Version, lisa.Version, runtime.Version())
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(e.stderr, "lisa: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

// newFlagSet makes a flag set whose -h prints a description and an example.
func newFlagSet(e env, name, synopsis, example string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: lisa %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nExample:\n%s\n", example)
	}
	return fs
}

// parse parses flags; it returns the exit code to stop with, or -1 to go on.
func parse(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	return -1
}

// credFlags are the credential flags shared by the commands.
type credFlags struct {
	pluginID, apiKey, apiKeyFile, secret, secretFile, baseURL *string
}

func addCredFlags(fs *flag.FlagSet, withKey bool) credFlags {
	var c credFlags
	if withKey {
		c.pluginID = fs.String("plugin-id", "", "plugin integration id (default $LISA_PLUGIN_ID)")
		c.apiKey = fs.String("api-key", "", "API key; visible in shell history and process lists: prefer $LISA_API_KEY or -api-key-file")
		c.apiKeyFile = fs.String("api-key-file", "", "read the API key from this file")
		c.baseURL = fs.String("url", "", "ingest base URL (default $LISA_BASE_URL or "+lisa.DefaultBaseURL+")")
	}
	c.secret = fs.String("secret", "", "signing secret; visible in shell history and process lists: prefer $LISA_SECRET or -secret-file")
	c.secretFile = fs.String("secret-file", "", "read the signing secret from this file")
	return c
}

// value resolves one credential: the flag, else the file, else the
// environment. A value given on the command line earns a warning.
func (e env) value(flagName string, flagVal, file *string, envName string) (string, error) {
	if flagVal != nil && *flagVal != "" {
		if file != nil { // a credential, not just an id
			fmt.Fprintf(e.stderr, "lisa: warning: -%s on the command line lands in shell history; prefer $%s or -%s-file\n", flagName, envName, flagName)
		}
		return *flagVal, nil
	}
	if file != nil && *file != "" {
		b, err := os.ReadFile(*file)
		if err != nil {
			return "", fmt.Errorf("lisa: read -%s-file: %w", flagName, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return e.getenv(envName), nil
}

func (e env) secret(c credFlags) (string, error) {
	s, err := e.value("secret", c.secret, c.secretFile, "LISA_SECRET")
	if err == nil && s == "" {
		err = errors.New("lisa: no secret: set LISA_SECRET or use -secret-file")
	}
	return s, err
}

// client builds an SDK client from the credential flags and environment.
func (e env) client(c credFlags, opts ...lisa.Option) (*lisa.Client, error) {
	id, _ := e.value("plugin-id", c.pluginID, nil, "LISA_PLUGIN_ID")
	key, err := e.value("api-key", c.apiKey, c.apiKeyFile, "LISA_API_KEY")
	if err != nil {
		return nil, err
	}
	secret, err := e.value("secret", c.secret, c.secretFile, "LISA_SECRET")
	if err != nil {
		return nil, err
	}
	base := *c.baseURL
	if base == "" {
		base = e.getenv("LISA_BASE_URL")
	}
	if base != "" {
		opts = append([]lisa.Option{lisa.WithBaseURL(base)}, opts...)
	}
	cl, err := lisa.NewClient(id, key, secret, append(opts, lisa.WithUserAgent("lisa-cli/"+lisa.Version))...)
	if err != nil {
		return nil, fmt.Errorf("%w (set LISA_PLUGIN_ID, LISA_API_KEY and LISA_SECRET, or use flags)", err)
	}
	return cl, nil
}

// input opens FILE or - (standard input) from the remaining arguments.
func (e env) input(fs *flag.FlagSet) (io.Reader, func(), int64, error) {
	switch fs.NArg() {
	case 0:
		return e.stdin, func() {}, -1, nil
	case 1:
		if fs.Arg(0) == "-" {
			return e.stdin, func() {}, -1, nil
		}
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return nil, nil, 0, fmt.Errorf("lisa: %w", err)
		}
		size := int64(-1)
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
		return f, func() { f.Close() }, size, nil
	default:
		return nil, nil, 0, errors.New("lisa: give at most one FILE (or - for standard input)")
	}
}

// readAll reads at most limit bytes, and says whether there was more.
func readAll(r io.Reader, limit int64) ([]byte, bool, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, false, err
	}
	if n > limit {
		return nil, true, nil
	}
	return buf.Bytes(), false, nil
}
