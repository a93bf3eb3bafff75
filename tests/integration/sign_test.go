package integration

// buildkit_sign against the local registry (Debian's docker-registry, no
// referrers API) and a registry with the referrers API (go-containerregistry's,
// in this process), checked both ways against the real cosign CLI, v3 and v2
// (COSIGN and COSIGN2, built by .ci/tools/build.sh cosign / cosign2).

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cosignCLI is one pinned cosign binary.
type cosignCLI struct {
	version string // v2 or v3
	path    string
	extra   []string // flags for its verify commands
}

// cosignBinaries are the cosign CLIs the tests check against (COSIGN: v3,
// COSIGN2: v2, as tests/run sets them from .ci/tools/build.sh).
func cosignBinaries(t testing.TB) []cosignCLI {
	t.Helper()
	var out []cosignCLI
	for _, c := range []struct{ env, version string }{{"COSIGN", "v3"}, {"COSIGN2", "v2"}} {
		p := os.Getenv(c.env)
		if p == "" {
			t.Fatalf("%s is not set: run .ci/tools/build.sh %s", c.env, map[string]string{"v3": "cosign", "v2": "cosign2"}[c.version])
		}
		out = append(out, cosignCLI{version: c.version, path: p})
	}
	return out
}

// run runs cosign offline (no TUF, Rekor or Fulcio is reachable) in dir with
// the key password in COSIGN_PASSWORD, and returns its output and error.
func (c cosignCLI) run(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if len(c.extra) > 0 && len(args) > 0 && strings.HasPrefix(args[0], "verify") {
		args = append(append([]string{args[0]}, c.extra...), args[1:]...)
	}
	cmd := exec.CommandContext(ctx, c.path, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD="+keyPassword, "HOME="+dir, "TUF_ROOT="+filepath.Join(dir, "tuf"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// signArgs are the flags with which each cosign signs offline with a key.
func (c cosignCLI) signArgs() []string {
	if c.version == "v3" {
		return []string{"--tlog-upload=false", "--use-signing-config=false", "-y"}
	}
	return []string{"--tlog-upload=false", "-y"}
}

const keyPassword = "sign-pw-4b1d"

// keyFiles makes a key pair with cosign generate-key-pair (v3) and a file
// holding its password; it returns the directory and the paths.
func keyFiles(t testing.TB) (dir, key, pub, passwordFile string) {
	t.Helper()
	dir = t.TempDir()
	out, err := cosignBinaries(t)[0].run(t, dir, "generate-key-pair", "--output-key-prefix", "our")
	require.NoError(t, err, out)
	key, pub, passwordFile = filepath.Join(dir, "our.key"), filepath.Join(dir, "our.pub"), filepath.Join(dir, "password")
	require.NoError(t, os.WriteFile(passwordFile, []byte(keyPassword+"\n"), 0o600))
	return dir, key, pub, passwordFile
}

// pushRandomImage pushes a small random image to ref and returns its digest.
func pushRandomImage(t testing.TB, ref string) string {
	t.Helper()
	img, err := random.Image(512, 2)
	require.NoError(t, err)
	r, err := name.ParseReference(ref)
	require.NoError(t, err)
	require.NoError(t, remote.Write(r, img))
	d, err := img.Digest()
	require.NoError(t, err)
	return d.String()
}

// referrersRegistry starts a registry that serves the OCI 1.1 referrers API
// on 127.0.0.1 and returns its address.
func referrersRegistry(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))),
		ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// emptyTrustedRoot is a Sigstore trusted root with no transparency log, CA or TSA.
const emptyTrustedRoot = `{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`

const cycloneDXSBOM = `{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[{"type":"library","name":"busybox","version":"1.35.0"}]}`

