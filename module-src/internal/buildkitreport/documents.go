package buildkitreport

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// KeptScans clears the scan.trivy_report of this run's entries whose Trivy
// report is not beside the reports (it could not be fetched): the SARIF
// report then says the findings are not listed, rather than pointing at
// nothing.
func KeptScans(r *Report, reportsDir string) {
	for _, e := range r.Images() {
		p := e.Scan.TrivyReport
		if p == "" {
			continue
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(reportsDir, p)
		}
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			e.Scan.TrivyReport = ""
		}
	}
}

// scanMember is a Trivy report's name in a scans archive (buildkit_image_set's).
var scanMember = regexp.MustCompile(`^scans/[A-Za-z0-9][A-Za-z0-9._-]*\.trivy\.json$`)

// UnpackScans puts the Trivy reports of a scans archive (a gzipped tar of
// scans/<name>-<image ID>.trivy.json) beside the reports, each written
// atomically. Anything else in it is refused. The archive is removed whether
// or not it could be unpacked: it is only the transfer from the build host, and
// a report directory that ran out of space must not keep it.
func UnpackScans(archive, reportsDir string) error {
	defer os.Remove(archive)
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", archive, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", archive, err)
		}
		if h.Typeflag != tar.TypeReg || !scanMember.MatchString(h.Name) {
			return fmt.Errorf("%s: %q is not a Trivy report of a scan", archive, h.Name)
		}
		b, err := io.ReadAll(io.LimitReader(tr, 512<<20))
		if err != nil {
			return fmt.Errorf("%s: %w", archive, err)
		}
		if err := writeAtomic(filepath.Join(reportsDir, filepath.FromSlash(h.Name)), b); err != nil {
			return err
		}
	}
	return nil
}

// generic is the report as Ansible holds it: the JSON of the Report, decoded.
func generic(r *Report) (any, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// RenderJSON is the report as Ansible's to_nice_json writes it: keys sorted,
// four spaces of indentation, non-ASCII characters escaped.
func RenderJSON(r *Report) ([]byte, error) {
	v, err := generic(r)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("json_path: %w", err)
	}
	return asciiOnly(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// asciiOnly escapes every non-ASCII character of a JSON document as \uXXXX
// (UTF-16, as Python's json does with ensure_ascii). Outside strings a JSON
// document is ASCII, so this only touches string contents.
func asciiOnly(b []byte) []byte {
	var out bytes.Buffer
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r < utf8.RuneSelf:
			out.WriteByte(b[0])
		case r > 0xFFFF:
			r -= 0x10000
			fmt.Fprintf(&out, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
		b = b[size:]
	}
	return out.Bytes()
}

// RenderYAML is the report as YAML (keys sorted, two spaces of indentation),
// as Ansible's to_nice_yaml writes it.
func RenderYAML(r *Report) ([]byte, error) {
	v, err := generic(r)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(yamlNumbers(v)); err != nil {
		return nil, fmt.Errorf("yaml_path: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("yaml_path: %w", err)
	}
	return buf.Bytes(), nil
}

// yamlNumbers turns JSON numbers into YAML numbers (an int or a float), not strings.
func yamlNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case []any:
		for i := range x {
			x[i] = yamlNumbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = yamlNumbers(x[k])
		}
	}
	return v
}
