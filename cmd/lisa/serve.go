package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/hello-lisa/lisa-go/lisatest"
)

func runServe(e env) int {
	fs := newFlagSet(e, "serve", "serve [-addr 127.0.0.1:8080] [flags]",
		"  LISA_PLUGIN_ID=p LISA_API_KEY=k LISA_SECRET=s lisa serve -addr 127.0.0.1:8080\n"+
			"  # then, in another terminal, with the same credentials:\n"+
			"  LISA_BASE_URL=http://127.0.0.1:8080 lisa send product.json")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (loopback by default)")
	creds := addCredFlags(fs, true)
	if code := parse(fs, e.args); code >= 0 {
		return code
	}
	id, _ := e.value("plugin-id", creds.pluginID, nil, "LISA_PLUGIN_ID")
	key, err := e.value("api-key", creds.apiKey, creds.apiKeyFile, "LISA_API_KEY")
	if err == nil {
		_, err = e.secret(creds)
	}
	if err == nil && (id == "" || key == "") {
		err = errors.New("lisa serve: set LISA_PLUGIN_ID and LISA_API_KEY (and LISA_SECRET): the server checks requests against them")
	}
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitUsage
	}
	secret, _ := e.secret(creds)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(e.stderr, "lisa serve:", err)
		return exitFailed
	}
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
		fmt.Fprintf(e.stderr, "lisa serve: warning: listening on %s, not only on loopback\n", ln.Addr())
	}
	var mu sync.Mutex // one line per request, never interleaved
	h := lisatest.NewHandler(id, key, secret, lisatest.WithoutRecords(), lisatest.WithObserver(func(r lisatest.Request) {
		mu.Lock()
		defer mu.Unlock()
		reqID := r.RequestID
		if reqID == "" {
			reqID = "-"
		}
		fmt.Fprintf(e.stdout, "%s %s %d %s\n", r.Time.UTC().Format(time.RFC3339Nano), reqID, r.Status, r.Reason)
	}))
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(e.stdout, "lisa serve: listening on http://%s/plugin-notifications/%s/updates\n", ln.Addr(), id)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		fmt.Fprintln(e.stderr, "lisa serve:", err)
		return exitFailed
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	total, accepted := h.Counts()
	fmt.Fprintf(e.stderr, "lisa serve: %d requests, %d accepted\n", total, accepted)
	return exitOK
}
