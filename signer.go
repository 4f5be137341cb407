package lisa

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"
)

// SignatureHeader is the request header that carries the hex HMAC-SHA256 of
// the body.
const SignatureHeader = "X-Hmac-Signature"

// RequestIDHeader is the request header that carries the notification's
// unique id. Every attempt of one Send carries the same id.
const RequestIDHeader = "X-Request-Id"

// Signer computes and checks HMAC-SHA256 signatures keyed with a plugin
// secret. It keeps keyed hash states in a pool, so signing does not redo the
// key schedule for every body. A Signer is safe for concurrent use.
//
// The zero Signer is not usable; create one with NewSigner.
type Signer struct {
	pool sync.Pool // of *macState
}

// macState is one keyed HMAC with a scratch buffer for its sum.
type macState struct {
	mac hash.Hash
	sum [sha256.Size]byte
}

// NewSigner returns a Signer keyed with a copy of secret. An empty secret is
// a valid (if weak) HMAC key; NewClient refuses it.
func NewSigner(secret []byte) *Signer {
	key := append([]byte(nil), secret...)
	s := &Signer{}
	s.pool.New = func() any {
		return &macState{mac: hmac.New(sha256.New, key)}
	}
	return s
}

// Sign returns the lowercase hex HMAC-SHA256 of body. A nil or zero Signer
// returns "".
func (s *Signer) Sign(body []byte) string {
	if s == nil || s.pool.New == nil {
		return ""
	}
	st := s.pool.Get().(*macState)
	st.mac.Reset()
	st.mac.Write(body)
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], st.mac.Sum(st.sum[:0]))
	s.pool.Put(st)
	return string(out[:])
}

// Verify reports whether signature is the hex HMAC-SHA256 of body. Either hex
// case is accepted; anything that is not exactly 64 hex digits is false. The
// MACs are compared in constant time.
func (s *Signer) Verify(body []byte, signature string) bool {
	if s == nil || s.pool.New == nil || len(signature) != 2*sha256.Size {
		return false
	}
	var digits [2 * sha256.Size]byte
	copy(digits[:], signature)
	var want [sha256.Size]byte
	if _, err := hex.Decode(want[:], digits[:]); err != nil {
		return false
	}
	st := s.pool.Get().(*macState)
	st.mac.Reset()
	st.mac.Write(body)
	ok := hmac.Equal(st.mac.Sum(st.sum[:0]), want[:])
	s.pool.Put(st)
	return ok
}

// String returns a fixed description: a Signer never prints its key.
func (s *Signer) String() string { return "lisa.Signer{key: redacted}" }

// GoString returns the same as String, for %#v.
func (s *Signer) GoString() string { return s.String() }
