package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTransientErrorsAndTLSHints(t *testing.T) {
	for _, c := range []struct {
		err       error
		transient bool
		hint      string
	}{
		{syscall.ECONNREFUSED, true, ""},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true, ""},
		{context.Canceled, false, ""},
		{errors.New("no such image"), false, ""},
		{errors.New(`error during connect: Head "https://h:2376/_ping": tls: failed to verify certificate: x509: certificate signed by unknown authority`), false, "ca_path"},
		{errors.New("x509: certificate is valid for a.test, not b.test"), false, "tls_hostname"},
		{errors.New("remote error: tls: certificate required"), false, "client_cert and client_key"},
		{errors.New("remote error: tls: bad certificate"), false, "client_cert"},
		{errors.New("http: server gave HTTP response to HTTPS client"), false, "tls and validate_certs to false"},
	} {
		assert.Equal(t, c.transient, IsTransient(c.err), "%v", c.err)
		hint, ok := tlsHint(c.err)
		assert.Equal(t, c.hint != "", ok, "%v", c.err)
		assert.Contains(t, hint, c.hint, "%v", c.err)
	}
}