// gatePredicate is what the role attests after the gates: cosign's vuln predicate.
var gatePredicate = map[string]any{
	"invocation": map[string]any{"uri": "jenkins_ha.buildkit.jenkins_images", "event_id": "", "builder.id": "", "parameters": nil},
	"scanner":    map[string]any{"uri": "pkg:github/aquasecurity/trivy", "version": "0.74.0", "db": map[string]any{"uri": "", "version": ""}, "result": map[string]any{"passed": true, "fail_on": []any{"CRITICAL"}}},
	"metadata":   map[string]any{"scanStartedOn": "2026-12-01T10:00:00Z", "scanFinishedOn": "2026-12-01T10:00:01Z"},
}

// TestSignedImageVerifiesWithCosign: what buildkit_sign signs and attests,
// cosign verify and cosign verify-attestation accept (v3 and v2), on a
// registry without the referrers API and on one with it.
func TestSignedImageVerifiesWithCosign(t *testing.T) {
	requireRegistries(t)
	cosigns := cosignBinaries(t)
	for _, reg := range []struct{ name, addr string }{{"tags", plainRegistry}, {"referrers", referrersRegistry(t)}} {
		t.Run(reg.name, func(t *testing.T) {
			dir, key, pub, pwFile := keyFiles(t)
			image := reg.addr + "/" + randomRepo() + ":1"
			digest := pushRandomImage(t, image)
			sbom := filepath.Join(dir, "sbom.cdx.json")
			require.NoError(t, os.WriteFile(sbom, []byte(cycloneDXSBOM), 0o644))
			args := map[string]any{"image": image, "digest": digest, "key": key, "key_password_file": pwFile,
				"annotations": map[string]any{"io.jenkins-ha.gate": "passed"},
				"attestations": []any{
					map[string]any{"type": "cyclonedx", "predicate": sbom},
					map[string]any{"type": "vuln", "predicate_data": gatePredicate},
				}}

			check := run(t, "buildkit_sign", args, checkMode)
			require.False(t, check.failed(), check.msg())
			assert.True(t, check.changed(), "check mode predicts the signing")
			first := run(t, "buildkit_sign", args)
			require.False(t, first.failed(), first.msg())
			assert.True(t, first.changed())
			assert.Equal(t, digest, first["digest"])
			sig := first["signature"].(map[string]any)
			assert.Equal(t, reg.name == "referrers", sig["referrer"] != nil, "a bundle referrer where the registry serves the API: %v", sig)
			assert.NotContains(t, toJSON(t, first), keyPassword)
			second := run(t, "buildkit_sign", args)
			require.False(t, second.failed(), second.msg())
			assert.False(t, second.changed(), "signing the same digest again adds nothing")

			for _, c := range cosigns {
				if c.version == "v2" && reg.name == "referrers" {
					// cosign v2 verifies Sigstore bundles only with a trusted root, even with
					// --key: offline, one that lists no services (as buildkit_sign's docs say).
					root := filepath.Join(dir, "trusted-root.json")
					require.NoError(t, os.WriteFile(root, []byte(emptyTrustedRoot), 0o644))
					c.extra = []string{"--trusted-root", root}
				}
				out, err := c.run(t, dir, "verify", "--key", pub, "--insecure-ignore-tlog", "-a", "io.jenkins-ha.gate=passed", image)
				assert.NoError(t, err, "cosign %s verify: %s", c.version, out)
				for _, typ := range []string{"cyclonedx", "vuln"} {
					out, err := c.run(t, dir, "verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", typ, image)
					assert.NoError(t, err, "cosign %s verify-attestation --type %s: %s", c.version, typ, out)
				}
			}
			// And our own verification, with the gate's verdict.
			v := run(t, "buildkit_sign", map[string]any{"image": image, "state": "verified", "public_key": []any{pub},
				"attestations": []any{map[string]any{"type": "cyclonedx"},
					map[string]any{"type": "vuln", "match": map[string]any{"scanner.result.passed": true}}}})
			require.False(t, v.failed(), v.msg())
			assert.Equal(t, true, v["verified"])
		})
	}
}

