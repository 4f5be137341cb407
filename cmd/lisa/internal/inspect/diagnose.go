package inspect

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
)

// finding is what the inspector can tell about one header of a request.
type finding struct {
	Header string `json:"header"` // "X-Hmac-Signature" or "Authorization"
	OK     bool   `json:"ok"`
	Kind   string `json:"kind"`  // a stable name, such as "body-changed"
	Title  string `json:"title"` // a few words for the row
	Detail string `json:"detail"`
	// Signed is, for "body-changed", the bytes the signature does match.
	Signed string `json:"signed,omitempty"`
}

// diagnose checks the signature and the Authorization header of r on their
// own, with the server's credentials, to say why a request failed (LiSA's
// answer does not). The result holds no credential.
func (in *Inspector) diagnose(r lisatest.Request) []finding {
	var out []finding
	if r.Body != nil {
		out = append(out, diagnoseSignature(r.Body, r.Signature, in.cfg.Secret, in.cfg.APIKey))
	}
	if r.Body != nil || r.Header.Get("Authorization") != "" {
		out = append(out, diagnoseAuthorization(r.Header.Values("Authorization"), in.cfg.APIKey, in.cfg.Secret))
	}
	return out
}

func sigFinding(kind, title, detail string) finding {
	return finding{Header: lisa.SignatureHeader, OK: kind == "ok", Kind: kind, Title: title, Detail: detail}
}

// diagnoseSignature says whether sig is the signature of body under secret,
// and if not, what the client most likely did instead.
func diagnoseSignature(body []byte, sig, secret, apiKey string) finding {
	signer := lisa.NewSigner([]byte(secret))
	want := signer.Sign(body)
	switch {
	case sig == "":
		return sigFinding("missing", "signature missing",
			"The request has no X-Hmac-Signature header. Send the lowercase hex HMAC-SHA256 of the exact body bytes, keyed with the plugin's secret.")
	case len(sig) == 64 && isHex(sig) && sig != strings.ToLower(sig) && strings.ToLower(sig) == want:
		return sigFinding("upper-case", "upper-case hex",
			"The signature is right but written in upper-case hex. LiSA's documentation shows lower case in every sample; send lower case (Go's hex.EncodeToString does).")
	case len(sig) == 64 && isHex(sig) && signer.Verify(body, sig):
		return sigFinding("ok", "signature matches", "The signature is the HMAC-SHA256 of the exact body bytes.")
	case len(sig) != 64 || !isHex(sig):
		return malformedSignature(body, sig, secret)
	}
	if lisa.NewSigner([]byte(apiKey)).Verify(body, sig) {
		return sigFinding("api-key", "signed with the API key",
			"The signature matches the body signed with the API key: sign with the plugin's secret instead.")
	}
	var changed finding
	if eachCandidate(body, func(label string, b []byte) bool {
		if !signer.Verify(b, sig) {
			return false
		}
		changed = sigFinding("body-changed", "body changed after signing",
			"The signature matches the body "+label+", not the bytes that were sent: "+
				"the client signed one serialization and sent another (for example, it passed an object to its HTTP library, which encoded it again). "+
				"Serialize once, sign those bytes, send those bytes.")
		changed.Signed = string(b)
		return true
	}) {
		return changed
	}
	return sigFinding("other-secret", "signed with another secret",
		"The signature is well formed but matches neither the body nor any common re-serialization of it "+
			"(compact, indented, sorted keys, Python json.dumps defaults, a trailing newline added or removed). "+
			"The body was most likely signed with another secret: check the secret shown when the plugin was registered in the LiSA Console.")
}

