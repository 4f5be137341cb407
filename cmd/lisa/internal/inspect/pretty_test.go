package inspect

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestIndentedFitsCountsWhatJSONIndentWrites: the size the page's indented
// view is checked against before it is written is the size json.Indent
// writes, to the byte.
func TestIndentedFitsCountsWhatJSONIndentWrites(t *testing.T) {
	for _, body := range []string{
		`{}`, `[]`, `0`, `"a"`, `{"a":[]}`, `[{},[],{"":0}]`,
		` { "a" : [ 1 , 2 ] , "b\"]}" : "[,{:" , "e": [ ], "f" : { } } `, "\n\t[ ]\r\n",
		`{"productId":"123","price":19.99,"tags":["a","😀"],"n":{"m":{"o":[true,false,null]}}}`,
		strings.Repeat("[", 300) + "0,1" + strings.Repeat("]", 300),
		"[\n\t\"\\\\\", \"\\\"\"\r\n]",
	} {
		var b bytes.Buffer
		if err := json.Indent(&b, []byte(body), "", "  "); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if !indentedFits([]byte(body), 2, b.Len()) || indentedFits([]byte(body), 2, b.Len()-1) {
			t.Errorf("json.Indent wrote %d bytes for %.40q; indentedFits counts another size", b.Len(), body)
		}
	}
}