// TestVerifyAcceptsCosignAndRejectsTheRest: buildkit_sign verifies what
// cosign sign/attest --key made (v3: a Sigstore bundle through the referrers
// fallback tag; v2: the .sig/.att tags), and refuses a wrong key, a tag moved
// to another image and an image without a signature, each saying so.
func TestVerifyAcceptsCosignAndRejectsTheRest(t *testing.T) {
	requireRegistries(t)
	for _, c := range cosignBinaries(t) {
		t.Run(c.version, func(t *testing.T) {
			dir := t.TempDir()
			out, err := c.run(t, dir, "generate-key-pair")
			require.NoError(t, err, out)
			pub := filepath.Join(dir, "cosign.pub")
			_, _, otherPub, _ := keyFiles(t)
			sbom := filepath.Join(dir, "sbom.cdx.json")
			require.NoError(t, os.WriteFile(sbom, []byte(cycloneDXSBOM), 0o644))

			image := plainRegistry + "/" + randomRepo() + ":1"
			digest := pushRandomImage(t, image)
			out, err = c.run(t, dir, append(append([]string{"sign", "--key", "cosign.key"}, c.signArgs()...), image)...)
			require.NoError(t, err, out)
			out, err = c.run(t, dir, append(append([]string{"attest", "--key", "cosign.key", "--type", "cyclonedx", "--predicate", sbom}, c.signArgs()...), image)...)
			require.NoError(t, err, out)

			verify := func(keys ...string) result {
				ks := make([]any, len(keys))
				for i, k := range keys {
					ks[i] = k
				}
				return run(t, "buildkit_sign", map[string]any{"image": image, "state": "verified", "public_key": ks,
					"attestations": []any{map[string]any{"type": "cyclonedx"}}})
			}
			ok := verify(pub)
			require.False(t, ok.failed(), ok.msg())
			assert.Equal(t, digest, ok["digest"])
			// cosign v3 writes a Sigstore bundle referrer (here through the fallback tag: this
			// registry has no referrers API); v2 writes the .sig/.att tags.
			want := map[string]string{"v3": "referrer", "v2": "tag"}[c.version]
			for _, key := range []string{"signatures", "attestations"} {
				var formats []string
				for _, s := range ok[key].([]any) {
					formats = append(formats, s.(map[string]any)["format"].(string))
				}
				assert.Contains(t, formats, want, "%s of cosign %s", key, c.version)
			}

			wrong := verify(otherPub)
			assert.True(t, wrong.failed())
			assert.Contains(t, wrong.msg(), "verification of "+image+" ("+digest+") with "+otherPub+" failed: no signature verifies")
			either := verify(otherPub, pub)
			assert.False(t, either.failed(), "one of several keys is enough: %s", either.msg())

			// The tag moved to an image nobody signed.
			moved := pushRandomImage(t, image)
			tampered := verify(pub)
			assert.True(t, tampered.failed())
			assert.Contains(t, tampered.msg(), "verification of "+image+" ("+moved+")")
			assert.Contains(t, tampered.msg(), "no signature")
			pinned := run(t, "buildkit_sign", map[string]any{"image": image, "state": "verified", "public_key": []any{pub}, "digest": digest})
			assert.True(t, pinned.failed())
			assert.Contains(t, pinned.msg(), image+" now points to "+moved+", not to the digest "+digest+" given (the tag moved)")

			unsigned := plainRegistry + "/" + randomRepo() + ":1"
			pushRandomImage(t, unsigned)
			missing := run(t, "buildkit_sign", map[string]any{"image": unsigned, "state": "verified", "public_key": []any{pub}})
			assert.True(t, missing.failed())
			assert.Contains(t, missing.msg(), "failed: no signature: "+unsigned+" has no sha256-")
		})
	}
}

