package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// chromium opens an HTML file from disk in Debian's headless Chromium, saves a
// screenshot at the given window size to png, and returns the rendered DOM and
// Chromium's network log (to check that nothing was fetched).
func chromium(t *testing.T, html, png, size string) (dom, netlog string) {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (Debian package chromium): %v", err)
	}
	profile := t.TempDir()
	netlogPath := filepath.Join(profile, "netlog.json")
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + profile, "--window-size=" + size, "--hide-scrollbars"}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(base, "--log-net-log="+netlogPath, "--dump-dom", "file://"+html)...).Output()
	require.NoError(t, err, "chromium --dump-dom")
	shot, err := exec.CommandContext(ctx, bin, append(base, "--screenshot="+png, "file://"+html)...).CombinedOutput()
	require.NoError(t, err, string(shot))
	_, err = os.Stat(png)
	require.NoError(t, err, "no screenshot")
	nl, _ := os.ReadFile(netlogPath)
	return string(out), string(nl)
}

var remoteURL = regexp.MustCompile(`"url"\s*:\s*"(?:https?|wss?|ftp)://([^/"]+)`)

// chromiumOwn are the hosts Chromium itself calls (updates, time, accounts) even
// for a blank page; anything else in the net log was asked for by the page.
var chromiumOwn = regexp.MustCompile(`(^|\.)(google\.com|googleapis\.com|gstatic\.com|gvt1\.com)(:\d+)?$`)

// fetchedHosts lists the remote hosts in a net log that are not Chromium's own.
func fetchedHosts(netlog string) []string {
	var out []string
	for _, m := range remoteURL.FindAllStringSubmatch(netlog, -1) {
		if !chromiumOwn.MatchString(m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}
