package main

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/hello-lisa/lisa-go"
)

// maxSignRead bounds what sign and verify read.
const maxSignRead = 64 << 20

func cmdSign(e env, args []string) error {
	fs := newFlagSet("sign", "Print the lower-case hex HMAC-SHA256 of the bytes, keyed with the secret.\n"+
		"The signature covers the bytes exactly as given: no newline is added or stripped.",
		"  LISA_SECRET=… lisa sign body.json\n  printf '%s' '{\"productId\":\"123\"}' | lisa sign -secret-file secret.txt")
	creds := addCredFlags(fs, false, false)
	files, err := fs.parse(e, args)
	if err != nil {
		return err
	}
	signer, body, err := e.signerAndInput(fs.Name(), files, creds)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, signer.Sign(body))
	return nil
}

func cmdVerify(e env, args []string) error {
	fs := newFlagSet("verify", "Check a hex HMAC-SHA256 signature of the bytes; exit 0 if valid, 1 if not.",
		"  LISA_SECRET=… lisa verify -signature 10c8d5a5…3986 body.json && echo ok")
	creds := addCredFlags(fs, false, false)
	sig := fs.String("signature", "", "the hex signature to check (required)")
	files, err := fs.parse(e, args)
	if err != nil {
		return err
	}
	if *sig == "" {
		return usageError(errors.New("lisa verify: -signature is required"))
	}
	signer, body, err := e.signerAndInput(fs.Name(), files, creds)
	if err != nil {
		return err
	}
	if signer.Verify(body, strings.TrimSpace(*sig)) {
		fmt.Fprintln(e.stdout, "valid")
		return nil
	}
	fmt.Fprintln(e.stdout, "invalid")
	return errNotAllAccepted
}

// signerAndInput makes the Signer from the secret and reads the input.
func (e env) signerAndInput(cmd string, files []string, creds credFlags) (*lisa.Signer, []byte, error) {
	cr, err := e.resolve(creds)
	if err != nil {
		return nil, nil, err
	}
	stop := e.stopOnSignal()
	in, err := e.openInput(files, stop)
	if err != nil {
		return nil, nil, err
	}
	defer in.close()
	body, over, err := readAtMost(in.r, maxSignRead)
	switch {
	case err != nil:
		return nil, nil, readError(cmd, in, stop, err)
	case over:
		return nil, nil, fmt.Errorf("lisa: %s is over %d MiB", in.name, maxSignRead>>20)
	}
	return lisa.NewSigner([]byte(cr.secret)), body, nil
}

func cmdVersion(e env, args []string) error {
	fs := newFlagSet("version", "Print the version of the command and of the SDK it is built with.", "  lisa version")
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	module := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		module = bi.Main.Version // set by go install module@version
	}
	fmt.Fprintf(e.stdout, "lisa %s (module %s, %s)\n", lisa.Version, module, runtime.Version())
	return nil
}