// TestSignModuleErrors: bad keys, passwords and options fail naming the
// option, and the password is never in the result.
func TestSignModuleErrors(t *testing.T) {
	requireRegistries(t)
	dir, key, pub, _ := keyFiles(t)
	image := plainRegistry + "/" + randomRepo() + ":1"
	digest := pushRandomImage(t, image)
	wrongPw := filepath.Join(dir, "wrong")
	require.NoError(t, os.WriteFile(wrongPw, []byte("not-the-password"), 0o600))
	for _, tc := range []struct {
		name string
		args map[string]any
		want string
	}{
		{"wrong password file", map[string]any{"key_password_file": wrongPw}, "key: " + key + ": the password from key_password_file " + wrongPw + " does not decrypt it"},
		{"wrong password", map[string]any{"key_password": "not-the-password"}, "the password from key_password (or COSIGN_PASSWORD) does not decrypt it"},
		{"public key given as key", map[string]any{"key": pub, "key_password": keyPassword}, "not a cosign private key"},
		{"no key file", map[string]any{"key": filepath.Join(dir, "nope.key"), "key_password": keyPassword}, "key: open " + filepath.Join(dir, "nope.key")},
		{"bad type", map[string]any{"key_password": keyPassword, "attestations": []any{map[string]any{"type": "sbom", "predicate_data": map[string]any{}}}}, "attestations[0].type: \"sbom\" is neither one of cosign's predicate types"},
		{"predicate not JSON", map[string]any{"key_password": keyPassword, "attestations": []any{map[string]any{"type": "cyclonedx", "predicate": wrongPw}}}, "attestations[0].predicate: " + wrongPw + " is not JSON"},
		{"bad digest", map[string]any{"key_password": keyPassword, "digest": "abc"}, "digest: must be sha256:<64 hex digits>"},
		{"moved tag", map[string]any{"key_password": keyPassword, "digest": "sha256:" + strings.Repeat("0", 64)}, "not to the digest sha256:0000"},
		{"no such image", map[string]any{"key_password": keyPassword, "image": plainRegistry + "/" + randomRepo() + ":1"}, "no such image in the registry"},
		{"not a reference", map[string]any{"key_password": keyPassword, "image": "UPPER/Case:1"}, "image: not an image reference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := map[string]any{"image": image, "key": key}
			for k, v := range tc.args {
				args[k] = v
			}
			res := run(t, "buildkit_sign", args)
			assert.True(t, res.failed())
			assert.Contains(t, res.msg(), tc.want)
			assert.NotContains(t, toJSON(t, res), keyPassword)
		})
	}
	// Options that do not go together, each refused before any registry work.
	for _, tc := range []struct {
		name string
		args map[string]any
		want string
	}{
		{"verified without public_key", map[string]any{"image": image, "state": "verified"}, "public_key"},
		{"signed without key", map[string]any{"image": image}, "key"},
		{"private key to verify", map[string]any{"image": image, "state": "verified", "public_key": []any{pub}, "key": key}, "key: a private key signs (state: signed)"},
		{"public key to sign", map[string]any{"image": image, "key": key, "public_key": []any{pub}}, "public_key: used with state: verified"},
		{"predicate to verify", map[string]any{"image": image, "state": "verified", "public_key": []any{pub},
			"attestations": []any{map[string]any{"type": "vuln", "predicate_data": map[string]any{}}}}, "attestations[0]: predicate and predicate_data are signed with state: signed"},
		{"both predicates", map[string]any{"image": image, "key": key, "attestations": []any{map[string]any{"type": "vuln", "predicate": wrongPw, "predicate_data": map[string]any{}}}}, "predicate"},
		{"unknown sub-option", map[string]any{"image": image, "key": key, "attestations": []any{map[string]any{"type": "vuln", "file": "x"}}}, "file"},
		{"bad referrers", map[string]any{"image": image, "key": key, "referrers": "sometimes"}, "referrers"},
		{"both passwords", map[string]any{"image": image, "key": key, "key_password": keyPassword, "key_password_file": wrongPw}, "mutually exclusive"},
		{"zero timeout", map[string]any{"image": image, "key": key, "timeout": 0}, "timeout: must be a positive number"},
		{"huge image", map[string]any{"image": strings.Repeat("a", 1<<20), "state": "verified", "public_key": []any{pub}}, "image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, "buildkit_sign", tc.args)
			assert.True(t, res.failed())
			assert.Contains(t, res.msg(), tc.want)
		})
	}

	res := run(t, "buildkit_sign", map[string]any{"image": image, "key": key, "key_password": keyPassword, "digest": digest}, map[string]any{"_ansible_no_log": false})
	require.False(t, res.failed(), res.msg())
	assert.NotContains(t, toJSON(t, res), keyPassword, "no_log masks the password in invocation")
}

