package buildkitimageset

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/sys/atomicwriter"
)

// checkFiles refuses file names that would leave the context: each is a
// relative path inside it.
func checkFiles(option string, files map[string]string) error {
	for name := range files {
		clean := filepath.Clean(name)
		if name == "" || filepath.IsAbs(name) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
			return fmt.Errorf("%s: %q is not a path inside the build context (a relative path such as Dockerfile or conf/app.yaml)", option, name)
		}
	}
	return nil
}

// writeFiles makes dir hold files (relative path -> content): missing
// directories are made (0755), a file whose content differs is replaced
// (0644, through a temporary file and a rename, so a build never reads half a
// file), and a file that already holds its content is left as it is, mtime
// included (so the context's stat cache still knows it). It returns the
// files it wrote.
func writeFiles(dir string, files map[string]string) ([]string, error) {
	var wrote []string
	for _, name := range slices.Sorted(maps.Keys(files)) {
		p := filepath.Join(dir, filepath.Clean(name))
		content := []byte(files[name])
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, content) {
			if st, err := os.Stat(p); err == nil && st.Mode().Perm() == 0o644 {
				continue
			}
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return wrote, fmt.Errorf("files: %w", err)
		}
		if err := atomicwriter.WriteFile(p, content, 0o644); err != nil {
			return wrote, fmt.Errorf("files: write %s: %w", p, err)
		}
		wrote = append(wrote, name)
	}
	return wrote, nil
}

// differingFiles lists the files a real run would write (check mode).
func differingFiles(dir string, files map[string]string) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(files)) {
		p := filepath.Join(dir, filepath.Clean(name))
		old, err := os.ReadFile(p)
		st, serr := os.Stat(p)
		if err != nil || serr != nil || !bytes.Equal(old, []byte(files[name])) || st.Mode().Perm() != 0o644 {
			out = append(out, name)
		}
	}
	return out
}

// scratchContext is check mode's copy of a context as a real run would leave
// it: what dir holds now (files, directories and links, with their modes)
// with files written over it, in a new directory under tmp. The build is
// predicted from it; remove it afterwards.
func scratchContext(tmp, dir string, files map[string]string) (string, error) {
	scratch, err := os.MkdirTemp(tmp, "buildkit-image-set-check-")
	if err != nil {
		return "", fmt.Errorf("check mode's scratch context: %w", err)
	}
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		if err := copyTree(dir, scratch); err != nil {
			os.RemoveAll(scratch)
			return "", fmt.Errorf("check mode's scratch copy of %s: %w", dir, err)
		}
	}
	if _, err := writeFiles(scratch, files); err != nil {
		os.RemoveAll(scratch)
		return "", err
	}
	return scratch, nil
}

// copyTree copies src into dst: regular files with their content and mode,
// directories with their mode, symbolic links as links. Sockets and devices
// are left out.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.Mkdir(target, info.Mode().Perm())
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(target, b, info.Mode().Perm()); err != nil {
				return err
			}
			return os.Chmod(target, info.Mode().Perm())
		}
		return nil
	})
}
