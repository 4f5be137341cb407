package lisatest

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"

	"github.com/hello-lisa/lisa-go"
)

// check runs the checks, in the order of the package documentation, and
// records an accepted notification. It returns the status and the reason.
func (h *Handler) check(r *http.Request, req *Request) (int, string) {
	if req.Path != h.path {
		return http.StatusNotFound, "no such endpoint: want POST " + h.path
	}
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "method must be POST"
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, lisa.MaxPayloadBytes+1))
	if err != nil {
		return http.StatusBadRequest, "could not read the body"
	}
	req.Body = body
	if len(body) > lisa.MaxPayloadBytes {
		req.Body = nil // not kept: the point of the limit
		return http.StatusRequestEntityTooLarge, "body is over the 192 KiB limit"
	}
	sigs := r.Header.Values(lisa.SignatureHeader)
	switch {
	case len(sigs) == 0 || req.Signature == "":
		return http.StatusBadRequest, "missing X-Hmac-Signature header"
	case len(sigs) > 1:
		return http.StatusBadRequest, "more than one X-Hmac-Signature header"
	case !isLowerHex64(req.Signature):
		return http.StatusBadRequest, "malformed X-Hmac-Signature: want 64 lower-case hex digits"
	}
	switch auths := r.Header.Values("Authorization"); {
	case len(auths) > 1:
		return http.StatusUnauthorized, "more than one Authorization header"
	case len(auths) == 0 || auths[0] != *h.auth:
		return http.StatusUnauthorized, "invalid API key: want Authorization: ApiKey <key>"
	}
	if !h.signer.Verify(body, req.Signature) {
		return http.StatusUnauthorized, "signature does not match the body"
	}
	if !isJSONMediaType(r.Header.Values("Content-Type")) {
		return http.StatusUnsupportedMediaType, "Content-Type must be application/json"
	}
	if !json.Valid(body) {
		return http.StatusBadRequest, "body is not valid JSON"
	}
	h.mu.Lock()
	h.accepted++
	if !h.noRecords {
		h.received = append(h.received, Notification{
			Body: bytes.Clone(body), Signature: req.Signature, RequestID: req.RequestID,
			Header: req.Header, Time: req.Time,
		})
	}
	h.mu.Unlock()
	return http.StatusAccepted, "accepted"
}

// isLowerHex64 reports whether s is 64 lower-case hex digits, as every
// sample of the API documentation sends.
func isLowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// isJSONMediaType reports whether the request has exactly one Content-Type
// and it is application/json (parameters such as charset=utf-8 allowed).
func isJSONMediaType(values []string) bool {
	if len(values) != 1 {
		return false
	}
	mt, _, err := mime.ParseMediaType(values[0])
	return err == nil && mt == "application/json"
}