// TestRoleSignsWhatItPromotes: with jenkins_build_sign_images the role builds
// from a base verified against its policy (by the verified digest), signs the
// candidate that passed the gates with its SBOM and gate verdict, verifies it,
// and promotes it: cosign verifies the deploy tag in the registry. A base
// signed by another key fails the run naming the base and the key; a signing
// key that cannot be opened stops promotion at the signature gate.
func TestRoleSignsWhatItPromotes(t *testing.T) {
	requireRegistries(t)
	standin, namespace, reports, vars := roleSetup(t)
	cosign := cosignBinaries(t)[0]
	dir, key, pub, pwFile := keyFiles(t)
	_, baseKey, basePub, basePw := keyFiles(t)

	// The base, pushed to the registry and signed by its publisher's key.
	base := plainRegistry + "/" + namespace + "/standin-agent:1"
	pushToRegistry(t, standin["agent"], base)
	t.Cleanup(func() { removeImage(base) })
	signed := run(t, "buildkit_sign", map[string]any{"image": base, "key": baseKey, "key_password_file": basePw})
	require.False(t, signed.failed(), signed.msg())

	prefix := plainRegistry + "/" + namespace + "/"
	t.Cleanup(func() {
		for _, tag := range []string{"candidate", "latest", "previous"} {
			removeImage(prefix + "jenkins-agent-python:" + tag)
		}
	})
	vars["images_to_build"] = "python"
	vars["jenkins_images_registry"] = plainRegistry + "/"
	vars["jenkins_images_push"] = true
	vars["jenkins_images_base_images"].(map[string]any)["python"] = base
	vars["jenkins_build_base_image_policy"] = map[string]any{base: map[string]any{"public_keys": []any{basePub}}}
	vars["jenkins_build_sign_images"] = true
	vars["jenkins_build_signing_key"] = key
	vars["jenkins_build_signing_key_password_file"] = pwFile
	vars["jenkins_build_signing_public_key"] = pub

	// Check mode verifies the base (it only reads) and signs nothing.
	out, ok := playbook(t, "playbooks/site.yml", vars, "-i", "inventories/local/hosts.yml", "--tags", "jenkins-images", "--check")
	require.True(t, ok, out)
	assert.False(t, registryManifestExists(t, plainRegistry, namespace+"/jenkins-agent-python", "candidate", false), "check mode pushed nothing")

	out, ok = playbook(t, "playbooks/site.yml", vars, "-i", "inventories/local/hosts.yml", "--tags", "jenkins-images")
	require.True(t, ok, out)
	r := readReport(t, reports)
	assert.Equal(t, []string{"python"}, r.Summary.Promoted)
	assert.Empty(t, r.Summary.Failed)
	signing, _ := r.BuildResults.Agents["python"]["checks"].(map[string]any)["signing"].(map[string]any)
	require.NotNil(t, signing, "the report records the signing gate")
	assert.Equal(t, "passed", signing["status"])
	assert.Contains(t, signing["detail"], "verified with "+pub)
	assert.Equal(t, "passed", signingOutcome(t, reports), "the JUnit report's signing case")
	deployed := prefix + "jenkins-agent-python:latest"
	for _, args := range [][]string{
		{"verify", "--key", pub, "--insecure-ignore-tlog", deployed},
		{"verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", "vuln", deployed},
		{"verify-attestation", "--key", pub, "--insecure-ignore-tlog", "--type", "cyclonedx", deployed},
	} {
		out, err := cosign.run(t, dir, args...)
		assert.NoError(t, err, "cosign %v: %s", args, out)
	}
	// Run again: nothing changed, so nothing is built, signed or pushed.
	out, ok = playbook(t, "playbooks/site.yml", vars, "-i", "inventories/local/hosts.yml", "--tags", "jenkins-images")
	require.True(t, ok, out)
	assert.Regexp(t, `localhost\s*: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0`, out, "the second run is a no-op")

	// A deploy's check (playbooks/verify-images.yml): the deploy tag is signed and passed the gate.
	verifyVars := map[string]any{"jenkins_images_registry": plainRegistry + "/", "jenkins_images_namespace": namespace,
		"jenkins_images_verify_repositories": []any{"jenkins-agent-python"}, "jenkins_build_signing_public_key": pub}
	out, ok = playbook(t, "playbooks/verify-images.yml", verifyVars)
	require.True(t, ok, out)
	_, _, otherPub, _ := keyFiles(t)
	verifyVars["jenkins_build_signing_public_key"] = otherPub
	out, ok = playbook(t, "playbooks/verify-images.yml", verifyVars)
	require.False(t, ok, out)
	assert.Contains(t, out, "verification of "+deployed)
	assert.Contains(t, out, "with "+otherPub+" failed")
	// The build used the base by the digest that was verified.
	built := run(t, "buildkit_image", map[string]any{"name": prefix + "jenkins-agent-python:latest", "source": "local"})
	require.False(t, built.failed(), built.msg())
	assert.Equal(t, signed["digest"], built.label("org.opencontainers.image.base.digest"))

	// A base signed by someone else: the run fails before any build, naming the base and the key.
	vars["jenkins_build_base_image_policy"] = map[string]any{base: map[string]any{"public_keys": []any{otherPub}}}
	vars["jenkins_images_force_rebuild"] = true
	out, ok = playbook(t, "playbooks/site.yml", vars, "-i", "inventories/local/hosts.yml", "--tags", "jenkins-images")
	require.False(t, ok, out)
	assert.Contains(t, out, "verification of "+base)
	assert.Contains(t, out, "with "+otherPub+" failed: no signature verifies")

	// The signing key's password is wrong: the gates pass, but nothing is promoted unsigned.
	vars["jenkins_build_base_image_policy"] = map[string]any{base: map[string]any{"public_keys": []any{basePub}}}
	wrongPw := filepath.Join(t.TempDir(), "wrong")
	require.NoError(t, os.WriteFile(wrongPw, []byte("nope"), 0o600))
	vars["jenkins_build_signing_key_password_file"] = wrongPw
	out, ok = playbook(t, "playbooks/site.yml", vars, "-i", "inventories/local/hosts.yml", "--tags", "jenkins-images")
	require.False(t, ok, out)
	r = readReport(t, reports)
	assert.Empty(t, r.Summary.Promoted)
	require.Len(t, r.Summary.Failed, 1)
	assert.Contains(t, r.Summary.Failed[0], "python: failed at the signing gate - key: "+key+": the password from key_password_file "+wrongPw+" does not decrypt it")
	assert.Contains(t, signingOutcome(t, reports), "failed: key: "+key+": the password from key_password_file")
	assert.NotContains(t, out, keyPassword)
}

