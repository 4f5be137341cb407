package inspect

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
)

// The page is plain HTML, CSS and JavaScript embedded in the binary: no
// CDN, no build step, and it works offline.
//
//go:embed ui
var uiFiles embed.FS

var pageTemplate = template.Must(template.ParseFS(uiFiles, "ui/index.html"))

var staticFiles = func() http.Handler {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.StripPrefix("/static/", http.FileServerFS(sub))
}()

func (in *Inspector) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'")
	if err := pageTemplate.Execute(w, in.info()); err != nil {
		http.Error(w, "lisa: rendering the page failed", http.StatusInternalServerError)
	}
}

func serveStatic(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	staticFiles.ServeHTTP(w, r)
}
