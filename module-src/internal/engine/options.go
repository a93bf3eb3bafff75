package engine

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// The checks of the connection options, run by the module runtime on every
// module's arguments before the module does anything (spec.go): each error
// is reported under the option's name.

// ParseHost reads docker_host the way community.docker (docker-py's
// parse_host) does and returns the address in the form the Go client takes:
// unix:///path or tcp://host:port, and whether the scheme asks for TLS
// (https://). It accepts unix://, tcp://, http://, https://, http+unix:// and
// a bare host:port (TCP); any other scheme is refused, naming the option,
// instead of being tried as a host name.
func ParseHost(host string) (addr string, tls bool, err error) {
	h := strings.TrimSpace(host)
	if h == "" || h == "unix://" {
		return DefaultHost, false, nil
	}
	scheme, rest, found := strings.Cut(h, "://")
	if !found {
		if strings.HasPrefix(h, "/") {
			return "", false, fmt.Errorf("%q has no scheme: a socket is given as unix://%s", host, h)
		}
		scheme, rest = "tcp", h // docker-py: a bare host:port is TCP
	}
	switch strings.ToLower(scheme) {
	case "unix", "http+unix":
		if rest == "" || !strings.HasPrefix(rest, "/") {
			return "", false, fmt.Errorf("%q: give the socket's absolute path, e.g. unix:///var/run/docker.sock", host)
		}
		return "unix://" + rest, false, nil
	case "tcp", "http", "https":
		hostport := strings.TrimSuffix(rest, "/")
		name, port, err := net.SplitHostPort(hostport)
		if err != nil || name == "" {
			return "", false, fmt.Errorf("%q is not HOST:PORT: give tcp://HOST:PORT (2375, or 2376 with TLS)", host)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", false, fmt.Errorf("%q: port %q is not a port number (1-65535)", host, port)
		}
		return "tcp://" + hostport, strings.EqualFold(scheme, "https"), nil
	case "ssh":
		return "", false, fmt.Errorf("%q: ssh:// connections are not supported; forward the engine socket or use tcp:// with TLS", host)
	case "npipe":
		return "", false, fmt.Errorf("%q: Windows named pipes are not supported (build hosts run Linux); use unix:// or tcp://", host)
	case "fd":
		return "", false, fmt.Errorf("%q: fd:// (systemd socket activation) is how a daemon listens, not how a client connects; use unix:// or tcp://", host)
	}
	return "", false, fmt.Errorf("%q: unsupported scheme %q; use unix:///path/to/docker.sock or tcp://HOST:PORT (also http://, https://)", host, scheme)
}

// CheckHost is docker_host's check, for modules that take the option on their own (buildkit_scan).
func CheckHost(v any) error {
	s, _ := v.(string)
	_, _, err := ParseHost(s)
	return err
}

// apiVersion is an engine API version as the engine's URL paths take it.
var apiVersion = regexp.MustCompile(`^[0-9]+\.[0-9]+$`)

// CheckAPIVersion accepts "auto" or MAJOR.MINOR (1.41).
func CheckAPIVersion(v string) error {
	if v == "" || v == "auto" || apiVersion.MatchString(v) {
		return nil
	}
	hint := ""
	if t := strings.TrimPrefix(strings.ToLower(v), "v"); apiVersion.MatchString(t) {
		hint = fmt.Sprintf(" (without the v: %s)", t)
	}
	return fmt.Errorf("%q is not an engine API version: give auto (negotiate) or MAJOR.MINOR, e.g. 1.41%s", v, hint)
}

func checkAPIVersion(v any) error {
	s, _ := v.(string)
	return CheckAPIVersion(s)
}

func checkTimeout(v any) error {
	n, ok := v.(int)
	if !ok {
		return errors.New("must be a whole number of seconds")
	}
	if n <= 0 {
		return fmt.Errorf("must be a positive number of seconds, got %d", n)
	}
	return nil
}