// malformedSignature describes a signature that is not 64 hex digits.
func malformedSignature(body []byte, sig, secret string) finding {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	sum := mac.Sum(nil)
	if rest, ok := strings.CutPrefix(strings.ToLower(sig), "sha256="); ok {
		detail := "The signature has a \"sha256=\" prefix (the GitHub webhook convention); LiSA wants the bare hex digest."
		if rest == hex.EncodeToString(sum) {
			detail += " Without it, the signature matches."
		}
		return sigFinding("malformed", "sha256= prefix", detail)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(sig); err == nil && hmac.Equal(b, sum) {
			return sigFinding("malformed", "base64, not hex",
				"The signature is the right HMAC-SHA256 but base64-encoded; LiSA wants it hex-encoded (64 lowercase hex digits).")
		}
	}
	if len(sig) == 40 && isHex(sig) {
		m1 := hmac.New(sha1.New, []byte(secret))
		m1.Write(body)
		detail := "The signature has 40 hex digits, the length of an HMAC-SHA1; LiSA wants HMAC-SHA256 (64 hex digits)."
		if strings.EqualFold(sig, hex.EncodeToString(m1.Sum(nil))) {
			detail += " It is the HMAC-SHA1 of the body with the right secret."
		}
		return sigFinding("malformed", "HMAC-SHA1, not SHA-256", detail)
	}
	detail := fmt.Sprintf("The signature has %d characters; LiSA wants 64 hex digits.", len(sig))
	if i := strings.IndexFunc(sig, func(r rune) bool { return !strings.ContainsRune("0123456789abcdefABCDEF", r) }); i >= 0 {
		detail = fmt.Sprintf("The signature has %d characters, the one at position %d not a hex digit; LiSA wants 64 hex digits.", len(sig), i+1)
	}
	return sigFinding("malformed", "signature malformed", detail)
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

func authFinding(kind, title, detail string) finding {
	return finding{Header: "Authorization", OK: kind == "ok", Kind: kind, Title: title, Detail: detail}
}

// javaArrayRef is how Java and Scala print a byte array: an object reference.
var javaArrayRef = regexp.MustCompile(`^\[B@[0-9a-f]+$`)

// diagnoseAuthorization says whether the Authorization header carries the
// API key as documented, and if not, what is wrong with it, without ever
// showing a key.
func diagnoseAuthorization(values []string, apiKey, secret string) finding {
	if len(values) == 0 {
		return authFinding("missing", "Authorization missing", "The request has no Authorization header. Send Authorization: ApiKey <API key>.")
	}
	if len(values) > 1 {
		return authFinding("repeated", "Authorization repeated", fmt.Sprintf("The request has %d Authorization headers; send one.", len(values)))
	}
	v := values[0]
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	scheme, rest, _ := strings.Cut(v, " ")
	switch {
	case eq(v, "ApiKey "+apiKey):
		return authFinding("ok", "API key matches", "Authorization is ApiKey followed by the right key.")
	case eq(rest, "b'"+apiKey+"'") || eq(rest, `b"`+apiKey+`"`):
		return authFinding("python-bytes", "ApiKey b'…'",
			"The header reads ApiKey b'…': a Python bytes value formatted into a string (the bug in the docs' Python sample). Decode the key to str first.")
	case javaArrayRef.MatchString(rest):
		return authFinding("array-ref", "ApiKey [B@…",
			"The header reads ApiKey [B@…: a byte array's object reference, not the key (the bug in the docs' Scala sample). Convert the key to a String first.")
	case strings.Contains(v, secret):
		return authFinding("secret", "secret sent as API key",
			"The Authorization header carries the plugin's secret, not its API key. The secret only keys the signature; never send it.")
	case strings.HasSuffix(v, apiKey) && len(v) > len(apiKey):
		return authFinding("scheme", "wrong scheme",
			fmt.Sprintf("The key is right but comes after %q; LiSA wants \"ApiKey \" (that word, one space).", strings.TrimSuffix(v, apiKey)))
	case eq(v, apiKey):
		return authFinding("scheme", "ApiKey scheme missing", "The header holds the key alone; LiSA wants \"ApiKey \" before it.")
	case scheme == "ApiKey":
		return authFinding("other-key", "another API key",
			"The header has the right form, but the key is not the one this server was started with: check the API key of the plugin in the LiSA Console.")
	}
	return authFinding("malformed", "Authorization malformed", "LiSA wants Authorization: ApiKey <API key>; this header has another form.")
}
