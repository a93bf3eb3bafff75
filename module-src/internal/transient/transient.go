// Package transient says which errors are worth another try: the one place
// that knows which failures of the engine, a BuildKit daemon or a registry
// pass (a restarting daemon, a dropped connection, a registry answering 5xx
// or throttling) and which do not (a cancelled context, a certificate that
// does not verify, credentials that are refused, a manifest that does not
// exist, a build step that failed). Callers retry with package retry.
package transient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"regexp"
	"syscall"

	"github.com/docker/docker/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var (
	// permanent are answers that do not get better by asking again.
	permanent = regexp.MustCompile(`(?i)unauthorized|no basic auth credentials|authentication required|\bdenied\b|forbidden|manifest (invalid|unknown)|name unknown|not found|does not exist|x509:|certificate (is not|is valid for|required|signed by unknown)|bad certificate|unknown certificate|server gave HTTP response to HTTPS client|first record does not look like a TLS handshake`)
	// passing are answers of an overloaded or restarting peer, and dropped connections.
	passing = regexp.MustCompile(`(?i)\b(500|502|503|504|429)\b|service unavailable|bad gateway|gateway time-?out|internal server error|too many requests|toomanyrequests|connection reset|connection refused|broken pipe|i/o timeout|tls handshake timeout|unexpected eof|\beof\b|timeout exceeded|temporar|cannot connect to the docker daemon|failed to dial grpc|error reading from server|transport is closing`)
	// stepFailed is how BuildKit reports a RUN step that exited non-zero:
	// whatever the step printed (an EOF, a 503 from curl) is its own output.
	stepFailed = regexp.MustCompile(`did not complete successfully`)
)

// Is reports whether err is worth another try.
func Is(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	msg := err.Error()
	if stepFailed.MatchString(msg) || certificate(err) || permanent.MatchString(msg) {
		return false
	}
	if client.IsErrConnectionFailed(err) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unavailable:
			return true
		case codes.Canceled, codes.DeadlineExceeded, codes.Unauthenticated, codes.PermissionDenied, codes.NotFound, codes.InvalidArgument:
			return false
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return passing.MatchString(msg)
}

// NotListening says whether a dial failed because nothing listens there now
// (a daemon restarting: its socket gone or refusing), the case worth waiting
// through once the peer has answered before.
func NotListening(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}

// certificate says whether err is a TLS certificate that does not verify.
func certificate(err error) bool {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var header tls.RecordHeaderError
	return errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid) || errors.As(err, &verify) || errors.As(err, &header)
}
