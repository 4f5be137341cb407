package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hello-lisa/lisa-go/cmd/lisa/internal/inspect"
	"github.com/hello-lisa/lisa-go/lisatest"
)

func cmdServe(e env, args []string) error {
	fs := newFlagSet("serve", "Run a local fake of the ingest endpoint that checks requests as LiSA documents them,\n"+
		"printing one line per request. With -ui, the same address also serves an inspector page.\n"+
		"It listens on loopback only, unless -allow-remote is given.",
		"  LISA_PLUGIN_ID=demo-plugin LISA_API_KEY=demo-key LISA_SECRET=demo-secret lisa serve -ui\n"+
			"  # then, in another terminal, with the same credentials:\n"+
			"  export LISA_BASE_URL=http://127.0.0.1:8080   # as printed\n"+
			"  lisa send product.json")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (a loopback address unless -allow-remote)")
	allowRemote := fs.Bool("allow-remote", false, "allow a non-loopback -addr (the endpoint has no TLS)")
	ui := fs.Bool("ui", false, "serve the inspector page at / on the same address")
	keep := fs.Int("keep", inspect.DefaultKeep, "with -ui: how many requests the page keeps (fewer when they pass 32 MiB in all)")
	recordPath := fs.String("record", "", "with -ui: append every accepted body to this file as NDJSON")
	creds := addCredFlags(fs, true, false)
	files, err := fs.parse(e, args)
	if err != nil {
		return err
	}
	if len(files) > 0 {
		return usageError(fmt.Errorf("lisa serve: unexpected argument %q", files[0]))
	}
	cr, err := e.resolve(creds)
	if err != nil {
		return err
	}
	if !*ui && (*recordPath != "" || *keep != inspect.DefaultKeep) {
		return usageError(errors.New("lisa serve: -keep and -record go with -ui"))
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return usageError(fmt.Errorf("lisa serve: -addr: %w", err))
	}
	if ip := net.ParseIP(host); !*allowRemote && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usageError(fmt.Errorf("lisa serve: -addr %s is not a loopback address; add -allow-remote to listen there", *addr))
	}

	var mu sync.Mutex // one line per request, never interleaved
	var in *inspect.Inspector
	printLine := func(r lisatest.Request) {
		mu.Lock()
		defer mu.Unlock()
		reqID := r.RequestID
		if reqID == "" {
			reqID = "-"
		}
		fmt.Fprintf(e.stdout, "%s %s %d %s\n", r.Time.UTC().Format(time.RFC3339Nano), reqID, r.Status, r.Reason)
		in.Observe(r) // a nil Inspector ignores it
	}
	h := lisatest.NewHandler(cr.pluginID, cr.apiKey, cr.secret, lisatest.WithoutRecords(), lisatest.WithObserver(printLine))
	var handler http.Handler = h
	if *ui {
		var record *os.File
		if *recordPath != "" {
			if record, err = os.OpenFile(*recordPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
				return usageError(fmt.Errorf("lisa serve: -record: %w", err))
			}
			defer record.Close()
		}
		if len(cr.apiKey) < inspect.MinCredentialLen || len(cr.secret) < inspect.MinCredentialLen {
			fmt.Fprintf(e.stderr, "lisa serve: warning: the API key or the secret is shorter than %d characters, too short to be real: "+
				"the page masks it only in the Authorization header, not wherever its letters occur\n", inspect.MinCredentialLen)
		}
		cfg := inspect.Config{PluginID: cr.pluginID, APIKey: cr.apiKey, Secret: cr.secret, Handler: h, Keep: *keep}
		if record != nil {
			cfg.Record = record
		}
		if in, err = inspect.New(cfg); err != nil {
			return usageError(err)
		}
		defer in.Close()
		handler = in.Handler()
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("lisa serve: %w", err)
	}
	// No WriteTimeout: it would cut the inspector's event stream.
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	if in != nil {
		srv.RegisterOnShutdown(in.Close)
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(e.stdout, "lisa serve: listening on %s\n", base)
	fmt.Fprintf(e.stdout, "lisa serve: export LISA_BASE_URL=%s\n", base)
	if in != nil {
		fmt.Fprintf(e.stdout, "lisa serve: inspector at %s/\n", base)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("lisa serve: %w", err)
	case <-e.signals:
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	total, accepted := h.Counts()
	fmt.Fprintf(e.stderr, "lisa serve: %d requests, %d accepted\n", total, accepted)
	return nil
}
