package buildkitreport

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
)

// TestHTMLEscapesEveryValue writes markup, quotes and script into every string
// of the report that the page shows, then reads the page the way a browser
// does: only the page's own elements and attributes are there, every value
// comes back exactly as written (shown, never interpreted), and the style
// attributes hold only the computed bar sizes.
func TestHTMLEscapesEveryValue(t *testing.T) {
	const evil = `"'><script>alert(1)</script><img src=x onerror=alert(2)><b style="x">&amp; javascript:alert(3)`
	v := func(field string) string { return field + evil }
	r := sample(t, time.Now(), "scan", 410000000)
	r.BuildHost = v("host")
	r.BuildTimestamp = v("timestamp")
	r.BuildConfiguration = map[string]any{"builder": v("cfgbuilder"), "build_method": v("cfgmethod"), "platform": v("cfgplatform")}
	r.Summary.Failed = []string{v("summary")}
	rollback := v("rollback")
	r.BuildResults.Agents[v("name")] = &Entry{Image: v("image"), Built: true, Status: "built", Builder: v("builder"),
		Gate: v("gate"), DeployTag: v("deploytag"), RollbackTag: &rollback, Error: v("error"), Duration: 3,
		Scan: Scan{Status: v("scanstatus"), Counts: map[string]int{"critical": 1}, Findings: []string{v("finding")}, From: v("from")}}
	page, err := RenderHTML(r, History{r})
	require.NoError(t, err)

	doc, err := html.Parse(bytes.NewReader(page))
	require.NoError(t, err)
	elements := map[string]bool{"html": true, "head": true, "meta": true, "title": true, "style": true, "body": true, "header": true,
		"h1": true, "h2": true, "span": true, "div": true, "b": true, "br": true, "main": true, "section": true, "dl": true, "dt": true,
		"dd": true, "i": true, "footer": true}
	attributes := map[string]bool{"lang": true, "charset": true, "name": true, "content": true, "class": true, "id": true,
		"title": true, "style": true, "aria-label": true}
	barSize := regexp.MustCompile(`^(height|width):\d{1,3}%;$`)
	var text, attrs []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.ElementNode:
			assert.True(t, elements[n.Data], "element <%s> is not the page's", n.Data)
			for _, a := range n.Attr {
				assert.True(t, attributes[a.Key], "attribute %s on <%s> is not the page's", a.Key, n.Data)
				if a.Key == "style" {
					assert.Regexp(t, barSize, a.Val, "a style attribute holds more than a bar size")
				}
				attrs = append(attrs, a.Key+"="+a.Val)
			}
			if n.Data == "b" {
				assert.Empty(t, n.Attr, "the report's <b> has no attributes: this one came from a value")
			}
		case html.TextNode:
			if n.Parent.Data != "style" {
				text = append(text, n.Data)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	shown := strings.Join(text, "")
	for _, field := range []string{"host", "timestamp", "cfgbuilder", "cfgmethod", "cfgplatform", "summary", "name", "image",
		"builder", "gate", "deploytag", "rollback", "error", "scanstatus", "finding", "from"} {
		assert.Contains(t, shown, v(field), "%s is not shown as written", field)
	}
	assert.Contains(t, attrs, "id=image-"+v("name"), "the card's id holds the name as written")
	assert.Contains(t, attrs, "title="+v("timestamp")+": failed, 1m01s", "the history bar's title holds the run as written")
}
