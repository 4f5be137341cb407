package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/hello-lisa/lisa-go"
)

func runSign(e env) int {
	fs := newFlagSet(e, "sign", "sign [flags] [FILE|-]",
		"  LISA_SECRET=… lisa sign body.json\n  printf '%s' '{\"productId\":\"123\"}' | lisa sign -secret-file secret.txt\n\n"+
			"The signature covers the bytes exactly as given: no newline is added or stripped.")
	creds := addCredFlags(fs, false)
	if code := parse(fs, e.args); code >= 0 {
		return code
	}
	signer, body, code := e.signerAndInput(fs, creds)
	if code >= 0 {
		return code
	}
	fmt.Fprintln(e.stdout, signer.Sign(body))
	return exitOK
}

func runVerify(e env) int {
	fs := newFlagSet(e, "verify", "verify -signature HEX [flags] [FILE|-]",
		"  LISA_SECRET=… lisa verify -signature 10c8d5a5…3986 body.json && echo ok")
	creds := addCredFlags(fs, false)
	sig := fs.String("signature", "", "the hex signature to check (required)")
	if code := parse(fs, e.args); code >= 0 {
		return code
	}
	if *sig == "" {
		fmt.Fprintln(e.stderr, "lisa verify: -signature is required")
		fs.Usage()
		return exitUsage
	}
	signer, body, code := e.signerAndInput(fs, creds)
	if code >= 0 {
		return code
	}
	if signer.Verify(body, strings.TrimSpace(*sig)) {
		fmt.Fprintln(e.stdout, "valid")
		return exitOK
	}
	fmt.Fprintln(e.stdout, "invalid")
	return exitFailed
}

// signerAndInput makes the Signer from the secret and reads the input; a
// code of 0 or more means stop with it.
func (e env) signerAndInput(fs *flag.FlagSet, creds credFlags) (*lisa.Signer, []byte, int) {
	secret, err := e.secret(creds)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return nil, nil, exitUsage
	}
	body, code := e.readInput(fs)
	return lisa.NewSigner([]byte(secret)), body, code
}

// readInput reads the whole FILE or standard input, up to maxSignRead.
func (e env) readInput(fs *flag.FlagSet) ([]byte, int) {
	in, closeIn, _, err := e.input(fs)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return nil, exitUsage
	}
	defer closeIn()
	body, tooLong, err := readAll(in, maxSignRead)
	switch {
	case err != nil:
		fmt.Fprintln(e.stderr, "lisa: read input:", err)
		return nil, exitFailed
	case tooLong:
		fmt.Fprintf(e.stderr, "lisa: input is over %d MiB\n", maxSignRead>>20)
		return nil, exitFailed
	}
	return body, -1
}
