package template

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkRenderBatchRow renders bench/msg.tmpl (the message of the batch
// benchmarks: about 2 KB, addr in From and To, five values) with the values
// of CSV rows as a batch passes them: Options.Values, strings only, each
// row its own, with a Message-ID and boundaries per row.
func BenchmarkRenderBatchRow(b *testing.B) {
	tmpl, err := ParseFile(filepath.Join("..", "bench", "msg.tmpl"))
	if err != nil {
		b.Fatal(err)
	}
	// The rows of BenchmarkCheckPass (batch/spool_test.go).
	rows := make([]map[string]any, 1024)
	ids := make([]string, len(rows))
	for i := range rows {
		rows[i] = map[string]any{"email": fmt.Sprintf("user%d@example.com", i), "name": fmt.Sprintf("User %d", i),
			"team": fmt.Sprintf("team%d", i%7), "id": fmt.Sprintf("INV-%07d", i), "amount": fmt.Sprintf("%d.%02d", i%1000, i%100)}
		ids[i] = "<bench." + strconv.Itoa(i) + ".mailscript@example.com>"
	}
	// One clock reading for every row, in one location: a batch's rows
	// are rendered within a few seconds, on the clock of one time zone.
	now := fixedOptions(nil).Now()
	var buf bytes.Buffer
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		row := i % len(rows)
		i++
		n := 0
		opts := Options{
			Values:    rows[row],
			Now:       func() time.Time { return now },
			MessageID: func() string { return ids[row] },
			Boundary: func() string {
				n++
				return "=_msbench_" + strconv.Itoa(row) + "_" + strconv.Itoa(n)
			},
		}
		buf.Reset()
		m, err := tmpl.Expand(opts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
		m.Close()
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
