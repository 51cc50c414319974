package exchange

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
)

// signContext separates this package's signatures from any other use of
// the same key (Ed25519ph's context string).
const signContext = "mediamatch hash list v1"

// SignatureSize is the size of a signature file: a raw Ed25519 signature.
const SignatureSize = ed25519.SignatureSize

// GenerateKey makes a partner identity.
func GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}

// MarshalPrivateKey writes a private key as PEM (PKCS #8), the form
// OpenSSL reads too.
func MarshalPrivateKey(k ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKey writes a public key as PEM (PKIX).
func MarshalPublicKey(k ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivateKey reads a private key MarshalPrivateKey wrote.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	der, err := pemBlock(data, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: private key: %v", ErrInvalid, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: a %T private key, want ed25519", ErrInvalid, k)
	}
	return ek, nil
}

// ParsePublicKey reads a public key MarshalPublicKey wrote.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	der, err := pemBlock(data, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrInvalid, err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: a %T public key, want ed25519", ErrInvalid, k)
	}
	return ek, nil
}

func pemBlock(data []byte, typ string) ([]byte, error) {
	b, rest := pem.Decode(data)
	if b == nil || b.Type != typ {
		return nil, fmt.Errorf("%w: want a PEM %q block", ErrInvalid, typ)
	}
	if len(rest) > 0 {
		if next, _ := pem.Decode(rest); next != nil {
			return nil, fmt.Errorf("%w: more than one PEM block", ErrInvalid)
		}
	}
	return b.Bytes, nil
}

// Sign signs the bytes r holds, read once: Ed25519ph (the pre-hashed
// variant, over their SHA-512) with this package's context, so a list of
// any length is signed without holding it.
func Sign(k ed25519.PrivateKey, r io.Reader) ([]byte, error) {
	digest, err := digestOf(r)
	if err != nil {
		return nil, err
	}
	return k.Sign(nil, digest, &ed25519.Options{Hash: crypto.SHA512, Context: signContext})
}

// Verify checks a signature Sign made over the bytes r holds; a changed
// byte or another key fails with ErrBadSignature.
func Verify(k ed25519.PublicKey, r io.Reader, sig []byte) error {
	if len(sig) != SignatureSize {
		return fmt.Errorf("%w: a signature of %d bytes, want %d", ErrBadSignature, len(sig), SignatureSize)
	}
	digest, err := digestOf(r)
	if err != nil {
		return err
	}
	if err := ed25519.VerifyWithOptions(k, digest, sig, &ed25519.Options{Hash: crypto.SHA512, Context: signContext}); err != nil {
		return fmt.Errorf("%w: the list was changed after it was signed, or signed with another key", ErrBadSignature)
	}
	return nil
}

func digestOf(r io.Reader) ([]byte, error) {
	h := sha512.New()
	if _, err := io.Copy(h, r); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