// BenchmarkSignOnePromotion measures what signing adds to one promotion: the
// build of the stand-in controller (no cache) pushed to the local registry,
// against buildkit_sign signing it with an SBOM and a gate attestation and
// then verifying signature and attestation (each a whole module process).
//
//	COSIGN=$(.ci/tools/build.sh cosign) COSIGN2=$(.ci/tools/build.sh cosign2) \
//	  go test ./tests/integration -run '^$' -bench SignOnePromotion -benchtime 5x
func BenchmarkSignOnePromotion(b *testing.B) {
	requireRegistries(b)
	dir, key, pub, pwFile := keyFiles(b)
	sbom := filepath.Join(dir, "sbom.cdx.json")
	require.NoError(b, os.WriteFile(sbom, []byte(cycloneDXSBOM), 0o644))
	repo := plainRegistry + "/" + randomRepo()
	b.Cleanup(func() { removeImage(repo + ":1") })
	var build, sign, verify time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		built := run(b, "buildkit_image", map[string]any{"name": repo, "tag": "1", "source": "build", "force_source": true, "push": true,
			"build": map[string]any{"path": "../fixtures/standins", "target": "controller", "nocache": true}})
		build += time.Since(start)
		require.False(b, built.failed(), built.msg())
		start = time.Now()
		s := run(b, "buildkit_sign", map[string]any{"image": repo + ":1", "key": key, "key_password_file": pwFile,
			"attestations": []any{map[string]any{"type": "cyclonedx", "predicate": sbom},
				map[string]any{"type": "vuln", "predicate_data": gatePredicate}}})
		sign += time.Since(start)
		require.False(b, s.failed(), s.msg())
		start = time.Now()
		v := run(b, "buildkit_sign", map[string]any{"image": repo + ":1", "digest": s["digest"], "state": "verified", "public_key": []any{pub},
			"attestations": []any{map[string]any{"type": "vuln", "match": map[string]any{"scanner.result.passed": true}}}})
		verify += time.Since(start)
		require.False(b, v.failed(), v.msg())
	}
	n := float64(b.N)
	b.ReportMetric(build.Seconds()/n, "build+push-s/op")
	b.ReportMetric(sign.Seconds()/n, "sign-s/op")
	b.ReportMetric(verify.Seconds()/n, "verify-s/op")
	b.ReportMetric((sign+verify).Seconds()/build.Seconds(), "ratio")
}

