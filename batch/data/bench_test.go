package data

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkCSVSource reads a 100,000-row, 5-column CSV file through a Reader
// and reports rows per second.
func BenchmarkCSVSource(b *testing.B) {
	const n = 100_000
	p := filepath.Join(b.TempDir(), "rows.csv")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "email,name,team,city,score")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(w, "user%d@example.org,User %d,team%d,City %d,%d\n", i, i, i%4, i%1000, i%100)
	}
	w.Flush()
	f.Close()
	fi, _ := os.Stat(p)
	b.SetBytes(fi.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := Open(p, Options{})
		if err != nil {
			b.Fatal(err)
		}
		rows := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows++
		}
		r.Close()
		if rows != n {
			b.Fatalf("%d rows", rows)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
