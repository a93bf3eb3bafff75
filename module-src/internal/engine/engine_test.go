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

func TestTLSHints(t *testing.T) {
	for _, c := range []struct {
		err  error
		hint string
	}{
		{syscall.ECONNREFUSED, ""},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), ""},
		{context.Canceled, ""},
		{errors.New("no such image"), ""},
		{errors.New(`error during connect: Head "https://h:2376/_ping": tls: failed to verify certificate: x509: certificate signed by unknown authority`), "ca_path"},
		{errors.New("x509: certificate is valid for a.test, not b.test"), "tls_hostname"},
		{errors.New("remote error: tls: certificate required"), "client_cert and client_key"},
		{errors.New("remote error: tls: bad certificate"), "client_cert"},
		{errors.New("http: server gave HTTP response to HTTPS client"), "tls and validate_certs to false"},
	} {
		hint, ok := tlsHint(c.err)
		assert.Equal(t, c.hint != "", ok, "%v", c.err)
		assert.Contains(t, hint, c.hint, "%v", c.err)
	}
}
