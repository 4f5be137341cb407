package lisa_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/hello-lisa/lisa-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// signerVectors are known answers for hex HMAC-SHA256.
var signerVectors = []struct {
	source string
	key    []byte
	data   []byte
	want   string
}{
	// RFC 4231, section 4.2 to 4.8 (test case 5 truncates its output and is
	// left out).
	{"RFC 4231 test case 1", bytes.Repeat([]byte{0x0b}, 20), []byte("Hi There"),
		"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
	{"RFC 4231 test case 2", []byte("Jefe"), []byte("what do ya want for nothing?"),
		"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
	{"RFC 4231 test case 3", bytes.Repeat([]byte{0xaa}, 20), bytes.Repeat([]byte{0xdd}, 50),
		"773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
	{"RFC 4231 test case 4", seq(1, 25), bytes.Repeat([]byte{0xcd}, 50),
		"82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
	{"RFC 4231 test case 6", bytes.Repeat([]byte{0xaa}, 131), []byte("Test Using Larger Than Block-Size Key - Hash Key First"),
		"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
	{"RFC 4231 test case 7", bytes.Repeat([]byte{0xaa}, 131),
		[]byte("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."),
		"9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
	// The subscription-signature example published in Lighthouse (Shift4)'s
	// developer docs, quoted in shared/docs/ingest-api.md.
	{"Lighthouse subscription example", []byte("de17f1f0-4816-157b-97ae-eb4b0f656a1f"),
		[]byte(`23b08412a29bbe8625967e16c1a41dc9POST/subscriptions/order{ "event": {....}, "payload": {....} }1554456360`),
		"0ef94411f7e06fd28906719f3f1366585c50814040fec5f9fe0309a2e83e277b"},
	// The LiSA docs' example body, signed by OpenSSL 3 with
	// `printf '%s' '{"productId":"123","price":19.99}' | openssl dgst -sha256 -hmac your-secret`.
	{"LiSA docs example body (openssl)", []byte("your-secret"), []byte(`{"productId":"123","price":19.99}`),
		"10c8d5a599836c0d387f6e5f62765eb2eeeb14491ce2e06ef5ff5814d54d3986"},
}

func seq(from, to byte) []byte {
	var b []byte
	for i := from; i <= to; i++ {
		b = append(b, i)
	}
	return b
}

func TestSignerKnownAnswers(t *testing.T) {
	for _, v := range signerVectors {
		t.Run(v.source, func(t *testing.T) {
			s := lisa.NewSigner(v.key)
			// Twice: the second call runs on a pooled, reset state.
			assert.Equal(t, v.want, s.Sign(v.data))
			assert.Equal(t, v.want, s.Sign(v.data))
			assert.True(t, s.Verify(v.data, v.want))
			assert.True(t, s.Verify(v.data, strings.ToUpper(v.want)), "upper-case hex is accepted")
		})
	}
}

func TestSignerVerifyRejects(t *testing.T) {
	body := []byte(`{"productId":"123","price":19.99}`)
	s := lisa.NewSigner([]byte("your-secret"))
	good := s.Sign(body)
	other := lisa.NewSigner([]byte("another-secret")).Sign(body)
	flipped := []byte(good)
	flipped[10] ^= 1 // '…' → another hex digit or a non-hex byte; either way wrong
	cases := map[string]string{
		"empty":           "",
		"short":           good[:63],
		"long":            good + "0",
		"non-hex":         "zz" + good[2:],
		"other key":       other,
		"one bit off":     string(flipped),
		"spaces":          " " + good[1:],
		"double-encoded":  hex.EncodeToString([]byte(good))[:64],
		"signature of {}": s.Sign([]byte(`{}`)),
	}
	for name, sig := range cases {
		t.Run(name, func(t *testing.T) {
			assert.False(t, s.Verify(body, sig))
		})
	}
	assert.False(t, s.Verify(append(body, ' '), good), "a changed body fails")
	assert.True(t, s.Verify(body, good))
}

func TestSignerCopiesKey(t *testing.T) {
	key := []byte("secret")
	s := lisa.NewSigner(key)
	want := s.Sign([]byte("x"))
	key[0] = 'X'
	assert.Equal(t, want, s.Sign([]byte("x")), "changing the caller's slice must not change the key")
}

func TestSignerZeroAndNil(t *testing.T) {
	var zero lisa.Signer
	var nilSigner *lisa.Signer
	assert.Equal(t, "", zero.Sign([]byte("x")))
	assert.False(t, zero.Verify([]byte("x"), strings.Repeat("0", 64)))
	assert.Equal(t, "", nilSigner.Sign([]byte("x")))
	assert.False(t, nilSigner.Verify([]byte("x"), strings.Repeat("0", 64)))
}

func TestSignerConcurrent(t *testing.T) {
	s := lisa.NewSigner([]byte("Jefe"))
	want := signerVectors[1].want
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				// Interleave other bodies so pooled states are reused dirty.
				s.Sign([]byte(fmt.Sprint(g, i)))
				if got := s.Sign([]byte("what do ya want for nothing?")); got != want {
					errs <- got
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for got := range errs {
		t.Errorf("concurrent Sign = %s, want %s", got, want)
	}
}

func TestSignerDoesNotPrintKey(t *testing.T) {
	s := lisa.NewSigner([]byte("super-secret-key"))
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, s)
		assert.NotContains(t, out, "super-secret-key", format)
	}
}

func FuzzVerify(f *testing.F) {
	s := lisa.NewSigner([]byte("fuzz-secret"))
	f.Add([]byte(`{"productId":"123","price":19.99}`), "")
	f.Add([]byte(`{}`), s.Sign([]byte(`{}`)))
	f.Add([]byte(``), strings.Repeat("g", 64))
	f.Add([]byte("\x00\xff"), strings.ToUpper(s.Sign([]byte("\x00\xff"))))
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		want := s.Sign(body)
		got := s.Verify(body, sig)
		// Verify is true exactly for the right signature, in either case.
		require.Equal(t, strings.EqualFold(sig, want), got, "Verify(%q, %q)", body, sig)
		require.True(t, s.Verify(body, want))
	})
}
