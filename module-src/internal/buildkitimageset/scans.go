package buildkitimageset

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/moby/sys/atomicwriter"
)

// scansArchive packs the Trivy report of each scan that came to a verdict
// into one gzipped tar beside them (scan.report_dir), each under the name it
// is kept by beside the reports (scans/<name>-<image ID>.trivy.json): the
// role fetches one file to the controller, where buildkit_report unpacks it,
// instead of one per image. "" when no scan came to a verdict.
func (s *set) scansArchive() (string, error) {
	if s.o.Scan == nil || s.o.Scan.ReportDir == "" {
		return "", nil
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	n := 0
	for _, it := range s.items {
		if it.trivy == "" {
			continue
		}
		b, err := os.ReadFile(it.trivy)
		if err != nil {
			return "", fmt.Errorf("scan.report_dir: %w", err)
		}
		h := &tar.Header{Name: trivyName(it), Mode: 0o644, Size: int64(len(b)), ModTime: time.Now(), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(h); err != nil {
			return "", err
		}
		if _, err := tw.Write(b); err != nil {
			return "", err
		}
		n++
	}
	if n == 0 {
		return "", nil
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	path := filepath.Join(s.o.Scan.ReportDir, "trivy-reports.tar.gz")
	if err := atomicwriter.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("scan.report_dir: %w", err)
	}
	return path, nil
}