// signingOutcome is the outcome of the python agent's signing case in the run's JUnit report.
func signingOutcome(t *testing.T, reports string) string {
	t.Helper()
	outcomes := junitOutcomes(t, reports)
	for k, v := range outcomes {
		if strings.HasSuffix(k, "/signing") && strings.Contains(k, "python") {
			return v
		}
	}
	t.Fatalf("no signing case for python in the JUnit report: %v", outcomes)
	return ""
}

// TestSignWithRegistryCredentials: a registry with authentication, reached
// with registry_username/registry_password (masked in the result); without
// them the task fails saying the registry refused.
func TestSignWithRegistryCredentials(t *testing.T) {
	requireRegistries(t)
	_, key, pub, pwFile := keyFiles(t)
	image := authRegistry + "/" + randomRepo() + ":1"
	img, err := random.Image(256, 1)
	require.NoError(t, err)
	ref, err := name.ParseReference(image)
	require.NoError(t, err)
	require.NoError(t, remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: registryUser, Password: registryPassword})))

	creds := map[string]any{"registry_username": registryUser, "registry_password": registryPassword}
	signed := run(t, "buildkit_sign", merge(map[string]any{"image": image, "key": key, "key_password_file": pwFile}, creds))
	require.False(t, signed.failed(), signed.msg())
	assert.True(t, signed.changed())
	assert.NotContains(t, toJSON(t, signed), registryPassword)
	verified := run(t, "buildkit_sign", merge(map[string]any{"image": image, "state": "verified", "public_key": []any{pub}}, creds))
	require.False(t, verified.failed(), verified.msg())

	anonymous := run(t, "buildkit_sign", map[string]any{"image": image, "state": "verified", "public_key": []any{pub}})
	assert.True(t, anonymous.failed())
	assert.Contains(t, anonymous.msg(), image+": the registry "+authRegistry+" refused access (401 Unauthorized): log in to it (docker login) or give credentials (registry_username/registry_password")
	wrong := run(t, "buildkit_sign", map[string]any{"image": image, "state": "verified", "public_key": []any{pub},
		"registry_username": registryUser, "registry_password": "not-it"})
	assert.True(t, wrong.failed())
	assert.Contains(t, wrong.msg(), "registry_username/registry_password: "+image+": the registry "+authRegistry+" refused access")
	assert.NotContains(t, toJSON(t, wrong), "not-it")
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
