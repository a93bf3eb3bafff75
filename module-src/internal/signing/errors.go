package signing

import (
	"fmt"
	"net/http"
	"strings"
)

// InputError is a bad input (an image reference, a predicate): the caller's
// to fix, never retried.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

// NotFoundError says the image is not in its registry.
type NotFoundError struct{ Image string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s: no such image in the registry (push it first)", e.Image)
}

// VerifyError is a failed verification: the image (and the digest it
// resolved to), the keys tried and what is wrong.
type VerifyError struct {
	Image  string
	Digest string
	Keys   []string
	Reason string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("verification of %s (%s) with %s failed: %s", e.Image, e.Digest, strings.Join(e.Keys, ", "), e.Reason)
}

// AuthError says the registry refused the request for want of credentials.
type AuthError struct {
	Registry string
	Image    string
	Status   int
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%s: the registry %s refused access (%d %s): log in to it (docker login) or give credentials",
		e.Image, e.Registry, e.Status, http.StatusText(e.Status))
}
